"""Keeping state intact when things go wrong: a full disk named plainly, interrupted drafts reconciled, topics put
back in the queue, runs with nothing to do logged as skipped."""

from __future__ import annotations

import errno
import os
import sqlite3

import sqlite_utils
from loguru import logger

from bot.core.store import now


def disk_full(exc: BaseException) -> bool:
    """A full, read-only or failing disk under the data dir (OSError or SQLite's own words for it)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)
    low = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("disk" in low or "readonly" in low)


def describe(exc: BaseException, data_dir: os.PathLike | str) -> str:
    """A one-line error for the run log; a full disk or unwritable data dir says so plainly."""
    text = f"{type(exc).__name__}: {exc}"
    if disk_full(exc):
        return (f"the data dir {data_dir} is full or not writable ({text}); the job was abandoned and its "
                "changes rolled back; free some space, it runs again at its next time")
    return text


def reconcile_drafting(db: sqlite_utils.Database) -> int:
    """Topics left `drafting` by a run that was cut off: back to `queued`, or `drafted` when the draft was saved."""
    from bot.core.runlog import reconcile_interrupted

    reconcile_interrupted(db)
    if db["runs"].count_where("job = 'draft' and status = 'running'"):
        return 0  # a draft is being written right now (another process)
    n = 0
    for t in list(db.query("select id from topics where state = 'drafting'")):
        has = db["drafts"].count_where("topic_id = ?", [t["id"]])
        db["topics"].update(t["id"], {"state": "drafted" if has else "queued", "updated_at": now()})
        logger.info("topic {} was left drafting by an interrupted run: {}", t["id"],
                    "drafted" if has else "queued again")
        n += 1
    return n


def last_error(path) -> str:
    """The child's one-line error (its last `error: ...` line), or its last line."""
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no output"
    errs = [ln for ln in lines if ln.startswith("error: ")]
    return (errs[-1][7:] if errs else lines[-1] if lines else "no output")[:500]


def save_copy(path, data: bytes) -> None:
    try:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        logger.warning("could not keep a copy of the topics file at {}: {}", path, exc.strerror)


def requeue(db: sqlite_utils.Database, topic_id: str) -> None:
    try:
        if not db["drafts"].count_where("topic_id = ?", [topic_id]):
            db["topics"].update(topic_id, {"state": "queued", "updated_at": now()})
    except Exception as exc:  # the disk is still full: reconcile_drafting / the next run sorts it out
        logger.warning("topic {} could not be put back in the queue yet: {}", topic_id, exc)


def skip_run(db: sqlite_utils.Database, job: str, reason: str) -> None:
    """A scheduled run with nothing to do, in the run log as `skipped` with its reason."""
    from bot.core.runlog import job_run

    with job_run(db, job, scheduled=True) as run:
        run.status = "skipped"
        run.details["reason"] = reason
        logger.info("{}: {}", job, reason)
