"""The watchdog in `blogbot status`: last publish per platform, review queue, logins, next runs, warnings, --check."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

from bot.shell.report import watchdog
from bot.shell.scheduler import SchedulerLock


def ago(**kw) -> str:
    return (datetime.now(UTC) - timedelta(**kw)).isoformat(timespec="seconds")


def add_run(db, job: str, status: str, started: str, error: str | None = None) -> None:
    db["runs"].insert({"job": job, "started_at": started, "finished_at": started, "status": status,
                       "error": error, "counts": "{}", "details": "{}", "pid": 1})


def add_pub(db, platform: str, state: str, at: str, key: str, url: str | None = None) -> None:
    db["publications"].insert({"draft_id": 1, "platform": platform, "idempotency_key": key, "state": state,
                               "url": url, "created_at": at, "updated_at": at, "attempts": 1})


def test_healthy_fresh_install(cfg, db, cli):
    w = watchdog(cfg, db)
    assert w["warnings"] == [] and w["last_publish_by_platform"] == {} and w["scheduler"] is None
    assert set(w["next_runs"]) == {"crawl", "tune", "draft", "publish"}
    r = cli("status", "--check")
    assert r.code == 0 and r.out.strip() == "ok"


def test_silence_warns_and_check_fails(cfg, db, cli):
    add_run(db, "crawl", "ok", ago(days=10))
    w = watchdog(cfg, db)
    assert len(w["warnings"]) == 1 and "nothing published ever" in w["warnings"][0] and "7 days" in w["warnings"][0]
    add_pub(db, "tistory", "published", ago(days=8), "k1", "https://t.example/1")
    add_pub(db, "velog", "published", ago(days=9), "k2", "https://v.example/2")
    w = watchdog(cfg, db)
    assert w["last_publish_by_platform"]["tistory"]["url"] == "https://t.example/1"
    assert list(w["last_publish_by_platform"]) == ["tistory", "velog"]
    assert "nothing published since" in w["warnings"][0]
    r = cli("status", "--check")
    assert r.code == 1 and "unhealthy: nothing published since" in r.err
    add_pub(db, "tistory", "published", ago(days=1), "k3", "https://t.example/3")
    assert watchdog(cfg, db)["warnings"] == []
    assert watchdog(cfg, db, at=datetime.now(UTC) + timedelta(days=7))["warnings"]  # a week later: silent again
    cfg.watchdog.max_silence_days = 30
    assert watchdog(cfg, db, at=datetime.now(UTC) + timedelta(days=7))["warnings"] == []


def test_login_failures_and_review(cfg, db, cli):
    from bot.core import drafts

    add_pub(db, "naver", "needs_login", ago(hours=2), "k1")
    for _ in range(3):
        add_run(db, "crawl", "failed", ago(hours=1), "TransientError: 503")
    add_run(db, "publish", "failed", ago(hours=1), "x")
    add_run(db, "publish", "ok", ago(minutes=1))
    gen = drafts.Generation("제목", "본문", [], None, "fake", {}, 1.0, 1)
    did = drafts.create(db, cfg, None, gen)
    w = watchdog(cfg, db)
    assert w["needs_login"] == ["naver"]
    assert [d["id"] for d in w["review_waiting"]] == [did]
    assert w["warnings"] == ["naver needs a login: run `blogbot login naver`",
                             "job crawl failed its last 3 runs: TransientError: 503"]
    r = cli("status", "--check")
    assert r.code == 1 and "blogbot login naver" in r.err and "crawl failed its last 3 runs" in r.err
    r = cli("status")
    assert r.code == 0 and "waiting for review" in r.out and f"#{did}" in r.out and "naver" in r.out
    assert "warning:" in r.err
    info = json.loads(cli("status", "--json").out)
    assert info["needs_login"] == ["naver"] and info["warnings"] == w["warnings"]
    add_run(db, "crawl", "ok", ago(minutes=1))
    assert len(watchdog(cfg, db)["warnings"]) == 1


def test_status_shows_the_running_scheduler_and_next_runs(cfg, db, cli):
    with SchedulerLock(cfg.data_path):
        w = watchdog(cfg, db)
        assert w["scheduler"]["pid"] == os.getpid()
        r = cli("status")
        assert f"running (pid {os.getpid()}" in r.out
    r = cli("status")
    assert "not running" in r.out and "publish:" in r.out and "+09:00" in r.out
    cfg.schedule.crawl.enabled = False
    assert watchdog(cfg, db)["next_runs"]["crawl"] is None
