"""Drafts: the generated posts, their review state, and the Markdown copy in the data dir's outbox."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path
from typing import Any

import sqlite_utils
import yaml

from bot.core.clock import now
from bot.core.config import Config
from bot.core.errors import InputError
from bot.core.fsio import atomic_write
from bot.core.records import Generation, slug
from bot.core.store import dumps, loads

# pending_review: waits for a person; approved: will be published; rejected: kept with the reason;
# published: out on every platform it was meant for; failed: publishing gave up (see publications).
STATUSES = ("pending_review", "approved", "rejected", "published", "failed")


def publish_key(topic_id: str | None, created_at: str) -> str:
    """A short marker stored with the draft, used to recognise the post on a blog when reconciling."""
    # a random part: two drafts written in the same second (no topic, or the same topic twice) never share a key
    return "bb-" + hashlib.sha1(f"{topic_id}|{created_at}|{secrets.token_hex(8)}".encode()).hexdigest()[:10]


def create(db: sqlite_utils.Database, cfg: Config, topic: dict | None, gen: Generation,
           extra: dict[str, Any] | None = None, platforms: list[str] | None = None) -> int:
    """Store a draft (status pending_review until routed) with its target `platforms`, and write its outbox file.
    Returns the draft id."""
    created = now()
    record = {
        "topic_id": topic["id"] if topic else None, "topic": topic["topic"] if topic else gen.title,
        "title": gen.title, "body_markdown": gen.body_markdown, "tags": dumps(gen.tags),
        "adapter_version": gen.adapter_version, "base_model": gen.base_model, "params": dumps(gen.params),
        "duration_s": round(gen.duration_s, 3), "new_tokens": gen.new_tokens,
        "tokens_per_s": round(gen.tokens_per_s, 2), "status": "pending_review", "created_at": created,
        "updated_at": created, "publish_key": publish_key(topic["id"] if topic else None, created),
        "platforms": dumps(list(platforms or [])), **(extra or {}),
    }
    with db.conn:
        draft_id = db["drafts"].insert(record).last_pk
        path = write_outbox(cfg, draft_id, record)
        db["drafts"].update(draft_id, {"outbox_path": str(path)})
    return draft_id


def get(db: sqlite_utils.Database, draft_id: int) -> dict:
    if not db["drafts"].count_where("id = ?", [draft_id]):
        raise InputError(f"no draft with id {draft_id}")
    d = db["drafts"].get(draft_id)
    for k, default in (("tags", []), ("params", {}), ("score", None), ("gates", None), ("platforms", [])):
        d[k] = loads(d[k], default)
    return d


def set_status(db: sqlite_utils.Database, draft_id: int, status: str, reason: str | None = None) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown draft status {status!r}")
    fields: dict[str, Any] = {"status": status, "updated_at": now()}
    if reason is not None:
        fields["review_reason"] = reason
    db["drafts"].update(draft_id, fields)


def edit(db: sqlite_utils.Database, cfg: Config, draft_id: int, title: str, body: str) -> bool:
    """Replace a draft's text, keeping the generated original (the diff is a signal for later tuning)."""
    d = get(db, draft_id)
    if title == d["title"] and body == d["body_markdown"]:
        return False
    fields = {"title": title, "body_markdown": body, "updated_at": now()}
    if d["original_body"] is None:
        fields["original_body"] = f"# {d['title']}\n\n{d['body_markdown']}"
    with db.conn:
        db["drafts"].update(draft_id, fields)
        write_outbox(cfg, draft_id, {**d, **fields})
    return True


def set_score(db: sqlite_utils.Database, draft_id: int, score: Any, gates: Any) -> None:
    """Store a draft's style score and gate results (computed by the voice layer)."""
    db["drafts"].update(draft_id, {"score": dumps(score), "gates": dumps(gates)})


def exists_for_topic(db: sqlite_utils.Database, topic_id: str) -> bool:
    return bool(db["drafts"].count_where("topic_id = ?", [topic_id]))


def latest_for_topic(db: sqlite_utils.Database, topic_id: str) -> int | None:
    r = next(db.query("select max(id) id from drafts where topic_id = ?", [topic_id]), None)
    return r["id"] if r else None


def by_status(db: sqlite_utils.Database, status: str) -> list[dict]:
    return [get(db, r["id"]) for r in db.query("select id from drafts where status = ? order by id", (status,))]


def write_outbox(cfg: Config, draft_id: int, d: dict) -> Path:
    """The draft as Markdown with front matter under <data_dir>/outbox/, written atomically."""
    out = cfg.data_path / "outbox"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{draft_id:05d}-{slug(d['title'])}.md"
    tags = loads(d["tags"], []) if isinstance(d["tags"], str) else d["tags"]
    front = {"title": d["title"], "topic": d["topic"], "tags": tags, "draft_id": draft_id,
             "adapter": d.get("adapter_version"), "base_model": d.get("base_model"), "created_at": d["created_at"]}
    text = "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---\n\n" + d["body_markdown"] + "\n"
    return atomic_write(path, text)


def title(db: sqlite_utils.Database, draft_id: int | None) -> str | None:
    r = next(db.query("select title from drafts where id = ?", [draft_id]), None) if draft_id is not None else None
    return r["title"] if r else None


def waiting_review(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(db.query("select id, title, created_at from drafts where status = 'pending_review' order by id"))


def params_with_usage(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """The generation parameters of drafts whose backend reported token usage."""
    return [loads(r["params"], {}) or {} for r in db.query("select params from drafts where params like ?",
                                                          ['%"usage"%'])]


def held_back(db: sqlite_utils.Database) -> dict[str, int]:
    """Drafts waiting for a person, counted by why: nonsense (the sense gate), each failed gate, manual review."""
    out: dict[str, int] = {}
    for r in db.query("select review_reason from drafts where status = 'pending_review'"):
        why = r["review_reason"] or "manual review"
        if why.startswith("nonsense:"):
            keys = ["nonsense (sense gate)"]
        elif why.startswith("gates failed:"):
            keys = [g.strip() for g in why.split(":", 1)[1].split(",") if g.strip()]
        else:
            keys = ["manual review" if why in ("manual review", "") else why.split(":", 1)[0]]
        for k in keys:
            out[k] = out.get(k, 0) + 1
    return out
