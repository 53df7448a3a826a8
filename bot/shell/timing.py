"""When the scheduled jobs run: their triggers from `cfg.schedule`, next fire times, and what was missed while
the scheduler was down."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import sqlite_utils

from bot.core import schedule_state
from bot.core.clock import parse_ts
from bot.core.config import Config
from bot.core.cron import cron_trigger
from bot.core.runlog import pid_alive
from jobs import SCHEDULED


def trigger(cfg: Config, job_id: str):
    return cron_trigger(getattr(cfg.schedule, job_id).cron, cfg.schedule.timezone)


def enabled_jobs(cfg: Config) -> list[str]:
    return [j for j in SCHEDULED if getattr(cfg.schedule, j).enabled]


def next_fire(cfg: Config, job_id: str, after: datetime) -> datetime | None:
    """The first fire time of a job strictly after `after`."""
    return trigger(cfg, job_id).get_next_fire_time(None, after + timedelta(microseconds=1))


def missed(cfg: Config, db: sqlite_utils.Database, at: datetime) -> dict[str, str]:
    """Jobs to run once at start after downtime: a fire time passed since they last fired, or their last run
    was cut off (the process ended mid-run). Job id → the reason, for the log."""
    out = {}
    states = schedule_state.rows(db)
    for job_id in enabled_jobs(cfg):
        st = states.get(job_id)
        if st is None or not st["last_fire"]:
            continue
        if st["last_status"] == "running" and not (st["pid"] != os.getpid() and pid_alive(st["pid"])):
            out[job_id] = f"its last run (started {st['last_fire']}) was cut off"
            continue
        last = parse_ts(st["last_fire"])
        n, t = 0, next_fire(cfg, job_id, last)
        while t is not None and t <= at and n < 1000:
            n, t = n + 1, next_fire(cfg, job_id, t)
        if n:
            out[job_id] = f"{n}{'+' if n >= 1000 else ''} run(s) missed since {st['last_fire']}"
    return out
