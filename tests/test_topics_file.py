"""Round-trip edits of topics.yaml (bot/core/topics_file.py) and the CLI's `topics edit|move|skip|remove`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core import topics, topics_file
from bot.core.errors import InputError

QUEUE = """\
# 내 글감 목록 (header)
# second header line

# 빵집 이야기
- 망원동 빵집 지도 만들기   # 제일 먼저
# 봄 글
- topic: 봄 산책
  tags: [산책, 봄]   # 태그 설명
  notes: 한강 위주

# 캠핑은 가을에
- topic: 가을 캠핑 준비물
  not_before: 2026-10-01
# the end
"""


@pytest.fixture
def qpath(tmp_path: Path) -> Path:
    p = tmp_path / "topics.yaml"
    p.write_text(QUEUE, encoding="utf-8")
    return p


def order(p: Path) -> list[str]:
    return [e.topic for e in topics.read_file(p).entries]


def test_move_keeps_every_comment_with_its_topic(qpath):
    topics_file.move(qpath, "3", 1)
    text = qpath.read_text(encoding="utf-8")
    assert order(qpath) == ["가을 캠핑 준비물", "망원동 빵집 지도 만들기", "봄 산책"]
    for c in ("# 내 글감 목록 (header)", "# 제일 먼저", "# 태그 설명", "# the end", "# 빵집 이야기", "# 봄 글"):
        assert text.count(c) == 1, c
    # the comment above a topic moved with it
    assert text.index("# 캠핑은 가을에") < text.index("- topic: 가을 캠핑 준비물") < text.index("# 빵집 이야기")
    assert text.index("# 봄 글") < text.index("- topic: 봄 산책")
    assert text.startswith("# 내 글감 목록 (header)\n# second header line\n")
    assert text.rstrip().endswith("# the end")
    topics_file.move(qpath, "가을 캠핑 준비물", 99)  # back to the end, by text; the file reads as it began
    assert order(qpath) == ["망원동 빵집 지도 만들기", "봄 산책", "가을 캠핑 준비물"]
    assert qpath.read_text(encoding="utf-8") == QUEUE


def test_edit_remove_add(qpath):
    tid = topics.topic_id("봄 산책")
    topics_file.edit(qpath, tid, {"tags": ["봄"], "notes": None, "not_before": "2026-04-01"})
    e = topics.read_file(qpath).entries[1]
    assert (e.tags, e.notes, e.not_before.date().isoformat()) == (["봄"], None, "2026-04-01")
    text = qpath.read_text(encoding="utf-8")
    assert "not_before: 2026-04-01" in text and "# 봄 글" in text  # a plain YAML date, comments kept
    topics_file.edit(qpath, "1", {"notes": "지도 링크 포함"})  # a plain entry becomes a mapping
    assert topics.read_file(qpath).entries[0].notes == "지도 링크 포함"
    assert "# 제일 먼저" in qpath.read_text(encoding="utf-8")
    assert topics_file.remove(qpath, "2") == "봄 산책"
    text = qpath.read_text(encoding="utf-8")
    assert "봄 산책" not in text and "# 봄 글" not in text and "# 캠핑은 가을에" in text
    topics_file.add(qpath, "장마철 제습기 고르는 법", tags=["가전"], position=1)
    assert order(qpath)[0] == "장마철 제습기 고르는 법"
    assert "# 내 글감 목록 (header)" in qpath.read_text(encoding="utf-8")


def test_refusals_change_nothing(qpath):
    with pytest.raises(InputError, match="already in the queue"):
        topics_file.add(qpath, "봄  산책")
    with pytest.raises(InputError, match="already in the queue"):
        topics_file.edit(qpath, "1", {"topic": "봄 산책"})
    with pytest.raises(InputError, match="no topic at position 9"):
        topics_file.move(qpath, "9", 1)
    with pytest.raises(InputError, match="not_before"):
        topics_file.edit(qpath, "1", {"not_before": "next week"})
    with pytest.raises(InputError, match="empty"):
        topics_file.edit(qpath, "1", {"topic": ""})
    assert qpath.read_text(encoding="utf-8") == QUEUE


def test_new_and_comment_only_files(tmp_path):
    p = tmp_path / "t.yaml"
    topics_file.add(p, "첫 글")
    topics_file.add(p, "둘째 글", notes="짧게")
    topics_file.move(p, "2", 1)
    assert order(p) == ["둘째 글", "첫 글"]
    q = tmp_path / "c.yaml"
    q.write_text("# 설명\n#   - topic: 예시\n", encoding="utf-8")
    topics_file.add(q, "글감")
    assert q.read_text(encoding="utf-8") == "# 설명\n#   - topic: 예시\n- 글감\n"


def test_cli_verbs(tmp_path, cli, monkeypatch):
    (tmp_path / "topics.yaml").write_text(QUEUE, encoding="utf-8")
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "ko_KR.UTF-8")
    r = cli("topics", "move", "3", "1")
    assert r.code == 0, r.err
    assert "순서를 바꿈: 가을 캠핑 준비물" in r.out  # the review desk's catalog, in Korean
    assert order(tmp_path / "topics.yaml")[0] == "가을 캠핑 준비물"
    r = cli("topics", "skip", "봄 산책")
    assert r.code == 0, r.err
    r = cli("topics", "list")
    assert "skipped" in r.out and "봄 산책" in r.out
    assert cli("topics", "skip", "봄 산책").code != 0  # already skipped
    assert cli("topics", "skip", "봄 산책", "--undo").code == 0
    assert cli("topics", "edit", "1", "--tags", "캠핑,가을").code == 0
    assert topics.read_file(tmp_path / "topics.yaml").entries[0].tags == ["캠핑", "가을"]
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    r = cli("topics", "remove", "2")
    assert r.code == 0 and "Removed: 망원동 빵집 지도 만들기" in r.out
    assert "# 캠핑은 가을에" in (tmp_path / "topics.yaml").read_text(encoding="utf-8")
    r = cli("topics", "edit", "1")
    assert r.code != 0 and "nothing to change" in r.err


def test_unknown_platform_refused_before_the_file_changes(qpath, cli, tmp_path):
    with pytest.raises(InputError, match="nowhere"):
        topics_file.edit(qpath, "1", {"platforms": ["nowhere"]}, known_platforms=["naver", "tistory"])
    assert qpath.read_text(encoding="utf-8") == QUEUE
    (tmp_path / "topics.yaml").write_text(QUEUE, encoding="utf-8")
    r = cli("topics", "edit", "1", "--platforms", "nowhere")
    assert r.code == 2 and "nowhere" in r.err
    assert (tmp_path / "topics.yaml").read_text(encoding="utf-8") == QUEUE


def test_concurrent_edits_lose_nothing(qpath):
    """The desk serves requests in threads: simultaneous adds and moves all land, comments intact."""
    import threading

    ts = [threading.Thread(target=topics_file.add, args=(qpath, f"동시 글감 {i}")) for i in range(12)]
    ts += [threading.Thread(target=topics_file.move, args=(qpath, "봄 산책", 1 + i % 3)) for i in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    got = order(qpath)
    assert sorted(g for g in got if g.startswith("동시")) == sorted(f"동시 글감 {i}" for i in range(12))
    assert len(got) == 15 and "# 봄 글" in qpath.read_text(encoding="utf-8")
