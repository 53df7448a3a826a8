"""The publication ledger: one row per (draft, platform) written as `publishing` before the publish action,
`published` only after the post was read back; reconciling uncertain rows by looking at the blog; pacing."""

from __future__ import annotations

import hashlib
import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from bot.core.clock import now, parse_ts
from bot.core.config import Config
from bot.core.runlog import pid_alive
from bot.core.store import row

# publishing: the publish action may have happened (never retried blindly: reconciled first)
# published: read back live with its URL; needs_login: a person must run `blogbot login <platform>`
# failed: stopped before or after the action (the outcome may be unknown: reconciled before any new attempt)
# uncertain: a post with the draft's title and opening but no blogbot key is on the blog; a person decides (review)
STATES = ("publishing", "published", "needs_login", "failed", "uncertain")
# a `publishing` row whose owner is on another host counts as live while its heartbeat is younger than this
HEARTBEAT_STALE_S = 15 * 60


def owner() -> dict[str, Any]:
    """This process as the owner of the rows it writes as `publishing`."""
    return {"owner_pid": os.getpid(), "owner_host": socket.gethostname()}


def live_owner(cur: dict[str, Any] | None, at: datetime | None = None) -> str | None:
    """Who is publishing this row right now, when that is another live process (never a crash leftover): its
    heartbeat (wall clock) is recent and, on this host, its pid is alive. None when nobody else holds it."""
    if not cur or cur["state"] != "publishing" or not cur.get("owner_pid"):
        return None
    me = owner()
    if cur["owner_pid"] == me["owner_pid"] and cur.get("owner_host") == me["owner_host"]:
        return None
    beat = parse_ts(cur.get("heartbeat_at"))
    at = at or datetime.now(UTC)
    fresh = beat is not None and (at - beat).total_seconds() < HEARTBEAT_STALE_S
    if cur.get("owner_host") == me["owner_host"] and not pid_alive(cur["owner_pid"]):
        return None  # its process is gone: a crash leftover, reconciled by reading the blog
    return f"pid {cur['owner_pid']} on {cur.get('owner_host')} (heartbeat {cur.get('heartbeat_at')})" if fresh else None


def heartbeat(db: sqlite_utils.Database, pub_id: int) -> None:
    """The owner of a `publishing` row is still at work (wall-clock time, whatever clock the job runs on)."""
    db["publications"].update(pub_id, {"heartbeat_at": now(), **owner()})


def idempotency_key(draft_id: int, platform: str) -> str:
    return f"draft-{draft_id}:{platform}"


def get(db: sqlite_utils.Database, draft_id: int, platform: str) -> dict[str, Any] | None:
    return row(db, "select * from publications where idempotency_key = ?", (idempotency_key(draft_id, platform),))


def begin(db: sqlite_utils.Database, draft_id: int, platform: str, at: str | None = None) -> int:
    """Write (or reuse) the row as `publishing` with one more attempt, committed, before the publish action.
    `at`: the job's time (ISO UTC; default now) — every function here that writes takes it."""
    key = idempotency_key(draft_id, platform)
    at = at or now()
    with db.conn:
        cur = get(db, draft_id, platform)
        if cur is None:
            return db["publications"].insert({
                "draft_id": draft_id, "platform": platform, "idempotency_key": key, "state": "publishing",
                "created_at": at, "updated_at": at, "attempts": 1, "heartbeat_at": now(), **owner()}).last_pk
        db["publications"].update(cur["id"], {"state": "publishing", "updated_at": at, "error": None,
                                              "attempts": (cur["attempts"] or 0) + 1, "heartbeat_at": now(),
                                              **owner()})
        return cur["id"]


def mark_published(db: sqlite_utils.Database, pub_id: int, url: str, remote_id: str | None,
                   at: str | None = None) -> None:
    db["publications"].update(pub_id, {"state": "published", "url": url, "remote_id": remote_id,
                                       "updated_at": at or now(), "error": None})


def mark(db: sqlite_utils.Database, pub_id: int, state: str, error: str, artifacts: str | None = None,
         url: str | None = None, at: str | None = None) -> None:
    if state not in STATES:
        raise ValueError(f"unknown publication state {state!r}")
    fields: dict[str, Any] = {"state": state, "updated_at": at or now(), "error": error[:2000]}
    if artifacts:
        fields["artifacts"] = artifacts
    if url:
        fields["url"] = url
    db["publications"].update(pub_id, fields)


def record_found(db: sqlite_utils.Database, draft_id: int, platform: str, url: str, remote_id: str | None,
                 at: str | None = None) -> int:
    """A reconciled post: the row becomes `published` (created when the crash came before it was written)."""
    with db.conn:
        cur = get(db, draft_id, platform)
        pub_id = cur["id"] if cur else begin(db, draft_id, platform, at)
        mark_published(db, pub_id, url, remote_id, at)
    return pub_id


def mark_uncertain(db: sqlite_utils.Database, draft_id: int, platform: str, url: str, why: str,
                   at: str | None = None) -> None:
    """A post that may be this draft's (same title and opening, no blogbot key) is on the blog: not claimed, not
    published again; the row waits as `uncertain` with that post's URL until a person decides."""
    _hold(db, draft_id, platform, "uncertain", why, at, url=url)


def mark_needs_login(db: sqlite_utils.Database, draft_id: int, platform: str, error: str,
                     at: str | None = None) -> None:
    _hold(db, draft_id, platform, "needs_login", error, at)


def _hold(db: sqlite_utils.Database, draft_id: int, platform: str, state: str, error: str, at: str | None,
          url: str | None = None) -> None:
    """The (draft, platform) row waits in `state` for a person (created when no attempt wrote one yet); a row
    already published is left alone."""
    at = at or now()
    with db.conn:
        cur = get(db, draft_id, platform)
        if cur is None:
            db["publications"].insert({
                "draft_id": draft_id, "platform": platform, "idempotency_key": idempotency_key(draft_id, platform),
                "state": state, "created_at": at, "updated_at": at, "attempts": 0, "error": error, "url": url})
        elif cur["state"] != "published":
            mark(db, cur["id"], state, error, url=url, at=at)


# --- pacing --------------------------------------------------------------------------------------------------


def jitter_minutes(cfg: Config, platform: str, last_id: int | None) -> float:
    """A random-looking but stable jitter per (platform, last publication): the same answer on every check."""
    span = cfg.publish.get(platform).jitter_minutes
    if not span or last_id is None:
        return 0.0
    h = int(hashlib.sha256(f"{platform}:{last_id}".encode()).hexdigest()[:8], 16)
    return span * (h / 0xFFFFFFFF)


def pacing_wait(cfg: Config, db: sqlite_utils.Database, platform: str, at: datetime | None = None) -> str | None:
    """Why `platform` must not publish now (daily cap in the schedule's timezone, minimum interval + jitter)."""
    at = at or datetime.now(UTC)
    pc = cfg.publish.get(platform)
    tz = ZoneInfo(cfg.schedule.timezone)
    rows = list(db.query("select id, updated_at from publications where platform = ? and state = 'published' "
                         "order by updated_at", (platform,)))
    day = at.astimezone(tz).date()
    today = [r for r in rows if (t := parse_ts(r["updated_at"])) and t.astimezone(tz).date() == day]
    if len(today) >= pc.daily_cap:
        return f"daily cap reached ({len(today)}/{pc.daily_cap} today)"
    if rows:
        last = rows[-1]
        gap = timedelta(minutes=pc.min_interval_minutes + jitter_minutes(cfg, platform, last["id"]))
        nxt = parse_ts(last["updated_at"]) + gap
        if at < nxt:
            return f"next post not before {nxt.astimezone(tz).isoformat(timespec='minutes')} (interval + jitter)"
    return None


# --- status helpers ------------------------------------------------------------------------------------------


def last_success(db: sqlite_utils.Database) -> dict[str, dict[str, Any]]:
    """The latest published post per platform: {platform: {url, at, draft_id}}."""
    out: dict[str, dict[str, Any]] = {}
    for r in db.query("select platform, url, updated_at, draft_id from publications where state = 'published' "
                      "order by updated_at"):
        out[r["platform"]] = {"url": r["url"], "at": r["updated_at"], "draft_id": r["draft_id"]}
    return out


def needing_login(db: sqlite_utils.Database) -> list[str]:
    return sorted(needing_login_since(db))


def needing_login_since(db: sqlite_utils.Database) -> dict[str, str]:
    """{platform: when a publication last met its login page} for the platforms with rows waiting for a login."""
    return {r["platform"]: r["t"] for r in db.query(
        "select platform, max(updated_at) t from publications where state = 'needs_login' group by platform")}


def claimed_by(db: sqlite_utils.Database, platform: str, url: str, draft_id: int) -> int | None:
    """The other draft whose publication on `platform` already is the post at `url`, if any."""
    r = row(db, "select draft_id from publications where platform = ? and url = ? and draft_id != ? "
                "and state = 'published'", (platform, url, draft_id))
    return r["draft_id"] if r else None


def all_published(db: sqlite_utils.Database, draft_id: int, platforms: list[str]) -> bool:
    """Is the draft published on every one of `platforms`?"""
    states = summary(db, draft_id)
    return bool(platforms) and all(states.get(p) == "published" for p in platforms)


def summary(db: sqlite_utils.Database, draft_id: int) -> dict[str, str]:
    return {r["platform"]: r["state"] for r in db.query(
        "select platform, state from publications where draft_id = ?", (draft_id,))}


def recent(db: sqlite_utils.Database, draft_id: int | None = None, limit: int = 10) -> list[dict[str, Any]]:
    """The publications of one draft, or the `limit` most recently changed."""
    q = "select draft_id, platform, state, url, error from publications"
    if draft_id is not None:
        return list(db.query(q + " where draft_id = ? order by id", [draft_id]))
    return list(db.query(q + " order by updated_at desc limit ?", [limit]))


def last_published(db: sqlite_utils.Database) -> dict[str, Any] | None:
    """The most recent publication that went out (platform, url, updated_at, draft_id)."""
    return row(db, "select platform, url, updated_at, draft_id from publications where state = 'published' "
                   "order by updated_at desc limit 1")
