"""The scheduler: triggers against fixed datetimes, and an 8-week run on APScheduler with a controllable clock."""

from __future__ import annotations

import gc
import tracemalloc
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import apscheduler.executors.base
import apscheduler.schedulers.base
import pytest
from _scheduler_fakes import Clock, FakeJobs
from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from bot.core import config
from bot.core.store import loads, open_db
from bot.shell.runner import Runner
from bot.shell.scheduler import build, upcoming
from bot.shell.timing import missed, next_fire
from platforms import load_config

KST = ZoneInfo("Asia/Seoul")


def make_cfg(tmp_path: Path, extra: str = "") -> config.Config:
    (tmp_path / "config.yaml").write_text("data_dir: data\ntopics_file: topics.yaml\n" + extra, encoding="utf-8")
    return load_config(tmp_path / "config.yaml")


def test_next_fire_times_for_fixed_datetimes(tmp_path):
    cfg = make_cfg(tmp_path)  # defaults: crawl 30 4 * * *, retune 0 3 * * 1, draft 0 9 * * *, publish 0 10-20/2
    at = datetime(2026, 3, 7, 12, 0, tzinfo=KST)  # a Saturday, noon in Seoul
    assert next_fire(cfg, "crawl", at) == datetime(2026, 3, 8, 4, 30, tzinfo=KST)
    assert next_fire(cfg, "tune", at) == datetime(2026, 3, 9, 3, 0, tzinfo=KST)  # cron's 1 is Monday
    assert next_fire(cfg, "tune", at).weekday() == 0
    assert next_fire(cfg, "draft", at) == datetime(2026, 3, 8, 9, 0, tzinfo=KST)
    assert next_fire(cfg, "publish", at) == datetime(2026, 3, 7, 14, 0, tzinfo=KST)  # strictly after noon
    assert next_fire(cfg, "publish", datetime(2026, 3, 7, 20, 0, 1, tzinfo=KST)) == datetime(2026, 3, 8, 10, tzinfo=KST)
    # the same instant seen from UTC: 04:30 KST is 19:30 UTC the day before
    assert next_fire(cfg, "crawl", at).astimezone(UTC) == datetime(2026, 3, 7, 19, 30, tzinfo=UTC)


def test_cron_weekdays_and_timezones(tmp_path):
    cfg = make_cfg(tmp_path, "schedule:\n  timezone: America/New_York\n  draft: {cron: '0 9 * * 0'}\n"
                             "  retune: {cron: '0 3 * * 7'}\n  publish: {cron: '0 12 * * 1-5'}\n")
    sat = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    ny = ZoneInfo("America/New_York")
    # Sunday 2026-03-08 is the DST switch: 09:00 EDT is 13:00 UTC (it was 14:00 UTC the week before)
    assert next_fire(cfg, "draft", sat) == datetime(2026, 3, 8, 9, 0, tzinfo=ny)
    assert next_fire(cfg, "draft", sat).astimezone(UTC).hour == 13
    assert next_fire(cfg, "draft", datetime(2026, 2, 28, 12, tzinfo=UTC)).astimezone(UTC).hour == 14
    assert next_fire(cfg, "tune", sat).weekday() == 6  # 7 is Sunday too
    assert next_fire(cfg, "publish", sat) == datetime(2026, 3, 9, 12, 0, tzinfo=ny)  # Monday, not Sunday


def test_build_registers_jobs_with_explicit_options(tmp_path):
    cfg = make_cfg(tmp_path, "schedule:\n  misfire_grace_s: 900\n  crawl: {cron: '30 4 * * *', enabled: false}\n")
    sched = build(cfg, Runner(cfg, registry=FakeJobs().registry()), scheduler_cls=BackgroundScheduler)
    sched.start(paused=True)
    try:
        jobs = {j.id: j for j in sched.get_jobs()}
        assert set(jobs) == {"tune", "draft", "publish"}  # crawl is disabled
        for j in jobs.values():
            assert (j.coalesce, j.max_instances, j.misfire_grace_time) == (True, 1, 900)
            assert j.args == (j.id,)
        assert jobs["publish"].executor == "browser" and jobs["draft"].executor == "default"
        assert sched._lookup_executor("browser")._pool._max_workers == 1
        assert str(jobs["tune"].trigger.timezone) == "Asia/Seoul"
        # built again over the same ids: replaced, not duplicated
        cfg2 = make_cfg(tmp_path)
        for job_id in ("crawl", "tune"):
            sched.add_job(print, "interval", hours=1, id=job_id, replace_existing=True)
        assert len(sched.get_jobs()) == 4
        del cfg2
    finally:
        sched.shutdown(wait=False)
    nxt = {j["job"]: j["next_run"] for j in upcoming(cfg, datetime(2026, 3, 7, 12, tzinfo=KST))}
    assert nxt == {"crawl": None, "tune": "2026-03-09T03:00+09:00", "draft": "2026-03-08T09:00+09:00",
                   "publish": "2026-03-07T14:00+09:00"}


# --- simulated time -------------------------------------------------------------------------------------------


class SimScheduler(BaseScheduler):
    """APScheduler's own job processing, stepped by the test: no thread, no timer."""

    def wakeup(self) -> None:
        pass

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)


class CountingRunner(Runner):
    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.fired: list[tuple[str, datetime]] = []

    def fire(self, job_id: str) -> str:
        self.fired.append((job_id, self.clock()))
        return super().fire(job_id)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock(datetime(2026, 3, 2, 0, 0, tzinfo=KST))  # a Monday
    fake = types.SimpleNamespace(now=lambda tz=None: c.now.astimezone(tz) if tz else c.now.replace(tzinfo=None))
    monkeypatch.setattr(apscheduler.schedulers.base, "datetime", fake)
    monkeypatch.setattr(apscheduler.executors.base, "datetime", fake)
    return c


def start(cfg, runner, clock, catch_up=None):
    sched = build(cfg, runner, scheduler_cls=SimScheduler, catch_up=catch_up, at=clock.now,
                  executors={"default": DebugExecutor(), "browser": DebugExecutor()})
    sched.start()
    return sched


def drive(sched, clock: Clock, until: datetime) -> None:
    """Process due jobs, jump the clock to the next wakeup, repeat: weeks of schedule in a moment."""
    while True:
        wait = sched._process_jobs()
        if wait is None or clock.now + timedelta(seconds=wait) > until:
            clock.now = until
            return
        clock.advance(max(wait, 0.001))


def traced() -> int:
    """Bytes held now, leaving out what the test itself keeps on purpose (the list of fires, the fake blog)."""
    snap = tracemalloc.take_snapshot().filter_traces([
        tracemalloc.Filter(False, __file__), tracemalloc.Filter(False, "*_scheduler_fakes.py")])
    return sum(stat.size for stat in snap.statistics("filename"))


SIM_CONFIG = """\
schedule:
  draft: {cron: '0 8,12,16 * * *'}
  isolate: []
publish:
  sandbox: {enabled: true, daily_cap: 2, min_interval_minutes: 120, jitter_minutes: 0}
"""


def write_topics(tmp_path: Path, n: int, late: dict[int, str] | None = None) -> list[str]:
    names = [f"주제 {i:03d}" + (" review" if i == 5 else "") for i in range(1, n + 1)]
    lines = []
    for i, name in enumerate(names, 1):
        if late and i in late:
            lines.append(f"- topic: {name}\n  not_before: {late[i]}\n")
        else:
            lines.append(f"- {name}\n")
    (tmp_path / "topics.yaml").write_text("".join(lines), encoding="utf-8")
    return names


def test_eight_weeks_on_a_controllable_clock(tmp_path, clock):
    cfg = make_cfg(tmp_path, SIM_CONFIG)
    names = write_topics(tmp_path, 200, late={3: "2026-03-20"})
    fakes = FakeJobs(clock)
    fakes.new_posts_until = 28  # new posts in the first four weeks only: later retunes skip
    runner = CountingRunner(cfg, registry=fakes.registry(), clock=clock)
    sched = start(cfg, runner, clock)
    t0 = clock.now
    drive(sched, clock, t0 + timedelta(days=10))
    fakes.fail.add("crawl")  # three days of a failing crawl: the other jobs go on
    drive(sched, clock, t0 + timedelta(days=13))
    fakes.fail.clear()
    drive(sched, clock, t0 + timedelta(days=14))
    tracemalloc.start()  # caches (sqlite statements, zoneinfo, type caches) fill in the first weeks, then stay
    drive(sched, clock, t0 + timedelta(days=35))
    gc.collect()
    week5 = traced()
    drive(sched, clock, t0 + timedelta(days=56))
    gc.collect()
    week8 = traced()
    tracemalloc.stop()
    sched.shutdown(wait=False)

    fired = [j for j, _ in runner.fired]
    assert {j: fired.count(j) for j in set(fired)} == {"crawl": 56, "tune": 8, "draft": 168, "publish": 336}
    for job, at in runner.fired:  # every fire at its cron time, in Seoul
        local = at.astimezone(KST)
        assert (local.second, local.microsecond) == (0, 0)
        if job == "tune":
            assert (local.weekday(), local.hour, local.minute) == (0, 3, 0)
        if job == "publish":
            assert local.hour in (10, 12, 14, 16, 18, 20) and local.minute == 0

    db = open_db(cfg.data_path)
    runs = list(db.query("select job, status, error, details from runs order by id"))
    tunes = [r for r in runs if r["job"] == "tune"]
    assert len(tunes) == 8
    assert all(r["status"] in ("ok", "skipped") for r in tunes)
    skipped = [loads(r["details"])["reason"] for r in tunes if r["status"] == "skipped"]
    assert skipped and all("no new posts" in s for s in skipped)
    assert tunes[0]["status"] == "ok" and tunes[-1]["status"] == "skipped"

    crawl_failed = [r for r in runs if r["job"] == "crawl" and r["status"] == "failed"]
    assert len(crawl_failed) == 3 and all("503" in r["error"] for r in crawl_failed)
    assert fakes.calls["draft"] == 168  # drafting went on while crawling failed

    order = [r["topic"] for r in db.query("select topic, created_at from drafts order by id")]
    assert len(order) == len(set(order)) == 168  # no topic drafted twice
    late = names[2]
    assert [t for t in order if t != late] == [n for n in names if n != late][:167]  # queue order
    late_at = datetime.fromisoformat(db.execute("select created_at from drafts where topic = ?", [late]).fetchone()[0])
    assert datetime(2026, 3, 20, tzinfo=KST) <= late_at < datetime(2026, 3, 20, 9, tzinfo=KST)  # first draft after

    pubs = list(db.query("select draft_id, idempotency_key, updated_at from publications where state = 'published'"))
    assert len({p["draft_id"] for p in pubs}) == len(pubs)  # nothing published twice
    assert len(fakes.posted) == len(set(fakes.posted)) == len(pubs)
    per_day: dict = {}
    for p in pubs:
        day = datetime.fromisoformat(p["updated_at"]).astimezone(KST).date()
        per_day[day] = per_day.get(day, 0) + 1
    assert len(per_day) == 56 and set(per_day.values()) == {2}  # the daily cap, every day
    review = db.execute("select status from drafts where topic = ?", [names[4]]).fetchone()[0]
    assert review == "pending_review"  # never published without a person
    db.close()
    print(f"traced memory: week 5 {week5} B, week 8 {week8} B")
    assert week8 - week5 < 24_000, f"memory grew by {week8 - week5} bytes over the last three weeks"


def test_restart_after_downtime_runs_missed_jobs_once(tmp_path, clock):
    cfg = make_cfg(tmp_path, SIM_CONFIG)
    write_topics(tmp_path, 40)
    fakes = FakeJobs(clock)
    runner = CountingRunner(cfg, registry=fakes.registry(), clock=clock)
    sched = start(cfg, runner, clock)
    drive(sched, clock, clock.now + timedelta(days=3, hours=12))  # Thursday noon
    sched.shutdown(wait=False)
    stopped = len(runner.fired)

    clock.advance(5 * 86400 + 1800)  # down until Tuesday 12:30: a Monday retune and five days of everything missed
    db = open_db(cfg.data_path)
    todo = missed(cfg, db, clock.now)
    db.close()
    assert set(todo) == {"crawl", "tune", "draft", "publish"}
    assert "5 run(s) missed" in todo["crawl"] and "1 run(s) missed" in todo["tune"]
    sched = start(cfg, runner, clock, catch_up=todo)
    restart = clock.now
    drive(sched, clock, restart + timedelta(seconds=1))
    caught = [j for j, at in runner.fired[stopped:] if at == restart]
    assert sorted(caught) == ["crawl", "draft", "publish", "tune"]  # each once, coalesced
    drive(sched, clock, restart + timedelta(days=1))
    after = [j for j, at in runner.fired[stopped:] if at > restart]
    assert sorted(set(after)) == ["crawl", "draft", "publish"] and after.count("crawl") == 1  # then on schedule
    sched.shutdown(wait=False)

    cfg.schedule.catch_up = False  # as configured: no catch-up
    clock.advance(3 * 86400)  # Saturday 12:30
    db = open_db(cfg.data_path)
    assert missed(cfg, db, clock.now)  # they were missed ...
    db.close()
    n = len(runner.fired)
    sched = start(cfg, runner, clock, catch_up={})
    drive(sched, clock, clock.now + timedelta(seconds=1))
    assert len(runner.fired) == n  # ... but nothing runs at start
    sched.shutdown(wait=False)


def test_clock_jumps(tmp_path, clock):
    from loguru import logger

    lines: list[str] = []
    hid = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    cfg = make_cfg(tmp_path, SIM_CONFIG)
    write_topics(tmp_path, 40)
    fakes = FakeJobs(clock)
    runner = CountingRunner(cfg, registry=fakes.registry(), clock=clock)
    sched = start(cfg, runner, clock)
    drive(sched, clock, datetime(2026, 3, 3, 10, 30, tzinfo=KST))
    n = len(runner.fired)
    clock.now = datetime(2026, 3, 3, 9, 30, tzinfo=KST)  # back one hour (NTP correction): nothing runs again
    drive(sched, clock, datetime(2026, 3, 3, 11, 59, tzinfo=KST))
    assert len(runner.fired) == n
    drive(sched, clock, datetime(2026, 3, 4, 0, 0, tzinfo=KST))
    today = [j for j, at in runner.fired[n:]]
    assert today.count("publish") == 5 and today.count("draft") == 2  # 12..20 and 12, 16: no slot twice
    n = len(runner.fired)
    clock.now = datetime(2026, 3, 6, 12, 30, tzinfo=KST)  # forward 2.5 days (a suspended laptop)
    drive(sched, clock, clock.now + timedelta(seconds=1))
    jumped = [j for j, _ in runner.fired[n:]]
    assert len(jumped) == len(set(jumped))  # coalesced: at most one run per job; old misses beyond the grace skip
    assert "publish" in jumped and "draft" in jumped  # 12:00 was 30 min ago, inside the 1 h grace
    assert "crawl" not in jumped  # 04:30 was 8 h ago: skipped, and the run log says so
    logger.remove(hid)
    assert any(x.startswith("crawl: the run due at 2026-03-06T04:30+09:00 was skipped: missed by more than")
               for x in lines), lines
    drive(sched, clock, datetime(2026, 3, 8, 0, 0, tzinfo=KST))
    sched.shutdown(wait=False)
    db = open_db(cfg.data_path)
    pubs = list(db.query("select draft_id, updated_at from publications where state = 'published'"))
    assert len({p["draft_id"] for p in pubs}) == len(pubs) == len(set(fakes.posted))
    per_day: dict = {}
    for p in pubs:
        day = datetime.fromisoformat(p["updated_at"]).astimezone(KST).date()
        per_day[day] = per_day.get(day, 0) + 1
    assert max(per_day.values()) <= 2
    db.close()


def test_the_scheduler_does_not_import_torch(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from bot.core import config; from bot.shell.scheduler import build; "
            "from bot.shell.runner import Runner; import bot.shell.cli; cfg = config.Config(); "
            "build(cfg, Runner(cfg)); print(sorted(m for m in sys.modules if "
            "m.split('.')[0] in ('torch', 'transformers', 'peft', 'playwright')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    assert out.strip() == "[]"
