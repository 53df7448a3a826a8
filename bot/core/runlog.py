"""The run log: loguru set up once (console + rotating JSON lines), and a `runs` row around every job run."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils
from loguru import logger

from bot.core.clock import now
from bot.core.store import dumps, loads

LOG_DIR = "logs"
LOG_FILE = "blogbot.jsonl"
_configured: dict[str, Any] = {}


def setup_logging(data_dir: Path | None, level: str = "INFO", console: bool = True) -> None:
    """Configure loguru once per process (again only when the data dir changes)."""
    key = (str(data_dir), level, console)
    if _configured.get("key") == key:
        return
    logger.remove()
    if console:
        logger.add(
            _stderr, level=level, colorize=sys.stderr.isatty(),
            format="<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> {extra[job]}{message}",
        )
    if data_dir is not None:
        log_dir = data_dir / LOG_DIR
        log_dir.mkdir(parents=True, exist_ok=True)
        logger.add(log_dir / LOG_FILE, level="DEBUG", serialize=True, rotation="10 MB", retention=10,
                   encoding="utf-8", enqueue=False)
    logger.configure(extra={"job": ""})
    _configured["key"] = key


def _stderr(message: str) -> None:
    """Write to whatever sys.stderr is now (tests and embedding apps replace it)."""
    sys.stderr.write(message)


@dataclass
class Run:
    """A job run in progress: counts and details are saved in its `runs` row when it ends."""

    id: int
    job: str
    counts: Counter = field(default_factory=Counter)
    details: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"  # a job may set "skipped" or "partial"

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] += n


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reconcile_interrupted(db: sqlite_utils.Database) -> int:
    """Mark runs left `running` by a process that no longer exists as `interrupted`."""
    n = 0
    for r in list(db.query("select id, pid from runs where status = 'running'")):
        if not pid_alive(r["pid"]) or (r["pid"] == os.getpid() and not _active_here(r["id"])):
            db["runs"].update(r["id"], {"status": "interrupted", "finished_at": now(),
                                        "error": "the process ended before the run finished"})
            n += 1
    return n


_ACTIVE: set[int] = set()


def _active_here(run_id: int) -> bool:
    return run_id in _ACTIVE


@contextmanager
def job_run(db: sqlite_utils.Database, job: str, **details: Any) -> Iterator[Run]:
    """Record a job run: a `runs` row from start to end, log lines tagged with job and run_id.

    The exception of a failed run is recorded and re-raised; the caller decides what it means."""
    reconcile_interrupted(db)
    run_id = db["runs"].insert(
        {"job": job, "started_at": now(), "status": "running", "details": dumps(details), "pid": os.getpid(),
         "counts": "{}"}
    ).last_pk
    run = Run(id=run_id, job=job, details=dict(details))
    _ACTIVE.add(run_id)
    with logger.contextualize(job=f"[{job}#{run_id}] ", run_id=run_id, job_name=job):
        logger.info("{} started", job)
        try:
            yield run
        except BaseException as exc:
            status = "interrupted" if isinstance(exc, KeyboardInterrupt | SystemExit) else "failed"
            err = f"{type(exc).__name__}: {exc}"
            logger.error("{} {}: {}", job, status, err)
            logger.debug("traceback: {}", "".join(traceback.format_exception(exc)))
            db["runs"].update(run_id, {"finished_at": now(), "status": status, "error": err,
                                       "counts": dumps(dict(run.counts)), "details": dumps(run.details)})
            raise
        else:
            db["runs"].update(run_id, {"finished_at": now(), "status": run.status,
                                       "counts": dumps(dict(run.counts)), "details": dumps(run.details)})
            summary = ", ".join(f"{k}={v}" for k, v in sorted(run.counts.items())) or "nothing to do"
            logger.info("{} {}: {}", job, run.status, summary)
        finally:
            _ACTIVE.discard(run_id)


def skipped(db: sqlite_utils.Database, job: str, reason: str, **details: Any) -> None:
    """A run with nothing to do, in the run log as `skipped` with its reason."""
    with job_run(db, job, **details) as run:
        run.status = "skipped"
        run.details["reason"] = reason
        logger.info("{}: {}", job, reason)


def record_failure(db: sqlite_utils.Database, job: str, after_id: int, err: str) -> None:
    """A job that failed outside its own run row (it raised before writing one, or its child process died): its
    rows after `after_id` still `running` become `failed`; with none, a failed row is added."""
    rows = list(db.query("select id, status from runs where job = ? and id > ? order by id", (job, after_id)))
    for r in rows:
        if r["status"] == "running":  # left by a child process that died
            db["runs"].update(r["id"], {"status": "failed", "finished_at": now(), "error": err})
    if not rows:
        db["runs"].insert({"job": job, "started_at": now(), "finished_at": now(), "status": "failed",
                           "error": err, "counts": "{}", "details": '{"scheduled": true}', "pid": os.getpid()})


def last_started(db: sqlite_utils.Database, job: str) -> str | None:
    r = next(db.query("select max(started_at) t from runs where job = ?", [job]), None)
    return r["t"] if r else None


def is_running(db: sqlite_utils.Database, job: str) -> bool:
    """Does a live process run `job` right now (after runs left by dead processes are marked interrupted)?"""
    reconcile_interrupted(db)
    return bool(db["runs"].count_where("job = ? and status = 'running'", [job]))


def run_log_lines(data_dir: Path, run_id: int) -> list[dict[str, Any]]:
    """The JSON log records of one run, oldest first, from the current and rotated log files."""
    log_dir = data_dir / LOG_DIR
    files = sorted(log_dir.glob("blogbot*.jsonl*"), key=lambda p: p.stat().st_mtime) if log_dir.exists() else []
    out = []
    for f in files:
        with f.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if f'"run_id": {run_id},' not in line and f'"run_id": {run_id}}}' not in line:
                    continue
                try:
                    rec = json.loads(line)["record"]
                except (ValueError, KeyError):
                    continue
                if rec.get("extra", {}).get("run_id") == run_id:
                    out.append({"time": rec["time"]["repr"], "level": rec["level"]["name"], "message": rec["message"]})
    return out


def last_of_each(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """The latest run of each job (counts decoded)."""
    rows = list(db.query(
        "select r.job, r.id, r.status, r.started_at, r.finished_at, r.counts, r.error from runs r "
        "join (select job, max(id) id from runs group by job) m on m.id = r.id order by r.job"))
    for r in rows:
        r["counts"] = loads(r["counts"], {})
    return rows


def first_started(db: sqlite_utils.Database) -> str | None:
    r = next(db.query("select min(started_at) t from runs"), None)
    return r["t"] if r else None


def jobs(db: sqlite_utils.Database) -> list[str]:
    return [r["job"] for r in db.query("select distinct job from runs")]


def recent_ended(db: sqlite_utils.Database, job: str, n: int) -> list[dict[str, Any]]:
    """The last `n` runs of `job` that ended (status and error), newest first."""
    return list(db.query("select status, error from runs where job = ? and status != 'running' "
                         "order by id desc limit ?", (job, n)))


def max_id(db: sqlite_utils.Database) -> int:
    return next(db.query("select coalesce(max(id), 0) n from runs"))["n"]


def get(db: sqlite_utils.Database, run_id: int) -> dict[str, Any] | None:
    """One run with counts and details decoded, or None."""
    r = next(db.query("select * from runs where id = ?", [run_id]), None)
    if r is not None:
        r["counts"], r["details"] = loads(r["counts"], {}), loads(r["details"], {})
    return r


def find(db: sqlite_utils.Database, job: str | None = None, since: str | None = None, failed: bool = False,
         limit: int = 30) -> list[dict[str, Any]]:
    """Runs, newest first: of one job, started since an ISO time, only failed or interrupted ones."""
    where, params = [], []
    if job:
        where.append("job = ?")
        params.append(job)
    if since:
        where.append("started_at >= ?")
        params.append(since)
    if failed:
        where.append("status in ('failed', 'interrupted')")
    sql = "select * from runs" + (" where " + " and ".join(where) if where else "") + " order by id desc limit ?"
    rows = list(db.query(sql, [*params, limit]))
    for r in rows:
        r["counts"], r["details"] = loads(r["counts"], {}), loads(r["details"], {})
    return rows


def last_id(db: sqlite_utils.Database, job: str) -> int | None:
    r = next(db.query("select max(id) id from runs where job = ?", [job]), None)
    return r["id"] if r else None


def failed_since(db: sqlite_utils.Database, job: str, after_id: int) -> str | None:
    """The error of a run of `job` after `after_id` that ended `failed` (e.g. a publish run where nothing went
    out), or None."""
    r = next(db.query("select error from runs where job = ? and id > ? and status = 'failed' order by id desc",
                      (job, after_id)), None)
    return (r["error"] or "failed") if r else None
