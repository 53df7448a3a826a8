"""Crontab expressions as cron reads them (APScheduler 3 counts weekdays from Monday): the config validates with
this, the scheduler builds its triggers with it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

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
