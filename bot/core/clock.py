"""Time as blogbot stores and reads it: ISO-8601 UTC strings in every *_at column, parsed back to aware datetimes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]  # what jobs take to read the time (tests pass a fixed or stepping one)


def utcnow() -> datetime:
    return datetime.now(UTC)


def now() -> str:
    """The current time as an ISO-8601 UTC string (what every *_at column holds)."""
    return utcnow().isoformat(timespec="seconds")


def iso(dt: datetime | None) -> str | None:
    """An aware datetime (naive ones are taken as UTC) as stored: ISO-8601 UTC to the second."""
    if dt is None:
        return None
    return aware(dt).astimezone(UTC).isoformat(timespec="seconds")


def aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def parse_ts(value: str | None) -> datetime | None:
    """A stored timestamp (ISO-8601, `Z` accepted; naive read as UTC) as an aware datetime; None for empty."""
    if not value:
        return None
    return aware(datetime.fromisoformat(value.replace("Z", "+00:00")))


def local(dt: datetime, timezone: str) -> datetime:
    """`dt` in the configured timezone (for what a person reads)."""
    return aware(dt).astimezone(ZoneInfo(timezone))
