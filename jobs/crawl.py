"""The crawl job: read every configured source's posts into the store (full or incremental), politely."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

import sqlite_utils
from loguru import logger

from bot.core import posts
from bot.core.clock import Clock, now, utcnow
from bot.core.config import Config, Source
from bot.core.errors import BlogbotError, InputError
from bot.core.events import Events, ignore
from bot.core.posts import mark_gone, save_post
from bot.core.records import PostRef
from bot.core.runlog import Run, job_run
from platforms.base import Reader
from platforms.http import Fetched, PoliteClient, PostGone

MAX_RECORDED_FAILURES = 200
COUNT_KEYS = ("new", "updated", "unchanged", "duplicate", "gone", "failed")


def _fail(run: Run, src: Source, url: str, exc: BaseException) -> None:
    """A page that could not be read: counted, logged with its URL, listed in the run details; nothing stored."""
    run.count("failed")
    msg = str(exc) if isinstance(exc, BlogbotError) else f"{type(exc).__name__}: {exc}"
    logger.warning("{} {}: failed {}: {}", src.platform, src.account, url, msg)
    fails = run.details.setdefault("failures", [])
    if len(fails) < MAX_RECORDED_FAILURES:
        fails.append({"platform": src.platform, "account": src.account, "url": url, "error": msg})


def _listing(reader: Any, src: Source, db: sqlite_utils.Database, known: dict[str, dict], full: bool,
             run: Run) -> tuple[list[PostRef], set[str], bool]:
    """The refs to fetch, every ref id seen, and whether the listing ran to its end without error."""
    todo: list[PostRef] = []
    seen: set[str] = set()
    try:
        for ref in reader.list_posts(full=full):
            if ref.source_id in seen:
                continue
            seen.add(ref.source_id)
            k = known.get(ref.source_id)
            done = k and (k["outcome"] == "duplicate" or posts.is_live(db, src.platform, k["post_source_id"]))
            if not full and done and (ref.updated_hint is None or ref.updated_hint == k["hint"]):
                run.count("unchanged")
                logger.info("{} {}: reached stored post {}; incremental crawl stops", src.platform, src.account,
                            ref.url)
                return todo, seen, False
            todo.append(ref)
    except Exception as exc:  # noqa: BLE001 - a broken listing is recorded; other sources go on
        _fail(run, src, f"{src.platform} listing of {src.account}", exc)
        return todo, seen, False
    return todo, seen, True


def _fetch(reader: Reader, ref: PostRef, k: dict | None) -> Fetched:
    return reader.fetch_conditional(ref, (k or {}).get("etag"), (k or {}).get("last_modified"))


def crawl_source(cfg: Config, db: sqlite_utils.Database, src: Source, client: PoliteClient, full: bool,
                 run: Run) -> None:
    """List one source, fetch what is new (or everything on a full crawl), store, mark what went away."""
    import platforms
    from bot.core.console import progress

    reader: Reader = platforms.reader(cfg, src, client)
    table = db["crawl_refs"]
    known = {r["ref_id"]: r for r in table.rows_where("platform = ? and account = ?", [src.platform, src.account])}
    todo, seen, complete = _listing(reader, src, db, known, full, run)
    logger.info("{} {}: {} to fetch ({} listed, {} crawl)", src.platform, src.account, len(todo), len(seen),
                "full" if full else "incremental")
    with progress() as bar, ThreadPoolExecutor(max_workers=cfg.crawl.per_host_concurrency) as pool:
        task = bar.add_task(f"{src.platform} {src.account}", total=len(todo), info="")
        # validators only for posts stored live: a post marked gone must be read again in full
        validators = {ref.source_id: k for ref in todo if (k := known.get(ref.source_id))
                      and posts.is_live(db, src.platform, k["post_source_id"])}
        futures = {pool.submit(_fetch, reader, ref, validators.get(ref.source_id)): ref for ref in todo}
        for fut in as_completed(futures):
            ref = futures[fut]
            k = known.get(ref.source_id) or {}
            bar.advance(task)
            try:
                got = fut.result()
            except PostGone as gone:
                sid = k.get("post_source_id") or ref.source_id
                if mark_gone(db, src.platform, sid, gone.status):
                    run.count("gone")
                    logger.info("{} {}: {} is {} — marked", src.platform, src.account, ref.url, gone.status)
                continue
            except Exception as exc:  # noqa: BLE001 - recorded with its URL; the crawl goes on
                _fail(run, src, ref.url, exc)
                continue
            row = {"platform": src.platform, "account": src.account, "ref_id": ref.source_id, "url": ref.url,
                   "hint": ref.updated_hint, "etag": got.etag, "last_modified": got.last_modified, "seen_at": now(),
                   "post_source_id": got.post.source_id if got.post else k.get("post_source_id")}
            with db.conn:
                if got.not_modified:
                    outcome = "unchanged"
                else:
                    outcome, _ = save_post(db, got.post, etag=got.etag, last_modified=got.last_modified)
                run.count(outcome)
                table.upsert({**row, "outcome": outcome}, pk=("platform", "account", "ref_id"))
            bar.update(task, info=f"new {run.counts['new']} · failed {run.counts['failed']}")
    if full and complete:
        for ref_id, k in known.items():
            if ref_id not in seen and k["post_source_id"] and mark_gone(db, src.platform, k["post_source_id"]):
                run.count("gone")
                logger.info("{} {}: {} no longer listed — marked deleted", src.platform, src.account, k["url"])


def run(cfg: Config, db: sqlite_utils.Database, *, clock: Clock = utcnow, events: Events = ignore,
        platform: str | None = None, full: bool = False, client: PoliteClient | None = None) -> dict[str, int]:
    """Crawl every source in `cfg.sources` (or those of `platform`). Returns counts new/updated/unchanged/..."""
    import platforms

    if platform is not None and platform not in platforms.names(reads=True):
        raise InputError(f'--platform: no readable platform named "{platform}"; '
                         f'known: {", ".join(platforms.names(reads=True))}')
    sources = [s for s in cfg.sources if platform is None or s.platform == platform]
    with job_run(db, "crawl", platform=platform, full=full) as r:
        for key in COUNT_KEYS:
            r.counts[key] += 0
        if not sources:
            r.status = "skipped"
            logger.info("no sources configured{}; add `sources:` to the config", f" for {platform}" if platform else "")
            return dict(r.counts)
        own = client is None
        client = client or PoliteClient(cfg.crawl)
        try:
            for src in sources:
                crawl_source(cfg, db, src, client, full, r)
        finally:
            r.details["requests"] = dict(Counter(client.requests))
            if own:
                client.close()
        if r.counts["failed"]:
            r.status = "partial"
        return dict(r.counts)
