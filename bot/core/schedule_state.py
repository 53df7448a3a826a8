"""The schedule_state table: one row per scheduled job, when it last fired and how that ended (catch-up after
downtime, `blogbot jobs`)."""

from __future__ import annotations

import os
from datetime import datetime

import sqlite_utils

from bot.core.clock import now


def rows(db: sqlite_utils.Database) -> dict[str, dict]:
    return {r["job"]: r for r in db.query("select * from schedule_state")}


def fired(db: sqlite_utils.Database, job: str, at: datetime) -> None:
    db["schedule_state"].upsert({"job": job, "last_fire": at.isoformat(timespec="seconds"), "last_status": "running",
                                 "last_error": None, "pid": os.getpid()}, pk="job")


def ended(db: sqlite_utils.Database, job: str, status: str, error: str | None) -> None:
    db["schedule_state"].update(job, {"last_end": now(), "last_status": status, "last_error": error})
