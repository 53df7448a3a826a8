"""Input refused up front (issue 15): exit 2 with the file, the line, the field and the valid values, and nothing
written to the store; plus the warnings and state that a valid config still owes the user."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _write(tmp_path: Path, config: str = "", topics: str | None = None) -> None:
    (tmp_path / "config.yaml").write_text("data_dir: data\ntopics_file: topics.yaml\n" + config, encoding="utf-8")
    if topics is not None:
        (tmp_path / "topics.yaml").write_text(topics, encoding="utf-8")


@pytest.mark.parametrize("config,topics,cmd,expect", [
    ("", "- topic: 장보기\n  not_before: 2025-13-45\n", ("topics", "list"),
     r"topics.yaml:2 not_before: '2025-13-45' is not a date .*valid: YYYY-MM-DD"),
    ("", "- topic: 장보기\n  platforms: [tistory, tistroy]\n", ("topics", "list"),
     r'topics.yaml:2 0.platforms: no platform named "tistroy" to publish to; known: naver, tistory, velog'),
    ("publish:\n  tistory: {enabled: true, account: a}\n  default_platforms:\n    - tistory\n    - myspace\n", "",
     ("config", "check"), r'config.yaml:7 publish.default_platforms: no platform named "myspace".*known: naver'),
    ("crawl: {timezone: Mars/Olympus_Mons}\n", None, ("config", "check"),
     r'config.yaml:3 crawl.timezone: unknown timezone "Mars/Olympus_Mons"; valid: .*Asia/Seoul'),
    ("browser:\n  timezone: Mars/Olympus_Mons\n", None, ("config", "check"), r"config.yaml:4 browser.timezone"),
    ("browser:\n  locale: xx-NOPE\n", None, ("config", "check"),
     r'config.yaml:4 browser.locale: "xx-NOPE" is not a locale; valid: .*ko-KR'),
    ("review: auto\nreview: manual\n", None, ("config", "check"),
     r"config.yaml:4 review: the key is given twice \(lines 3 and 4\)"),
    ("", "- topic: 가\n  tags: [a]\n  tags: [b]\n", ("topics", "list"), r"topics.yaml:3 tags: the key is given twice"),
    ("sources:\n  - https://blog.naver.com/foo123\n", None, ("config", "check"),
     r"config.yaml:4 sources.0: .*is an address.*\{platform: naver, blog_id: foo123\}"),
    ("sources:\n  - {platform: velog, username: 'https://velog.io/@kim'}\n", None, ("config", "check"),
     r"\{platform: velog, username: kim\}"),
    ("secrets_file: secrets.env\n", None, ("config", "check"), r"config.yaml:3 secrets_file: .*does not exist"),
])
def test_refused_up_front(tmp_path, cli, config, topics, cmd, expect):
    import re

    _write(tmp_path, config, topics)
    r = cli(*cmd)
    assert r.code == 2, (r.out, r.err)
    assert re.search(expect, r.err.replace("\n", " ")), r.err
    assert "Traceback" not in r.err
    assert not (tmp_path / "data" / "blogbot.db").exists() or cmd[0] == "topics"


def test_draft_job_does_not_queue_a_topic_for_an_unknown_platform(tmp_path, cli, db):
    _write(tmp_path, "", "- topic: 장보기\n  platforms: [myspace]\n")
    r = cli("draft")  # the draft job keeps the last good queue (none here) and says why
    assert 'no platform named "myspace"' in r.err
    assert db["topics"].count == 0 and db["drafts"].count == 0


def test_secrets_file_readable_by_others(tmp_path, cli):
    (tmp_path / "secrets.env").write_text("HOOK=https://x\n", encoding="utf-8")
    os.chmod(tmp_path / "secrets.env", 0o644)
    _write(tmp_path, "secrets_file: secrets.env\n")
    r = cli("config", "check")
    assert r.code == 2 and "readable by others (mode 644)" in r.err and "chmod 600" in r.err


def test_unclosed_front_matter_is_refused(tmp_path, cli):
    _write(tmp_path)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.md").write_text("---\ntitle: 봄\ndate: 2024-03-02\n\n본문입니다.\n", encoding="utf-8")
    r = cli("ingest", "in")
    assert r.code == 2 and "a.md:1: the front matter opened here is never closed" in r.err
    (tmp_path / "in" / "a.md").write_text("---\n\n본문이 가로줄로 시작한다.\n", encoding="utf-8")
    assert cli("ingest", "in").code == 0  # a thematic break at the top is not front matter


def test_config_check_warns_about_the_sandbox(tmp_path, cli):
    _write(tmp_path, "", "- 장보기\n- topic: 산책\n  platforms: [sandbox]\n")
    r = cli("config", "check")
    assert r.code == 0 and "published to sandbox, the local imitation" in r.err
    _write(tmp_path, "publish:\n  tistory: {enabled: true, account: a}\n", "- 장보기\n- topic: 산책\n"
           "  platforms: [sandbox]\n")
    r = cli("config", "check")
    assert "topics without" not in r.err and "1 topic(s) in topics.yaml name sandbox" in r.err


def test_login_state_known_before_the_first_publish(tmp_path, cli):
    _write(tmp_path, "publish:\n  tistory: {enabled: true, account: a}\n  naver: {enabled: true, account: b}\n")
    r = cli("status", "--json")
    assert r.code == 0
    import json

    assert json.loads(r.out)["needs_login"] == ["naver", "tistory"]
    from platforms import load_config
    from platforms.session import save_state

    save_state(load_config(tmp_path / "config.yaml"), "tistory", {"cookies": [], "origins": []})
    assert json.loads(cli("status", "--json").out)["needs_login"] == ["naver"]


def test_status_and_log_agree_on_interrupted_runs(tmp_path, cli, cfg, db):
    db["runs"].insert({"job": "publish", "started_at": "2025-01-01T00:00:00+00:00", "status": "running",
                       "pid": 2**22 + 12345, "counts": "{}", "details": "{}"})
    r = cli("status", "--json")
    import json

    runs = json.loads(r.out)["last_runs"]
    assert "running" not in json.dumps(runs) and "interrupted" in json.dumps(runs)
