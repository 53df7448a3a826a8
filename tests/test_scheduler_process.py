"""The scheduler as a process: the data-dir lock, SIGTERM during a draft and a publish, a training child that dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from _scheduler_fakes import FakeJobs

from bot.core import config, topics
from bot.core.store import open_db
from bot.shell.runner import Runner
from bot.shell.scheduler import SchedulerBusy, SchedulerLock, holder
from platforms import load_config

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent

SERVE = """
import sys
from _scheduler_fakes import FakeJobs
from platforms import load_config
from bot.core.runlog import setup_logging
from bot.shell.runner import Runner
from bot.shell.scheduler import SchedulerLock, serve
cfg = load_config(sys.argv[1])
setup_logging(cfg.data_path)
with SchedulerLock(cfg.data_path):
    sys.exit(serve(cfg, Runner(cfg, registry=FakeJobs().registry(), isolate=[])))
"""

OFF = "{cron: '30 4 * * *', enabled: false}"


def write_cfg(tmp_path: Path, stop_timeout: float = 30) -> config.Config:
    (tmp_path / "config.yaml").write_text(
        f"data_dir: data\ntopics_file: topics.yaml\nschedule:\n  stop_timeout_s: {stop_timeout}\n"
        f"  crawl: {OFF}\n  retune: {OFF}\n  draft: {{cron: '0 9 * * *'}}\n  publish: {{cron: '0 10 * * *'}}\n",
        encoding="utf-8")
    (tmp_path / "topics.yaml").write_text("- 첫째 주제\n- 둘째 주제\n- 셋째 주제\n", encoding="utf-8")
    return load_config(tmp_path / "config.yaml")


def mark_missed(cfg: config.Config, job: str) -> None:
    """Make `job` look missed (it last fired two days ago), so the scheduler runs it right at start."""
    db = open_db(cfg.data_path)
    then = (datetime.now(UTC) - timedelta(days=2)).isoformat(timespec="seconds")
    db["schedule_state"].upsert({"job": job, "last_fire": then, "last_status": "ok"}, pk="job")
    db.close()


def wait_for(path: Path, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the scheduler exited ({proc.returncode}) before {path.name}:\n"
                                 + proc.stderr.read().decode(errors="replace")[-3000:])
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


def spawn(tmp_path: Path, hold: str) -> subprocess.Popen:
    script = tmp_path / "serve.py"
    script.write_text(SERVE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{ROOT}", "FAKE_HOLD": hold,
           "FAKE_HOLD_DIR": str(tmp_path)}
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / "config.yaml")], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_second_scheduler_is_refused_naming_the_holder(tmp_path, cfg, cli):
    with SchedulerLock(cfg.data_path):
        with pytest.raises(SchedulerBusy, match=rf"pid {os.getpid()} on .+ since 20\d\d-"):
            SchedulerLock(cfg.data_path).acquire()
        h = holder(cfg.data_path)
        assert h["pid"] == os.getpid()
        r = cli("run", "--once")
        assert r.code == 1 and "another blogbot scheduler is running" in r.err and f"pid {os.getpid()}" in r.err
    assert holder(cfg.data_path) is None  # released
    SchedulerLock(cfg.data_path).acquire().release()


def test_lock_held_by_another_process(tmp_path, cfg):
    code = ("import sys; from pathlib import Path; from bot.shell.scheduler import SchedulerLock; "
            "l = SchedulerLock(Path(sys.argv[1])).acquire(); print('locked', flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code, str(cfg.data_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout.readline().strip() == b"locked"
        with pytest.raises(SchedulerBusy, match=f"pid {proc.pid} on "):
            SchedulerLock(cfg.data_path).acquire()
    finally:
        proc.kill()  # however it ends, the OS drops the lock: no stale lock
        proc.wait()
    SchedulerLock(cfg.data_path).acquire().release()


def test_sigterm_during_a_draft_waits_for_it(tmp_path):
    cfg = write_cfg(tmp_path)
    mark_missed(cfg, "draft")
    proc = spawn(tmp_path, hold="draft")
    wait_for(tmp_path / "draft.started", proc)
    proc.send_signal(signal.SIGTERM)
    (tmp_path / "draft.go").write_text("")  # the draft finishes after the signal
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"SIGTERM received" in err and b"scheduler stopped cleanly" in err
    db = open_db(cfg.data_path)
    assert [r["topic"] for r in db.query("select topic from drafts")] == ["첫째 주제"]
    assert db.execute("select status from runs where job = 'draft'").fetchall() == [("ok",)]
    # restart: the next topic, never the same one again
    Runner(cfg, registry=FakeJobs().registry(), isolate=[]).fire("draft")
    assert [r["topic"] for r in db.query("select topic from drafts order by id")] == ["첫째 주제", "둘째 주제"]


def test_sigterm_abandons_a_stuck_draft_and_restart_reconciles(tmp_path):
    cfg = write_cfg(tmp_path, stop_timeout=0.5)
    mark_missed(cfg, "draft")
    proc = spawn(tmp_path, hold="draft")
    wait_for(tmp_path / "draft.started", proc)
    proc.send_signal(signal.SIGTERM)  # and the draft never finishes
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and b"abandoned" in err
    db = open_db(cfg.data_path)
    assert db["drafts"].count == 0
    assert db.execute("select state from topics where topic = '첫째 주제'").fetchone()[0] == "drafting"
    Runner(cfg, registry=FakeJobs().registry(), isolate=[]).fire("draft")  # the next start
    assert [r["topic"] for r in db.query("select topic from drafts")] == ["첫째 주제"]  # not lost, not twice
    assert db.execute("select state from topics where topic = '첫째 주제'").fetchone()[0] == "drafted"
    assert [r[0] for r in db.execute("select status from runs where job = 'draft' order by id")] == [
        "interrupted", "ok"]


def _approved_draft(cfg: config.Config) -> None:
    db = open_db(cfg.data_path)
    topics.sync(db, cfg.topics_path)
    FakeJobs().draft(cfg, db, topic="첫째 주제")
    db.close()


@pytest.mark.parametrize("stop_timeout", [30, 0.5], ids=["finishes", "abandoned"])
def test_sigterm_during_a_publish_never_posts_twice(tmp_path, stop_timeout):
    cfg = write_cfg(tmp_path, stop_timeout=stop_timeout)
    _approved_draft(cfg)
    mark_missed(cfg, "publish")
    proc = spawn(tmp_path, hold="publish")
    wait_for(tmp_path / "publish.started", proc)  # posted on the blog, not yet recorded
    proc.send_signal(signal.SIGTERM)
    if stop_timeout > 1:
        (tmp_path / "publish.go").write_text("")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == (0 if stop_timeout > 1 else 1), err.decode()[-2000:]
    db = open_db(cfg.data_path)
    state = db.execute("select state from publications").fetchone()[0]
    assert state == ("published" if stop_timeout > 1 else "publishing")
    Runner(cfg, registry=FakeJobs().registry(), isolate=[]).fire("publish")  # restart
    assert (tmp_path / "data" / "remote_blog.txt").read_text().split() == [
        db.execute("select idempotency_key from publications").fetchone()[0]]  # on the blog exactly once
    assert db.execute("select state from publications").fetchall() == [("published",)]
    assert db.execute("select status from drafts").fetchone()[0] == "published"


CHILD = """
import os, signal
from bot.core.runlog import job_run
from bot.core.store import now

def tune(cfg, db, force=False, **kw):
    with job_run(db, "tune") as run:
        if os.environ.get("CHILD_MODE") == "oom":
            os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's OOM killer does
        if os.environ.get("CHILD_MODE") == "crash":
            raise RuntimeError("CUDA error: out of memory")
        db["adapters"].insert({"version": "v1", "created_at": now(), "status": "active", "pid": os.getpid()},
                              alter=True)
"""


@pytest.mark.parametrize("mode", ["ok", "oom", "crash"])
def test_retune_runs_in_a_child_process(tmp_path, cfg, monkeypatch, mode):
    (tmp_path / "childjobs.py").write_text(CHILD, encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{ROOT}")
    monkeypatch.setenv("CHILD_MODE", mode)
    fakes = FakeJobs()
    runner = Runner(cfg, registry={**fakes.registry(), "tune": "childjobs:tune"})  # isolate: ["tune"] by default
    assert runner.fire("tune") == ("ok" if mode == "ok" else "failed")
    db = open_db(cfg.data_path)
    (run,) = db.query("select status, error, pid from runs where job = 'tune'")
    assert run["pid"] != os.getpid()  # it ran in the child
    if mode == "ok":
        assert run["status"] == "ok"
        assert db.execute("select pid from adapters").fetchone()[0] == run["pid"]
    elif mode == "oom":
        assert run["status"] == "failed" and "killed by SIGKILL (out of memory?)" in run["error"]
    else:
        assert run["status"] == "failed" and "CUDA error: out of memory" in run["error"]
    assert runner.fire("crawl") == "ok"  # the scheduler lives on
    state = db.execute("select last_status, last_error from schedule_state where job = 'tune'").fetchone()
    assert state[0] == ("ok" if mode == "ok" else "failed")


def test_child_that_cannot_start_reports_why(cfg):
    runner = Runner(cfg, registry={**FakeJobs().registry(), "tune": "no_such_module:tune"})
    assert runner.fire("tune") == "failed"
    db = open_db(cfg.data_path)
    (run,) = db.query("select status, error from runs where job = 'tune'")
    assert run["status"] == "failed"
    assert "exited with status 1: ModuleNotFoundError: No module named 'no_such_module'" in run["error"]
    assert f"output in {cfg.data_path / 'logs' / 'worker-tune.log'}" in run["error"]


def test_draft_in_a_child_uses_the_last_good_topics_file(tmp_path, cfg, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", f"{TESTS}{os.pathsep}{ROOT}")
    topics_file = tmp_path / "topics.yaml"
    topics_file.write_text("- 가 주제\n- 나 주제\n", encoding="utf-8")
    runner = Runner(cfg, registry={**FakeJobs().registry(), "draft": "_scheduler_fakes:draft"}, isolate=["draft"])
    assert runner.fire("draft") == "ok"
    topics_file.write_text("- 가 주제\n- 나 주제: [\n", encoding="utf-8")  # broken while running
    assert runner.fire("draft") == "ok"  # the child re-reads the last good copy, not the broken file
    db = open_db(cfg.data_path)
    rows = list(db.query("select topic, status from drafts order by id"))
    assert [r["topic"] for r in rows] == ["가 주제", "나 주제"]
    assert {r[0] for r in db.execute("select pid from runs where job = 'draft'")} - {os.getpid()}  # in children
