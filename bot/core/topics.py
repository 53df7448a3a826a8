"""The topic queue: the user's topics.yaml (never rewritten by the bot) and each topic's state in SQLite."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import sqlite_utils
import yaml
from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from bot.core.clock import now, parse_ts
from bot.core.config import format_validation, read_yaml_file
from bot.core.errors import ConfigError, InputError
from bot.core.fsio import atomic_write
from bot.core.store import dumps, loads, transaction

STATES = ("queued", "drafting", "drafted", "published", "failed", "skipped")
State = Literal["queued", "drafting", "drafted", "published", "failed", "skipped"]
MAX_TOPIC_CHARS = 200  # generate.max_topic_chars's default
DEFAULT_TZ = "Asia/Seoul"  # schedule.timezone's default: a date without a time is midnight there


def normalize(text: str | None, max_chars: int = MAX_TOPIC_CHARS) -> str:
    """A topic as stored: spacing collapsed; empty or longer than `max_chars` is a ValueError saying so."""
    t = " ".join((text or "").split())
    if not t:
        raise ValueError("the topic is empty (an empty topic cannot be drafted)")
    if len(t) > max_chars:
        raise ValueError(f"the topic is too long ({len(t)} characters > generate.max_topic_chars {max_chars}); "
                         "put details in the topic's notes instead")
    return t


class TopicEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str = Field(min_length=1)
    tags: list[str] = []
    platforms: list[str] = []
    not_before: datetime | None = None
    notes: str | None = None

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str, info: ValidationInfo) -> str:
        return normalize(v, (info.context or {}).get("max_chars", MAX_TOPIC_CHARS))

    @field_validator("not_before", mode="before")
    @classmethod
    def _date(cls, v: object, info: ValidationInfo) -> object:
        if isinstance(v, date) and not isinstance(v, datetime):
            return datetime.combine(v, time(0, 0), tzinfo=_tz(info))
        return v

    @field_validator("not_before")
    @classmethod
    def _aware(cls, v: datetime | None, info: ValidationInfo) -> datetime | None:
        return v.replace(tzinfo=_tz(info)) if v and not v.tzinfo else v


def _tz(info: ValidationInfo) -> ZoneInfo:
    return ZoneInfo((info.context or {}).get("timezone", DEFAULT_TZ))


def topic_id(text: str) -> str:
    """Stable id of a topic: its text with case, width and spacing normalized."""
    norm = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return hashlib.sha1(norm.encode("utf-8")).hexdigest()[:12]


@dataclass
class QueueFile:
    entries: list[TopicEntry]
    warnings: list[str] = field(default_factory=list)


def read_file(path: Path, timezone: str = DEFAULT_TZ, max_chars: int = MAX_TOPIC_CHARS,
              platforms: list[str] | None = None) -> QueueFile:
    """Parse topics.yaml. Errors name the file, line and entry; a missing file is an empty queue. A `not_before`
    without a timezone is in `timezone` (schedule.timezone); topics are at most `max_chars` long; a topic's
    `platforms` must be among `platforms` (the caller passes the registry's publishing names; None: unchecked)."""
    if not path.exists():
        return QueueFile([])
    data, lines = read_yaml_file(path)
    if data is None:
        return QueueFile([])
    if not isinstance(data, list):
        raise ConfigError(f"{path}:1: expected a list of topics (lines starting with '- ')")
    entries, warnings, seen = [], [], {}
    for i, raw in enumerate(data):
        item = {"topic": raw} if isinstance(raw, str) else raw
        if not isinstance(item, dict):
            where = f"{path}:{lines.get((i,), '?')} [{i}]"
            raise ConfigError(f"{where}: expected a topic string or a mapping with `topic:`")
        try:
            entry = TopicEntry.model_validate(item, context={"timezone": timezone, "max_chars": max_chars})
        except ValidationError as exc:
            raise format_validation(path, exc, lines, prefix=(i,)) from None
        for j, name in enumerate(entry.platforms):
            if platforms is not None and name not in platforms:
                line = lines.get((i, "platforms", j)) or lines.get((i, "platforms")) or lines.get((i,), "?")
                raise ConfigError(f'{path}:{line} {i}.platforms: no platform named "{name}" to publish to; '
                                  f"known: {', '.join(platforms)}")
        tid = topic_id(entry.topic)
        if tid in seen:
            warnings.append(f"{path}:{lines.get((i,), '?')}: repeats the topic at line {seen[tid]}: "
                            f"{entry.topic!r} (ignored)")
            continue
        seen[tid] = lines.get((i,), "?")
        entries.append(entry)
    return QueueFile(entries, warnings)


def sync(db: sqlite_utils.Database, path: Path, timezone: str = DEFAULT_TZ,
         max_chars: int = MAX_TOPIC_CHARS, platforms: list[str] | None = None) -> QueueFile:
    """Bring the queue table in line with the file: new topics queued, order and fields refreshed,
    topics removed from the file kept (with their state) but no longer eligible."""
    qf = read_file(path, timezone, max_chars, platforms)
    from bot.core.posts import live_titles

    published_titles = {_norm(t) for t in live_titles(db)}
    published_titles |= {_norm(r["topic"]) for r in db.query("select topic from topics where state = 'published'")}
    with transaction(db):
        ids = []
        for pos, e in enumerate(qf.entries):
            tid = topic_id(e.topic)
            ids.append(tid)
            fields = {"topic": e.topic, "tags": dumps(e.tags), "platforms": dumps(e.platforms),
                      "not_before": e.not_before.isoformat() if e.not_before else None, "notes": e.notes,
                      "position": pos, "in_file": 1, "updated_at": now()}
            if db["topics"].count_where("id = ?", [tid]):
                db["topics"].update(tid, fields)
            else:
                if _norm(e.topic) in published_titles:
                    qf.warnings.append(f"{path}: {e.topic!r} matches a title already published; queued anyway")
                db["topics"].insert({"id": tid, "state": "queued", "first_seen": now(), **fields})
        placeholders = ",".join("?" * len(ids)) or "''"
        db.execute(f"update topics set in_file = 0 where id not in ({placeholders})", ids)
    for w in qf.warnings:
        logger.warning("{}", w)
    return qf


def _norm(s: str | None) -> str:
    return " ".join(unicodedata.normalize("NFKC", s or "").casefold().split())


def list_topics(db: sqlite_utils.Database, include_removed: bool = False) -> list[dict]:
    sql = "select * from topics" + ("" if include_removed else " where in_file = 1")
    sql += " order by in_file desc, position"
    out = []
    for r in db.query(sql):
        r["tags"], r["platforms"] = loads(r["tags"], []), loads(r["platforms"], [])
        out.append(r)
    return out


def get(db: sqlite_utils.Database, tid: str) -> dict | None:
    """One topic row (tags and platforms decoded), or None when the queue never held it."""
    r = next(db.query("select * from topics where id = ?", [tid]), None)
    if r is not None:
        r["tags"], r["platforms"] = loads(r["tags"], []), loads(r["platforms"], [])
    return r


def count_queued(db: sqlite_utils.Database) -> int:
    return db["topics"].count_where("state = 'queued' and in_file = 1")


def next_eligible(db: sqlite_utils.Database, at: datetime | None = None) -> dict | None:
    """The first queued topic in file order whose `not_before` has passed."""
    at = at or datetime.now(UTC)
    for r in list_topics(db):
        if r["state"] != "queued":
            continue
        if r["not_before"] and parse_ts(r["not_before"]) > at:
            continue
        return r
    return None


def set_state(db: sqlite_utils.Database, tid: str, state: State) -> None:
    db["topics"].update(tid, {"state": state, "updated_at": now()})


def counts_by_state(db: sqlite_utils.Database) -> dict[str, int]:
    return {r["state"]: r["n"] for r in db.query(
        "select state, count(*) n from topics where in_file = 1 group by state")}


def add(path: Path, topic: str, tags: list[str] | None = None, platforms: list[str] | None = None,
        not_before: str | None = None, notes: str | None = None, timezone: str = DEFAULT_TZ,
        max_chars: int = MAX_TOPIC_CHARS) -> TopicEntry:
    """Append one topic to the file, keeping its text and comments; atomic (temp file + rename)."""
    item: dict = {"topic": topic}
    if tags:
        item["tags"] = tags
    if platforms:
        item["platforms"] = platforms
    if not_before:
        item["not_before"] = not_before
    if notes:
        item["notes"] = notes
    try:
        entry = TopicEntry.model_validate(item, context={"timezone": timezone, "max_chars": max_chars})
    except ValidationError as exc:
        raise InputError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                                   for e in exc.errors())) from None
    current = read_file(path, timezone, max_chars)  # refuses to append to a file that is already broken
    if any(topic_id(e.topic) == topic_id(entry.topic) for e in current.entries):
        raise InputError(f"{path}: the topic {entry.topic!r} is already in the queue")
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    snippet = yaml.safe_dump([_plain(item)], allow_unicode=True, sort_keys=False, default_flow_style=False)
    new = old + ("" if not old or old.endswith("\n") else "\n") + snippet
    read_file_text_check(new, path)
    atomic_write(path, new, in_place_ok=True)  # a container's bind-mounted topics.yaml cannot be renamed over
    return entry


def _plain(item: dict) -> object:
    return item["topic"] if list(item) == ["topic"] else item


def read_file_text_check(text: str, path: Path) -> None:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: appending would make the file invalid: {exc}") from None
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a list of topics")


def reconcile_drafting(db: sqlite_utils.Database) -> int:
    """Topics left `drafting` by a run that was cut off: back to `queued`, or `drafted` when the draft was saved."""
    from bot.core import drafts, runlog

    if runlog.is_running(db, "draft"):
        return 0  # a draft is being written right now (another process)
    n = 0
    for t in list(db.query("select id from topics where state = 'drafting'")):
        has = drafts.exists_for_topic(db, t["id"])
        db["topics"].update(t["id"], {"state": "drafted" if has else "queued", "updated_at": now()})
        logger.info("topic {} was left drafting by an interrupted run: {}", t["id"],
                    "drafted" if has else "queued again")
        n += 1
    return n


def requeue(db: sqlite_utils.Database, topic_id: str) -> None:
    """Put a topic whose draft was abandoned (a full disk, a stop) back in the queue, unless a draft was saved."""
    from bot.core import drafts

    try:
        if not drafts.exists_for_topic(db, topic_id):
            db["topics"].update(topic_id, {"state": "queued", "updated_at": now()})
    except Exception as exc:  # the disk is still full: reconcile_drafting / the next run sorts it out
        logger.warning("topic {} could not be put back in the queue yet: {}", topic_id, exc)
