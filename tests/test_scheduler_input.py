"""The scheduler on bad input: an invalid cron, a topics file edited while running, a full disk; and `run --once`."""

from __future__ import annotations

import errno
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlite_utils
from _scheduler_fakes import FakeJobs
from loguru import logger

from bot.core import config, drafts
from bot.core.store import open_db
from bot.shell.runner import Runner
from jobs import JOBS as REGISTRY
from platforms import load_config


@pytest.fixture
def logs():
    lines: list[str] = []
    hid = logger.add(lambda m: lines.append(str(m)), level="INFO", format="{level} {message}")
    yield lines
    logger.remove(hid)


def cfg_with(tmp_path: Path, extra: str) -> config.Config:
    (tmp_path / "config.yaml").write_text("data_dir: data\ntopics_file: topics.yaml\n" + extra, encoding="utf-8")
    return load_config(tmp_path / "config.yaml")


def test_invalid_cron_stops_the_cli_before_anything_starts(tmp_path, cli):
    (tmp_path / "config.yaml").write_text(
        "data_dir: data\nschedule:\n  timezone: Asia/Seoul\n  crawl:\n    cron: '0 25 * * *'\n", encoding="utf-8")
    for args in (("run",), ("run", "--once"), ("jobs",)):
        r = cli(*args)
        assert r.code == 2, r
        assert "config.yaml:5 schedule.crawl.cron: invalid cron expression \"0 25 * * *\"" in r.err
    assert not (tmp_path / "data").exists()  # no lock, no store, nothing started
    (tmp_path / "config.yaml").write_text("schedule:\n  timezone: Mars/Olympus\n", encoding="utf-8")
    r = cli("run", "--once")
    assert r.code == 2 and "config.yaml:2 schedule.timezone: unknown timezone" in r.err


def test_topics_file_edited_while_running(tmp_path, cfg, logs):
    topics_file = tmp_path / "topics.yaml"
    topics_file.write_text("- 가 주제\n- 나 주제\n- 다 주제\n", encoding="utf-8")
    runner = Runner(cfg, registry=FakeJobs().registry(), isolate=[])
    assert runner.fire("draft") == "ok"
    topics_file.write_text("- 가 주제\n- topic: [나 주제\n- 다 주제\n", encoding="utf-8")  # a broken edit
    assert runner.fire("draft") == "ok"  # the last good queue is used
    assert any("topics file not re-read, the last good queue (2 queued) is used" in x and "topics.yaml:" in x
               for x in logs)
    topics_file.write_text("- 새 주제\n- 가 주제\n- 나 주제\n- 다 주제\n", encoding="utf-8")  # fixed, one added first
    assert runner.fire("draft") == "ok"
    assert runner.fire("draft") == "ok"
    db = open_db(cfg.data_path)
    assert [r["topic"] for r in db.query("select topic from drafts order by id")] == [
        "가 주제", "나 주제", "새 주제", "다 주제"]  # nothing lost, nothing twice
    assert runner.fire("draft") == "ok"  # the queue is empty: a quiet no-op
    assert db["drafts"].count == 4


def test_full_disk_while_drafting_keeps_state_intact(tmp_path, cfg, monkeypatch, logs):
    (tmp_path / "topics.yaml").write_text("- 가 주제\n- 나 주제\n", encoding="utf-8")
    runner = Runner(cfg, registry=FakeJobs().registry(), isolate=[])

    def full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(drafts, "write_outbox", full)
    assert runner.fire("draft") == "failed"
    db = open_db(cfg.data_path)
    assert db["drafts"].count == 0  # the draft row was rolled back with the file
    err = db.execute("select last_error from schedule_state where job = 'draft'").fetchone()[0]
    assert f"the data dir {cfg.data_path} is full or not writable" in err and "No space left" in err
    assert db.execute("select status, error from runs where job = 'draft'").fetchone()[0] == "failed"
    assert any("full or not writable" in x for x in logs)
    monkeypatch.undo()
    assert runner.fire("draft") == "ok"  # space freed: the same topic, once
    assert [r["topic"] for r in db.query("select topic from drafts")] == ["가 주제"]
    assert db.execute("select state from topics where topic = '가 주제'").fetchone()[0] == "drafted"


def test_database_full_while_publishing(tmp_path, cfg, monkeypatch):
    (tmp_path / "topics.yaml").write_text("- 가 주제\n", encoding="utf-8")
    fakes = FakeJobs()
    runner = Runner(cfg, registry=fakes.registry(), isolate=[])
    assert runner.fire("draft") == "ok"
    real = sqlite_utils.db.Table.insert

    def insert(self, record, *a, **kw):
        if self.name == "publications":
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, record, *a, **kw)

    monkeypatch.setattr(sqlite_utils.db.Table, "insert", insert)
    assert runner.fire("publish") == "failed"
    assert runner.fire("crawl") == "ok"  # the other jobs go on
    monkeypatch.undo()
    db = open_db(cfg.data_path)
    assert db["publications"].count == 0 and fakes.posted == []
    err = db.execute("select last_error from schedule_state where job = 'publish'").fetchone()[0]
    assert "is full or not writable (OperationalError: database or disk is full)" in err
    assert runner.fire("publish") == "ok"
    assert db.execute("select state from publications").fetchall() == [("published",)] and len(fakes.posted) == 1


def test_a_job_that_raises_before_its_run_row_is_still_logged(cfg):
    def broken(cfg, db, **kw):
        raise ImportError("No module named 'jobs.crawl'")

    runner = Runner(cfg, registry={**FakeJobs().registry(), "crawl": broken}, isolate=[])
    assert runner.fire("crawl") == "failed"
    db = open_db(cfg.data_path)
    (r,) = db.query("select job, status, error from runs")
    assert (r["job"], r["status"]) == ("crawl", "failed") and "No module named" in r["error"]


def test_once_runs_each_job_in_order(tmp_path, cfg):
    (tmp_path / "topics.yaml").write_text("- 가 주제\n- 나 주제\n", encoding="utf-8")
    fakes = FakeJobs()
    assert Runner(cfg, registry=fakes.registry(), isolate=[]).once() == {
        "crawl": "ok", "tune": "ok", "draft": "ok", "publish": "ok"}
    db = open_db(cfg.data_path)
    assert [r[0] for r in db.execute("select job from runs order by id")] == ["crawl", "tune", "draft", "publish"]
    assert db.execute("select status from drafts").fetchall() == [("published",)]
    # again: the adapter is fresh, so no retune; a dry run drafts but publishes nothing
    assert Runner(cfg, registry=fakes.registry(), isolate=[], dry_run=True).once()["tune"] == "not due"
    assert db.execute("select status from drafts order by id").fetchall() == [("published",), ("approved",)]
    assert fakes.calls["publish"] == 2 and len(fakes.posted) == 1


def test_cli_run_once(tmp_path, cli, monkeypatch):
    (tmp_path / "config.yaml").write_text("data_dir: data\ntopics_file: topics.yaml\nschedule:\n  isolate: []\n",
                                          encoding="utf-8")
    (tmp_path / "topics.yaml").write_text("- 가 주제\n", encoding="utf-8")
    fakes = FakeJobs()
    for name, fn in fakes.registry().items():
        monkeypatch.setitem(REGISTRY, name, fn)
    r = cli("run", "--once", "--dry-run")
    assert r.code == 0, r
    assert "dry run" in r.out and "publish" in r.out and fakes.posted == []
    fakes.fail.add("crawl")
    r = cli("run", "--once")
    assert r.code == 1 and "failed" in r.out  # a failed job: exit 1, the rest still ran
    assert len(fakes.posted) == 1
    r = cli("jobs")
    assert r.code == 0 and "crawl" in r.out and "not running" in r.out and "failed" in r.out


def test_jobs_lists_next_fire_times(tmp_path, cli):
    r = cli("jobs")
    assert r.code == 0
    for job in ("crawl", "tune", "draft", "publish"):
        assert job in r.out
    assert f"{datetime.now(UTC).year}" in r.out or f"{datetime.now(UTC).year + 1}" in r.out


def test_once_with_the_real_jobs(tmp_path, cfg):
    """The real job modules through the registry: crawl with no source, retune in a child (too few posts: a clear
    error in the run log), nothing to draft or publish (skipped runs with their reason)."""
    results = Runner(cfg).once()
    assert results == {"crawl": "ok", "tune": "failed", "draft": "ok", "publish": "ok"}
    db = open_db(cfg.data_path)
    runs = {r["job"]: r for r in db.query("select job, status, error, details, pid from runs")}
    assert runs["crawl"]["status"] == "skipped"
    assert runs["tune"]["status"] == "failed" and runs["tune"]["error"].startswith("InputError: ")
    assert runs["tune"]["pid"] != __import__("os").getpid()  # trained (or refused) in the child
    assert "no queued topic is due" in runs["draft"]["details"] and runs["draft"]["status"] == "skipped"
    assert "no approved draft" in runs["publish"]["details"]
