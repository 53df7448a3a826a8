"""Stored posts: upsert on (platform, source_id), dedupe by content hash, mark gone, read back."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

import sqlite_utils

from bot.core.clock import now
from bot.core.records import Post
from bot.core.store import dumps, loads

Outcome = Literal["new", "updated", "unchanged", "duplicate"]


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def save_post(db: sqlite_utils.Database, post: Post, *, etag: str | None = None,
              last_modified: str | None = None, dedupe: bool = True) -> tuple[Outcome, int]:
    """Insert or update one post. Returns what happened and the row id (of the original for a duplicate)."""
    h = post.content_hash
    existing = next(db.query("select id, content_hash, status from posts where platform = ? and source_id = ?",
                             (post.platform, post.source_id)), None)
    record = {
        "platform": post.platform, "source_id": post.source_id, "url": post.url, "title": post.title,
        "body_markdown": post.body_markdown, "published_at": _iso(post.published_at), "tags": dumps(post.tags),
        "category": post.category, "content_hash": h, "fetched_at": now(), "status": post.status,
        "origin": post.origin, "etag": etag, "last_modified": last_modified,
    }
    if existing:
        if existing["content_hash"] == h and existing["status"] == post.status:
            db["posts"].update(existing["id"], {"fetched_at": record["fetched_at"], "etag": etag,
                                                "last_modified": last_modified})
            return "unchanged", existing["id"]
        record["updated_at"] = now()
        db["posts"].update(existing["id"], record)
        return "updated", existing["id"]
    if dedupe:
        dup = next(db.query("select id from posts where content_hash = ? and status = 'live'", (h,)), None)
        if dup:
            return "duplicate", dup["id"]
    return "new", db["posts"].insert(record).last_pk


def mark_gone(db: sqlite_utils.Database, platform: str, source_id: str, status: str = "deleted") -> bool:
    """Mark a post that disappeared (deleted) or went private; never delete the row."""
    cur = db.execute("update posts set status = ?, updated_at = ? where platform = ? and source_id = ? "
                     "and status != ?", (status, now(), platform, source_id, status))
    return cur.rowcount > 0


# A crawled post that blogbot itself published (same URL as a publication, or the title of a published draft on
# that platform) is not the author's own writing: learning from it would feed the model its own output. The ledger
# and the drafts are read through their owning modules.
# The mark blogbot leaves in every post it publishes (`<!-- blogbot:KEY -->`, kept by the readers): such a post is
# the bot's own even when this data dir's ledger never heard of it (a reinstall, a restored backup, a second install).
BOT_MARK = re.compile(r"<!--\s*blogbot:\S+?\s*-->")


def carries_bot_mark(body_markdown: str) -> bool:
    """Does this body carry blogbot's publication mark?"""
    return BOT_MARK.search(body_markdown or "") is not None


def _own_publications(db: sqlite_utils.Database) -> tuple[set[str], set[tuple[str, str]]]:
    """(URLs, (platform, title)) of everything the ledger says blogbot published from this data dir."""
    from bot.core import drafts, ledger

    urls: set[str] = set()
    titles: set[tuple[str, str]] = set()
    for pub in ledger.recent(db, limit=-1):  # -1: every publication
        if pub["state"] != "published":
            continue
        if pub["url"]:
            urls.add(pub["url"])
        title = drafts.title(db, pub["draft_id"])
        if title:
            titles.add((pub["platform"], title))
    return urls, titles


def live_posts(db: sqlite_utils.Database, platform: str | None = None,
               include_generated: bool = False) -> list[Post]:
    """Every live post, oldest first: the corpus the voice is learned from. blogbot's own posts are left out: those
    the ledger knows, and any carrying its mark whatever the ledger knows."""
    sql = "select * from posts where status = 'live'"
    params: tuple = ()
    if platform:
        sql += " and platform = ?"
        params = (platform,)
    urls, titles = (set(), set()) if include_generated else _own_publications(db)
    out = []
    for r in db.query(sql + " order by coalesce(published_at, fetched_at), id", params):
        if not include_generated and (r["url"] in urls or (r["platform"], r["title"]) in titles
                                      or carries_bot_mark(r["body_markdown"])):
            continue
        out.append(Post(
            platform=r["platform"], source_id=r["source_id"], title=r["title"] or "", body_markdown=r["body_markdown"],
            url=r["url"], published_at=datetime.fromisoformat(r["published_at"]) if r["published_at"] else None,
            tags=loads(r["tags"], []), category=r["category"], origin=r["origin"], status=r["status"],
        ))
    return out


def live_titles(db: sqlite_utils.Database) -> list[str]:
    return [r["title"] for r in db.query("select title from posts where status = 'live'")]


def corpus_summary(db: sqlite_utils.Database) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Live posts and characters per platform; posts no longer live by status."""
    corpus = {r["platform"]: {"posts": r["n"], "chars": r["chars"] or 0} for r in db.query(
        "select platform, count(*) n, sum(length(body_markdown)) chars from posts where status = 'live' "
        "group by platform order by platform")}
    gone = {r["status"]: r["n"] for r in db.query(
        "select status, count(*) n from posts where status != 'live' group by status")}
    return corpus, gone


def is_live(db: sqlite_utils.Database, platform: str, source_id: str | None) -> bool:
    if not source_id:
        return False
    return next(db.query("select 1 from posts where platform = ? and source_id = ? and status = 'live'",
                         (platform, source_id)), None) is not None
