"""Schedule arithmetic: crontab expressions as cron reads them (APScheduler 3 counts weekdays from Monday),
next fire times, and what was missed while the scheduler was down."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # bot.core.config imports this module while it is being defined
    import sqlite_utils

    from bot.core.config import Config

JOB_IDS = ("crawl", "retune", "draft", "publish")

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _day(x: str) -> int:
    if x.isdigit() and 0 <= int(x) <= 7:
        return int(x)
    if x[:3] in _DAYS:
        return _DAYS.index(x[:3])
    raise ValueError(f"bad day of week {x!r} (0-7 or sun-sat)")


def crontab_dow(field: str) -> str:
    """A crontab day-of-week field (0 and 7 = Sunday, as in cron) as APScheduler 3 day names (its 0 is Monday)."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        base, _, step = part.partition("/")
        if step and not step.isdigit() or step == "0":
            raise ValueError(f"bad step {step!r} in day of week")
        n = int(step or 1)
        if base == "*":
            lo, hi = 0, 6
        elif "-" in base:
            a, b = base.split("-", 1)
            lo, hi = _day(a), _day(b)
            if lo > hi:
                raise ValueError(f"day-of-week range {base!r} goes backwards")
        else:
            lo = _day(base)
            hi = 6 if step else lo
        days |= {d % 7 for d in range(lo, hi + 1, n)}
    return ",".join(_DAYS[d] for d in sorted(days))


def cron_trigger(expr: str, timezone: str):
    """A CronTrigger from a standard 5-field crontab expression, weekdays read as cron reads them."""
    from apscheduler.triggers.cron import CronTrigger

    values = expr.split()
    if len(values) != 5:
        raise ValueError(f"wrong number of fields: got {len(values)}, expected 5 (minute hour day month weekday)")
    return CronTrigger(minute=values[0], hour=values[1], day=values[2], month=values[3],
                       day_of_week=crontab_dow(values[4]), timezone=ZoneInfo(timezone))


def trigger(cfg: Config, job_id: str):
    return cron_trigger(getattr(cfg.schedule, job_id).cron, cfg.schedule.timezone)


def enabled_jobs(cfg: Config) -> list[str]:
    return [j for j in JOB_IDS if getattr(cfg.schedule, j).enabled]


def next_fire(cfg: Config, job_id: str, after: datetime) -> datetime | None:
    """The first fire time of a job strictly after `after`."""
    return trigger(cfg, job_id).get_next_fire_time(None, after + timedelta(microseconds=1))


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    dt = datetime.fromisoformat(ts)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def state_rows(db: sqlite_utils.Database) -> dict[str, dict]:
    return {r["job"]: r for r in db.query("select * from schedule_state")}


def missed(cfg: Config, db: sqlite_utils.Database, at: datetime) -> dict[str, str]:
    """Jobs to run once at start after downtime: a fire time passed since they last fired, or their last run
    was cut off (the process ended mid-run). Job id → the reason, for the log."""
    from bot.core.runlog import _pid_alive

    out = {}
    states = state_rows(db)
    for job_id in enabled_jobs(cfg):
        st = states.get(job_id)
        if st is None or not st["last_fire"]:
            continue
        if st["last_status"] == "running" and not (st["pid"] != os.getpid() and _pid_alive(st["pid"])):
            out[job_id] = f"its last run (started {st['last_fire']}) was cut off"
            continue
        last = _parse(st["last_fire"])
        n, t = 0, next_fire(cfg, job_id, last)
        while t is not None and t <= at and n < 1000:
            n, t = n + 1, next_fire(cfg, job_id, t)
        if n:
            out[job_id] = f"{n}{'+' if n >= 1000 else ''} run(s) missed since {st['last_fire']}"
    return out
