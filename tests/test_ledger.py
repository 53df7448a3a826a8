"""The publication ledger: one row per (draft, platform), states, pacing (cap, interval, jitter), status helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core import ledger


def _published_at(db, pub_id, when: datetime) -> None:
    db["publications"].update(pub_id, {"updated_at": when.isoformat(timespec="seconds")})


def test_begin_is_idempotent_per_draft_and_platform(db):
    a = ledger.begin(db, 1, "tistory")
    b = ledger.begin(db, 1, "tistory")
    c = ledger.begin(db, 1, "velog")
    assert a == b != c
    row = ledger.get(db, 1, "tistory")
    assert row["state"] == "publishing" and row["attempts"] == 2 and row["idempotency_key"] == "draft-1:tistory"
    ledger.mark_published(db, a, "https://x.tistory.com/1", "1")
    assert ledger.summary(db, 1) == {"tistory": "published", "velog": "publishing"}
    with pytest.raises(ValueError):
        ledger.mark(db, c, "bogus", "x")


def test_needs_login_never_overwrites_published(db):
    pid = ledger.begin(db, 2, "naver")
    ledger.mark_published(db, pid, "u", "9")
    ledger.mark_needs_login(db, 2, "naver", "expired")
    assert ledger.get(db, 2, "naver")["state"] == "published"
    ledger.mark_needs_login(db, 3, "naver", "expired")
    assert ledger.get(db, 3, "naver")["state"] == "needs_login" and ledger.get(db, 3, "naver")["attempts"] == 0
    assert ledger.needing_login(db) == ["naver"]


def test_record_found_creates_or_completes_the_row(db):
    ledger.record_found(db, 4, "velog", "https://velog.io/@a/b", "velog-1")
    row = ledger.get(db, 4, "velog")
    assert row["state"] == "published" and row["url"] == "https://velog.io/@a/b"
    assert ledger.last_success(db)["velog"]["url"] == "https://velog.io/@a/b"


def test_daily_cap_counts_the_seoul_day(cfg, db):
    cfg.publish.tistory.daily_cap = 2
    cfg.publish.tistory.min_interval_minutes = 0
    cfg.publish.tistory.jitter_minutes = 0
    # 23:30 and 23:50 Seoul time on the 1st are 14:30 and 14:50 UTC
    for i, t in enumerate([datetime(2026, 3, 1, 14, 30, tzinfo=UTC), datetime(2026, 3, 1, 14, 50, tzinfo=UTC)]):
        pid = ledger.begin(db, 10 + i, "tistory")
        ledger.mark_published(db, pid, "u", str(i))
        _published_at(db, pid, t)
    assert "daily cap" in ledger.pacing_wait(cfg, db, "tistory", datetime(2026, 3, 1, 14, 55, tzinfo=UTC))
    assert ledger.pacing_wait(cfg, db, "tistory", datetime(2026, 3, 1, 15, 5, tzinfo=UTC)) is None  # 00:05 KST


def test_min_interval_with_stable_jitter(cfg, db):
    cfg.publish.velog.min_interval_minutes = 60
    cfg.publish.velog.jitter_minutes = 30
    t0 = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    pid = ledger.begin(db, 20, "velog")
    ledger.mark_published(db, pid, "u", "1")
    _published_at(db, pid, t0)
    j = ledger.jitter_minutes(cfg, "velog", pid)
    assert 0 <= j <= 30 and j == ledger.jitter_minutes(cfg, "velog", pid)
    assert ledger.pacing_wait(cfg, db, "velog", t0 + timedelta(minutes=59)) is not None
    assert ledger.pacing_wait(cfg, db, "velog", t0 + timedelta(minutes=60 + j - 0.5)) is not None
    assert ledger.pacing_wait(cfg, db, "velog", t0 + timedelta(minutes=60 + j + 0.5)) is None
    cfg.publish.velog.daily_cap = 0
    assert "daily cap" in ledger.pacing_wait(cfg, db, "velog", t0 + timedelta(days=3))
