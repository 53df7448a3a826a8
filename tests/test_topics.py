"""The topic queue: file formats, stable ids, state in SQLite, safe appends, bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core import topics
from bot.core.errors import ConfigError

QUEUE = """# my queue
- 장마철 제습기 고르는 법   # a plain line
- topic: 가을 캠핑 준비물
  tags: [캠핑, 가을]
  platforms: [sandbox]
  not_before: 2030-10-01
  notes: 작년 실수 위주로
- 동네 빵집 지도
"""


def test_entries_states_and_order(tmp_path: Path, db) -> None:
    f = tmp_path / "topics.yaml"
    f.write_text(QUEUE, encoding="utf-8")
    topics.sync(db, f)
    rows = topics.list_topics(db)
    assert [r["topic"] for r in rows] == ["장마철 제습기 고르는 법", "가을 캠핑 준비물", "동네 빵집 지도"]
    assert all(r["state"] == "queued" for r in rows)
    assert rows[1]["tags"] == ["캠핑", "가을"] and rows[1]["not_before"].startswith("2030-10-01T00:00:00+09:00")
    # not_before in the future: skipped; the next in file order is taken
    topics.set_state(db, rows[0]["id"], "drafted")
    assert topics.next_eligible(db)["topic"] == "동네 빵집 지도"
    assert topics.next_eligible(db, datetime(2030, 10, 2, tzinfo=UTC))["topic"] == "가을 캠핑 준비물"


def test_file_is_never_rewritten_and_ids_are_stable(tmp_path: Path, db) -> None:
    f = tmp_path / "topics.yaml"
    f.write_text(QUEUE, encoding="utf-8")
    topics.sync(db, f)
    first = {r["topic"]: r["id"] for r in topics.list_topics(db)}
    topics.set_state(db, first["동네 빵집 지도"], "drafted")
    # the user reorders, removes one and changes spacing/case: ids and states follow the text, not the line
    f.write_text("- 동네  빵집 지도\n- 장마철 제습기 고르는 법\n", encoding="utf-8")
    topics.sync(db, f)
    rows = topics.list_topics(db)
    assert [r["id"] for r in rows] == [first["동네 빵집 지도"], first["장마철 제습기 고르는 법"]]
    assert rows[0]["state"] == "drafted"
    removed = [r for r in topics.list_topics(db, include_removed=True) if not r["in_file"]]
    assert [r["topic"] for r in removed] == ["가을 캠핑 준비물"]
    assert f.read_text(encoding="utf-8") == "- 동네  빵집 지도\n- 장마철 제습기 고르는 법\n"


def test_add_appends_keeping_comments(tmp_path: Path, cli, db) -> None:
    f = tmp_path / "topics.yaml"
    f.write_text(QUEUE, encoding="utf-8")
    r = cli("topics", "add", "새 주제: 콜론도 괜찮다", "--tags", "a,b", "--not-before", "2031-01-01")
    assert r.code == 0, r.err
    text = f.read_text(encoding="utf-8")
    assert text.startswith(QUEUE)  # existing text and comments kept
    entries = topics.read_file(f).entries
    assert entries[-1].topic == "새 주제: 콜론도 괜찮다" and entries[-1].tags == ["a", "b"]
    r = cli("topics", "list")
    assert r.code == 0 and "새 주제" in r.out and "queued" in r.out


def test_add_to_missing_file_creates_it(tmp_path: Path, cli) -> None:
    assert cli("topics", "add", "첫 주제").code == 0
    assert (tmp_path / "topics.yaml").read_text(encoding="utf-8") == "- 첫 주제\n"


def test_repeated_topic_is_reported(tmp_path: Path, cli, db) -> None:
    f = tmp_path / "topics.yaml"
    f.write_text("- 같은 주제\n- 다른 주제\n- 같은  주제\n", encoding="utf-8")
    qf = topics.sync(db, f)
    assert len(qf.entries) == 2
    assert qf.warnings and "topics.yaml:3: repeats the topic at line 1" in qf.warnings[0]
    r = cli("topics", "add", "다른 주제")
    assert r.code == 2 and "already in the queue" in r.err
    assert f.read_text(encoding="utf-8").count("다른 주제") == 1


def test_published_title_is_reported(tmp_path: Path, db) -> None:
    db["posts"].insert({"platform": "files", "source_id": "x", "title": "봄 산책", "body_markdown": "b",
                        "content_hash": "h"})
    f = tmp_path / "topics.yaml"
    f.write_text("- 봄 산책\n", encoding="utf-8")
    qf = topics.sync(db, f)
    assert any("already published" in w for w in qf.warnings)


@pytest.mark.parametrize("text,msg", [
    ("- a\n- topic: [b\n", r"topics.yaml:3: malformed YAML: .*started at line 2"),
    ("topic: a\n", r"topics.yaml:1: expected a list of topics"),
    ("- a\n- topic: b\n  colour: red\n", r"topics.yaml:3 1.colour: unknown key"),
    ("- a\n- 42\n", r"topics.yaml:2 \[1\]: expected a topic string"),
    ("- a\n- topic: b\n  not_before: someday\n", r"topics.yaml:3 1.not_before:"),
    ("- a\n- topic: '" + "x" * 201 + "'\n", r"topics.yaml:2 1.topic: .*too long"),
])
def test_bad_topics_file(tmp_path: Path, db, cli, text: str, msg: str) -> None:
    f = tmp_path / "topics.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=msg):
        topics.sync(db, f)
    assert db["topics"].count == 0
    r = cli("topics", "add", "추가")
    assert r.code == 2 and f.read_text(encoding="utf-8") == text  # a broken file is never appended to


def test_empty_topic_refused(cli, tmp_path: Path) -> None:
    r = cli("topics", "add", "   ")
    assert r.code == 2 and "empty topic" in r.err
    assert not (tmp_path / "topics.yaml").exists()
