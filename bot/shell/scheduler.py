"""The long-running scheduler: APScheduler jobs from `cfg.schedule`, the data-dir lock, graceful stop, child workers."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from loguru import logger

from bot.core.config import Config
from bot.core.errors import BlogbotError, InputError
from bot.shell.runner import Runner
from bot.shell.timing import enabled_jobs, missed, next_fire, trigger
from jobs import SCHEDULED

LOCK_NAME = "scheduler.lock"


class SchedulerBusy(BlogbotError):
    """Another scheduler holds the data dir."""


# --- one scheduler per data dir ----------------------------------------------------------------------------


class SchedulerLock:
    """An fcntl lock on <data_dir>/scheduler.lock holding who has it (pid, host, since). The OS releases it when
    the process ends, however it ends, so a crash never leaves a stale lock."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> SchedulerLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _read_holder(fd)
            os.close(fd)
            who = (f"pid {info.get('pid', '?')} on {info.get('host', '?')} since {info.get('since', '?')}"
                   if info else "another process")
            raise SchedulerBusy(f"another blogbot scheduler is running on this data dir ({who}; lock {self.path}); "
                                "stop it first — only one may run per data dir") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "since": datetime.now(UTC).isoformat(timespec="seconds"), "argv": sys.argv[1:]}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            raise InputError(f"{self.path}: cannot write the lock file: {exc.strerror} (is the disk full?)") from None
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            os.close(self.fd)  # closing drops the flock
            self.fd = None

    def __enter__(self) -> SchedulerLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}


def holder(data_dir: Path) -> dict[str, Any] | None:
    """Who runs the scheduler on this data dir (pid, host, since), or None when nobody does."""
    path = Path(data_dir) / LOCK_NAME
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd) or {"pid": None}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# --- the APScheduler side ----------------------------------------------------------------------------------


def build(cfg: Config, runner: Runner, scheduler_cls: type | None = None, executors: dict | None = None,
          catch_up: dict[str, str] | None = None, at: datetime | None = None):
    """A scheduler with one job per enabled entry of `cfg.schedule`: explicit ids, cron triggers in the configured
    timezone, coalesce, max_instances=1, misfire grace; publishing on its own single-thread executor (the browser).
    Jobs in `catch_up` (missed while down) run once at `at`, then follow their trigger."""
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
    from apscheduler.executors.pool import ThreadPoolExecutor

    if scheduler_cls is None:
        from apscheduler.schedulers.blocking import BlockingScheduler as scheduler_cls
    executors = executors or {"default": ThreadPoolExecutor(1), "browser": ThreadPoolExecutor(1)}
    sched = scheduler_cls(timezone=ZoneInfo(cfg.schedule.timezone), executors=executors)
    sched.add_listener(_skipped, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    for job_id in enabled_jobs(cfg):
        extra = {}
        if catch_up and job_id in catch_up:
            extra["next_run_time"] = at or datetime.now(UTC)
            logger.info("{}: {}; running it once now", job_id, catch_up[job_id])
        sched.add_job(runner.fire, trigger(cfg, job_id), args=[job_id], id=job_id, name=job_id,
                      replace_existing=True, coalesce=True, max_instances=1,
                      misfire_grace_time=cfg.schedule.misfire_grace_s,
                      executor="browser" if job_id == "publish" else "default", **extra)
    return sched


def _skipped(event) -> None:
    """APScheduler skipped a run: say so in the run log (it also logs through `logging`)."""
    from apscheduler.events import EVENT_JOB_MISSED

    when = event.scheduled_run_time if event.code == EVENT_JOB_MISSED else event.scheduled_run_times[-1]
    why = ("missed by more than schedule.misfire_grace_s (the machine slept or the clock jumped)"
           if event.code == EVENT_JOB_MISSED else "the previous run is still going")
    logger.warning("{}: the run due at {} was skipped: {}; it runs at its next time", event.job_id,
                   when.isoformat(timespec="minutes"), why)


def upcoming(cfg: Config, at: datetime | None = None) -> list[dict[str, Any]]:
    """Each job with its cron, whether it is enabled, and its next fire time (in the schedule's timezone)."""
    at = at or datetime.now(UTC)
    tz = ZoneInfo(cfg.schedule.timezone)
    out = []
    for job_id in SCHEDULED:
        js = getattr(cfg.schedule, job_id)
        nxt = next_fire(cfg, job_id, at) if js.enabled else None
        out.append({"job": job_id, "cron": js.cron, "enabled": js.enabled,
                    "next_run": nxt.astimezone(tz).isoformat(timespec="minutes") if nxt else None})
    return out


def serve(cfg: Config, runner: Runner) -> int:
    """Run the scheduler until SIGTERM/SIGINT (the caller holds the lock). Returns the exit status."""
    from bot.core.store import open_db

    db = open_db(cfg.data_path)
    try:
        from bot.core.topics import reconcile_drafting

        reconcile_drafting(db)
        todo = missed(cfg, db, runner.clock()) if cfg.schedule.catch_up else {}
    finally:
        db.close()
    sched = build(cfg, runner, catch_up=todo)
    received: list[str] = []

    def _stop(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if received:
            logger.warning("{} again: still waiting for {}", name, ", ".join(runner._active) or "nothing")
            return
        received.append(name)
        logger.warning("{} received: stopping (a running job gets {:g} s to finish)", name,
                       cfg.schedule.stop_timeout_s)
        runner.request_stop()
        try:
            sched.shutdown(wait=False)
        except Exception:  # not started yet: start() will not be reached
            pass

    old = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for j in upcoming(cfg, runner.clock()):
            if j["enabled"]:
                when = "now" if j["job"] in todo else j["next_run"]
                logger.info("job {} ({}): next at {}", j["job"], j["cron"], when)
        logger.info("scheduler started (pid {}); {} jobs: {}", os.getpid(), len(enabled_jobs(cfg)),
                    ", ".join(enabled_jobs(cfg)))
        sched.start()  # blocks until _stop shuts it down
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    left = runner.wait_idle(cfg.schedule.stop_timeout_s)
    if not left:
        runner.close()
    if left:
        logger.error("stopping with {} still running after {:g} s: abandoned; its transaction is rolled back and it "
                     "is reconciled at the next start", ", ".join(left), cfg.schedule.stop_timeout_s)
        logger.complete()
        os._exit(1)  # a job thread cannot be interrupted; leave without waiting for it
    logger.info("scheduler stopped cleanly")
    return 0


# --- child worker: `python -m bot.shell.scheduler worker JOB [OPTIONS_JSON]` --------------------------------


def worker(job: str, args: list[str]) -> int:
    """Run one job in this (child) process, exactly as the parent would have in-process (the same function, the
    same options, announcements sent from here); SIGTERM ends it as `interrupted` in the run log."""
    from bot.core.runlog import setup_logging
    from bot.core.store import open_db
    from bot.shell.notify import emitter
    from jobs import JOBS, resolve, run_job
    from platforms import load_config

    def _term(_s: int, _f: object) -> None:
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, _term)
    try:
        cfg = load_config()
        options = json.loads(args[0]) if args else {}
        db = open_db(cfg.data_path)
        setup_logging(cfg.data_path)
        fn = resolve(os.environ.get("BLOGBOT_JOB_SPEC") or JOBS[job])
        try:
            run_job(fn, cfg, db, name=job, events=emitter(cfg), **options)
        finally:
            db.close()
    except Exception as exc:  # the parent reads this last line into the run log
        if not isinstance(exc, BlogbotError):
            logger.opt(exception=exc).debug("traceback")
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "worker":
        sys.exit("usage: python -m bot.shell.scheduler worker JOB [OPTIONS_JSON]")
    sys.exit(worker(sys.argv[2], sys.argv[3:]))
