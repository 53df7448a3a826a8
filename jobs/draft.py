"""The draft job (`blogbot write "topic"`, `blogbot draft`): write a post on the next queued topic (or a given one)
with the active adapter, keep every candidate in the generation log, store the draft and route it to review."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlite_utils
from loguru import logger

from bot.core import adapters, drafts, runlog, topics
from bot.core.clock import Clock, now, utcnow
from bot.core.config import Config
from bot.core.errors import ConfigError, InputError, disk_full
from bot.core.events import Events, ignore
from bot.core.fsio import atomic_write
from bot.core.runlog import LOG_DIR, job_run
from bot.core.store import dumps

GENERATIONS_LOG = "generations.jsonl"


LAST_GOOD_TOPICS = "topics.last-good.yaml"  # the topics file as of its last good read (used while it is broken)
TOPICS_ERROR = "topics.error"  # the last error reading it (announced once, not on every draft)


def check_topic(cfg: Config, text: str | None) -> str:
    try:
        return topics.normalize(text, cfg.generate.max_topic_chars)
    except ValueError as exc:
        raise InputError(f"{exc}: give the post's subject, e.g. blogbot write \"봄 산책 이야기\"") from None


def run(cfg: Config, db: sqlite_utils.Database, *, clock: Clock = utcnow, events: Events = ignore,
        topic: str | None = None, on_text: Any = None, write: Any = None) -> int | None:
    """Draft one post: on `topic`, else on the next queued topic that is due at `clock()`. Returns the draft id, or
    None when no queued topic is due. The topics file is re-read first; when an edit broke it, the last good copy
    is used (and the error announced once), so the queue is never lost. A full disk or a stop puts the topic back in
    the queue; any other failure marks it failed. A draft left for review is announced (`review`).
    `on_text(str)` receives the first candidate's text as it is generated (the CLI streams it to the terminal);
    `write(cfg, db, row, on_text, run)` writes and stores the draft (default: the configured model; tests pass
    a fake)."""
    text = check_topic(cfg, topic) if topic is not None else None
    _sync_queue(cfg, db, events)
    topics.reconcile_drafting(db)
    if text is None:
        row = topics.next_eligible(db, clock())
        if row is None:
            runlog.skipped(db, "draft", "no queued topic is due")
            return None
    else:
        row = topics.get(db, topics.topic_id(text)) or {"id": topics.topic_id(text), "topic": text, "tags": [],
                                                         "platforms": [], "notes": None, "state": None}
    in_queue = row.get("state") is not None
    with job_run(db, "draft", topic=row["topic"], topic_id=row["id"]) as run:
        if in_queue:
            topics.set_state(db, row["id"], "drafting")
        try:
            draft_id = (write or _draft)(cfg, db, row, on_text, run)
        except BaseException as exc:
            if in_queue:
                if disk_full(exc) or not isinstance(exc, Exception):  # not the topic's fault: it waits its turn
                    topics.requeue(db, row["id"])
                else:
                    topics.set_state(db, row["id"], "failed")
            raise
        if in_queue:
            topics.set_state(db, row["id"], "drafted")
    d = drafts.get(db, draft_id)
    if d["status"] == "pending_review":
        events("review", f"draft #{draft_id} waits for review: {d['title']}", draft_id=draft_id, title=d["title"],
               reason=d.get("review_reason"))
    return draft_id


def _sync_queue(cfg: Config, db: sqlite_utils.Database, events: Events) -> None:
    """topics.yaml → the queue table; on a broken file, the last good copy (and the error announced once)."""
    good, err_file = cfg.data_path / LAST_GOOD_TOPICS, cfg.data_path / TOPICS_ERROR
    import platforms

    rules = {"timezone": cfg.schedule.timezone, "max_chars": cfg.generate.max_topic_chars,
             "platforms": platforms.names(publishes=True)}
    try:
        text = cfg.topics_path.read_bytes() if cfg.topics_path.exists() else b""
        topics.sync(db, cfg.topics_path, **rules)
    except (ConfigError, OSError) as exc:
        logger.warning("topics file not re-read, the last good queue ({} queued) is used: {}",
                       topics.count_queued(db), exc)
        if not err_file.exists() or err_file.read_text(encoding="utf-8") != str(exc):
            events("failed", f"topics file not re-read: {exc}", job="draft")
            _keep(err_file, str(exc).encode("utf-8"))
        if good.exists():
            topics.sync(db, good, **rules)
        return
    if not good.exists() or good.read_bytes() != text:
        _keep(good, text)
    err_file.unlink(missing_ok=True)


def _keep(path: Path, data: bytes) -> None:
    try:
        atomic_write(path, data)
    except OSError as exc:  # a full disk: the queue in the store still holds, the copy is refreshed next time
        logger.warning("could not write {}: {}", path, exc.strerror)


def _draft(cfg: Config, db: sqlite_utils.Database, row: dict, on_text: Any, run: Any) -> int:
    from bot.core.posts import live_posts
    from bot.voice.generate import load_backend
    from bot.voice.style.retrieve import related_posts

    identity = _base_identity(cfg)
    act = adapters.active(db, identity) if identity else None
    if identity and act is None:
        logger.warning("no active adapter for {}: drafting with the bare base model (run `blogbot tune`)", identity)
    backend = load_backend(cfg, Path(act["path"]) if act else None, act["version"] if act else None)
    examples = related_posts(live_posts(db), row["topic"], row.get("tags"), k=cfg.generate.retrieve_examples) \
        if cfg.generate.retrieve_examples else None
    notes = row.get("notes")
    cands, budget = candidates(cfg, backend, row, examples, on_text)
    n = len(cands)
    best, details = 0, None
    if n > 1:
        from bot.voice.style.select import pick_best

        best, details = pick_best(cfg, db, row, cands)
    gen = cands[best]
    others = [{"index": i, "title": c.title, "body_markdown": c.body_markdown, "tags": c.tags,
               "new_tokens": c.new_tokens, "usage": c.params.get("usage")} for i, c in enumerate(cands) if i != best]
    params = {**gen.params, "candidate_index": best, "n_candidates": n, "best_of": budget, "selection": details,
              "other_candidates": others}
    draft_id = drafts.create(db, cfg, row, gen, extra={"params": dumps(params)}, platforms=targets(cfg, row))
    if details:
        check = details[best]
    else:
        from bot.voice.style import check_draft

        check = check_draft(cfg, db, drafts.get(db, draft_id), notes=notes)
    status = route(cfg, db, draft_id, check)
    checks = details or [check]
    prompt = getattr(backend, "prompt", None)
    _log_generations(cfg, draft_id, row, cands, best, checks, backend=cfg.model.backend,
                     prompt=prompt(row["topic"], row.get("tags") or [], examples, notes) if prompt else None,
                     examples=examples)
    run.count("drafted")
    run.details.update(draft_id=draft_id, adapter=gen.adapter_version, tokens_per_s=round(gen.tokens_per_s, 2),
                       new_tokens=gen.new_tokens, status=status)
    logger.info("draft {} ({} tokens, {:.1f} tok/s, adapter {}) → {}", draft_id, gen.new_tokens, gen.tokens_per_s,
                gen.adapter_version or "none", status)
    return draft_id


def candidates(cfg: Config, backend: Any, row: dict, examples: list | None, on_text: Any,
               clock: Callable[[], float] = time.monotonic) -> tuple[list, dict[str, Any]]:
    """Best-of-n's candidates, n chosen by the time budget: the first always (streamed to `on_text`); another, up to
    generate.n_candidates, only while the time spent so far plus the slowest candidate yet fits in
    generate.draft_minutes. Returns (the candidates, {n_max, budget_s, seconds, stopped_by})."""
    n_max, budget = cfg.generate.n_candidates, cfg.generate.draft_minutes * 60
    seed, tags = cfg.generate.seed, row.get("tags") or []
    cands: list = []
    start, slowest, stopped_by = clock(), 0.0, "n_candidates"
    while len(cands) < n_max:
        i, spent = len(cands), clock() - start
        if i and spent + slowest > budget:
            stopped_by = "draft_minutes"
            logger.info("best-of-n: {} of up to {} candidates in {:.0f} s; another (about {:.0f} s) would pass the "
                        "{:.0f} s budget (generate.draft_minutes)", i, n_max, spent, slowest, budget)
            break
        logger.info("generating candidate {}/{} for {!r}", i + 1, n_max, row["topic"])
        t0 = clock()
        cands.append(backend.generate(row["topic"], tags, examples, notes=row.get("notes"),
                                      seed=None if seed is None else seed + i, on_text=on_text if i == 0 else None))
        slowest = max(slowest, clock() - t0)
    return cands, {"n_max": n_max, "budget_s": round(budget, 1), "seconds": round(clock() - start, 1),
                   "stopped_by": stopped_by}


def _base_identity(cfg: Config) -> str | None:
    """The base model's name, which picks the adapter; None for a server's model (`backend: openai`). The
    llama.cpp backend names its GGUF without the torch conversion the local backend needs."""
    if cfg.model.backend == "openai":
        return None
    if cfg.model.backend == "llamacpp":
        from bot.voice.backends.llamacpp import base_identity, gguf_path

        return base_identity(cfg, gguf_path(cfg))
    from bot.voice import model as bm

    return bm.resolve_base(cfg).identity


def _log_generations(cfg: Config, draft_id: int, row: dict, cands: list, best: int, checks: list[dict],
                     backend: str, prompt: str | None, examples: list | None) -> None:
    """Every candidate appended to <data>/logs/generations.jsonl: the prompt (and its hash), the examples used,
    the backend and parameters, and every gate and score it got."""
    from bot.voice.style.record import candidate_record

    path = cfg.data_path / LOG_DIR / GENERATIONS_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        for i, c in enumerate(cands):
            check = checks[i] if len(checks) == len(cands) else (checks[0] if i == best else {})
            rec = candidate_record(at=now(), draft_id=draft_id, topic=row, index=i, chosen=i == best, gen=c,
                                   check=check, backend=backend, prompt=prompt, examples=examples)
            fh.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")


def targets(cfg: Config, row: dict) -> list[str]:
    """Where a draft on this topic goes, decided once and stored with the draft: the topic's `platforms`, else
    the default platforms (publish.defaults()); both are checked against the known platforms when loaded."""
    return list(row.get("platforms") or cfg.publish.defaults())


def route(cfg: Config, db: sqlite_utils.Database, draft_id: int, check: dict[str, Any] | None = None) -> str:
    """Decide where a new draft goes: score it and run the quality gates (bot.voice.style; `check` when best-of-n
    already did), then `approved` when the review mode of every target platform is auto and every gate passed,
    else `pending_review` with the reason (a failed sense gate always holds a draft back). Returns the status."""
    from bot.voice.style import check_draft, held_back

    d = drafts.get(db, draft_id)
    if check is None:
        topic = topics.get(db, d["topic_id"]) if d.get("topic_id") else None
        check = check_draft(cfg, db, d, notes=(topic or {}).get("notes"))
    drafts.set_score(db, draft_id, check.get("score"), check.get("gates"))
    auto = all(cfg.review_mode(p) == "auto" for p in d["platforms"] or cfg.publish.defaults())
    why = held_back(check)
    if auto and why is None:
        drafts.set_status(db, draft_id, "approved", "auto: all gates passed")
        return "approved"
    drafts.set_status(db, draft_id, "pending_review", why or "manual review")
    return "pending_review"
