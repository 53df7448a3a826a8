"""The draft job (`blogbot write "topic"`, `blogbot draft`): write a post on the next queued topic (or a given one)
with the active adapter, keep every candidate in the generation log, store the draft and route it to review."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import sqlite_utils
from loguru import logger

from bot.core import adapters, drafts, topics
from bot.core.config import Config
from bot.core.errors import InputError, ModelError
from bot.core.runlog import LOG_DIR, job_run
from bot.core.store import dumps, now

GENERATIONS_LOG = "generations.jsonl"


def check_topic(cfg: Config, text: str | None) -> str:
    t = " ".join((text or "").split())
    if not t:
        raise InputError("the topic is empty: give the post's subject, e.g. blogbot write \"봄 산책 이야기\"")
    if len(t) > cfg.generate.max_topic_chars:
        raise InputError(f"the topic is too long ({len(t)} characters > generate.max_topic_chars "
                         f"{cfg.generate.max_topic_chars}); put details in the topic's notes instead")
    return t


def run(cfg: Config, db: sqlite_utils.Database, topic: str | None = None, on_text: Any = None) -> int | None:
    """Draft one post. Returns the draft id, or None when no queued topic is eligible. `on_text(str)` receives the
    first candidate's text as it is generated (the CLI streams it to the terminal)."""
    text = check_topic(cfg, topic) if topic is not None else None
    with job_run(db, "draft", topic=text) as run:
        topics.sync(db, cfg.topics_path)
        if text is None:
            row = topics.next_eligible(db)
            if row is None:
                logger.info("no eligible topic in {}", cfg.topics_path)
                run.status = "skipped"
                return None
        else:
            tid = topics.topic_id(text)
            known = [r for r in topics.list_topics(db, include_removed=True) if r["id"] == tid]
            row = known[0] if known else {"id": tid, "topic": text, "tags": [], "platforms": [], "notes": None}
        in_queue = bool(db["topics"].count_where("id = ?", [row["id"]]))
        if in_queue:
            topics.set_state(db, row["id"], "drafting")
        run.details.update(topic=row["topic"], topic_id=row["id"])
        try:
            draft_id = _draft(cfg, db, row, on_text, run)
        except BaseException:
            if in_queue:
                topics.set_state(db, row["id"], "failed")
            raise
        if in_queue:
            topics.set_state(db, row["id"], "drafted")
        return draft_id


def _draft(cfg: Config, db: sqlite_utils.Database, row: dict, on_text: Any, run: Any) -> int:
    from bot.core.posts import live_posts
    from bot.voice import model as bm
    from bot.voice.generate import load_backend, related_posts

    base = bm.resolve_base(cfg)
    act = adapters.active(db, base.identity)
    if act is None:
        logger.warning("no active adapter for {}: drafting with the bare base model (run `blogbot tune`)",
                       base.identity)
    backend = load_backend(cfg, Path(act["path"]) if act else None, act["version"] if act else None)
    examples = related_posts(live_posts(db), row["topic"], cfg.generate.retrieve_examples) \
        if cfg.generate.retrieve_examples else None
    n, seed = cfg.generate.n_candidates, cfg.generate.seed
    cands = []
    for i in range(n):
        logger.info("generating candidate {}/{} for {!r}", i + 1, n, row["topic"])
        cands.append(backend.generate(row["topic"], row.get("tags") or [], examples,
                                      seed=None if seed is None else seed + i, on_text=on_text if i == 0 else None))
    best, details = 0, None
    if n > 1:
        try:
            from bot.voice.style.select import pick_best
        except ImportError as exc:
            raise ModelError(f"generate.n_candidates is {n} but best-of-n selection (bot.voice.style.select.pick_best) "
                             f"is not available: {exc}; set generate.n_candidates: 1") from None
        best, details = pick_best(cfg, db, row, cands)
    gen = cands[best]
    others = [{"index": i, "title": c.title, "body_markdown": c.body_markdown, "tags": c.tags,
               "new_tokens": c.new_tokens} for i, c in enumerate(cands) if i != best]
    params = {**gen.params, "candidate_index": best, "n_candidates": n, "selection": details,
              "other_candidates": others}
    draft_id = drafts.create(db, cfg, row, gen, extra={"params": dumps(params)})
    _log_generations(cfg, draft_id, row, cands, best)
    platforms = row.get("platforms") or cfg.publish.default_platforms
    status = route(cfg, db, draft_id, platforms)
    run.count("drafted")
    run.details.update(draft_id=draft_id, adapter=gen.adapter_version, tokens_per_s=round(gen.tokens_per_s, 2),
                       new_tokens=gen.new_tokens, status=status)
    logger.info("draft {} ({} tokens, {:.1f} tok/s, adapter {}) → {}", draft_id, gen.new_tokens, gen.tokens_per_s,
                gen.adapter_version or "none", status)
    return draft_id


def _log_generations(cfg: Config, draft_id: int, row: dict, cands: list, best: int) -> None:
    """Every candidate, with its parameters, appended to <data>/logs/generations.jsonl."""
    path = cfg.data_path / LOG_DIR / GENERATIONS_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        for i, c in enumerate(cands):
            rec = {"at": now(), "draft_id": draft_id, "topic_id": row["id"], "topic": row["topic"], "index": i,
                   "chosen": i == best, **asdict(c)}
            fh.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")


def route(cfg: Config, db: sqlite_utils.Database, draft_id: int, platforms: list[str] | None = None) -> str:
    """Decide where a new draft goes: score it and run the quality gates (bot.voice.style), then `approved` when the
    review mode of every target platform is auto and every gate passed, else `pending_review`."""
    from bot.voice.style import check_draft  # fidelity score + gates; stored with the draft

    d = drafts.get(db, draft_id)
    result = check_draft(cfg, db, d)
    drafts.set_score(db, draft_id, result.get("score"), result.get("gates"))
    targets = platforms or cfg.publish.default_platforms
    auto = all(cfg.review_mode(p) == "auto" for p in targets)
    if auto and result.get("passed", False):
        drafts.set_status(db, draft_id, "approved", "auto: all gates passed")
        return "approved"
    failed = [g["name"] for g in result.get("gates") or [] if not g.get("passed")]
    reason = ("gates failed: " + ", ".join(failed)) if failed else "manual review"
    drafts.set_status(db, draft_id, "pending_review", reason)
    return "pending_review"
