"""The ingest job: read local files (Markdown, text, HTML, WXR) into the posts table, incrementally."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils
from loguru import logger

from bot.core.clock import Clock, now, utcnow
from bot.core.config import Config
from bot.core.console import progress
from bot.core.errors import BlogbotError, disk_full
from bot.core.events import Events, ignore
from bot.core.posts import save_post
from bot.core.records import Post
from bot.core.runlog import Run, job_run
from bot.core.store import transaction
from platforms import files


@dataclass
class _Pending:
    path: Path
    size: int
    mtime_ns: int
    file_hash: str
    posts: list[Post] | None  # None: same bytes as last time, only the stat changed


def _scan(db: sqlite_utils.Database, cfg: Config, paths: list[Path], counts: Counter) -> list[_Pending]:
    """Read and parse every new or changed file first, so that a bad file stops the run before any write."""
    pending = []
    for path in files.find_files(paths, cfg.ingest.extensions):
        st = path.stat()
        key = str(path.resolve())
        known = db["files"].get(key) if db["files"].count_where("path = ?", [key]) else None
        if known and known["size"] == st.st_size and known["mtime_ns"] == st.st_mtime_ns:
            counts["unchanged"] += 1
            continue
        posts = files.read_file(path, cfg.ingest.max_file_bytes)
        file_hash = hashlib.sha256(path.read_bytes()).hexdigest()
        same = known is not None and known["file_hash"] == file_hash
        pending.append(_Pending(path, st.st_size, st.st_mtime_ns, file_hash, None if same else posts))
    return pending


def run(cfg: Config, db: sqlite_utils.Database, *, clock: Clock = utcnow, events: Events = ignore,
        paths: list[Path]) -> dict[str, int]:
    """Ingest files and folders. Returns the counts (new, updated, unchanged, duplicate).

    Every file is read and parsed before anything is written; then the whole run (its posts, its files rows and
    its `runs` row) is one transaction: a full disk or any error leaves the store exactly as it was."""
    seen: Counter = Counter()
    try:
        pending = _scan(db, cfg, paths, seen)
    except Exception:  # a bad or missing file: nothing written, the run is in the log as failed with why
        with job_run(db, "ingest", paths=[str(p) for p in paths]):
            raise
    try:
        with transaction(db), job_run(db, "ingest", paths=[str(p) for p in paths]) as r:
            r.counts.update(seen)
            with progress() as bar:
                task = bar.add_task("ingest", total=len(pending), info="")
                for item in pending:
                    _write(db, item, r)
                    bar.update(task, advance=1, info=item.path.name)
            return dict(r.counts)
    except Exception as exc:
        full = next((e for e in _chain(exc) if disk_full(e)), None)
        if full is not None:  # (recording the failed run may fail in turn: the full disk is the cause)
            raise BlogbotError(f"the data dir {cfg.data_path} is full or not writable ({type(full).__name__}: "
                               f"{full}); nothing of this ingest was kept; free some space and run it again") from None
        raise


def _chain(exc: BaseException | None) -> list[BaseException]:
    out = []
    while exc is not None and len(out) < 10:
        out.append(exc)
        exc = exc.__context__
    return out


def _write(db: sqlite_utils.Database, item: _Pending, r: Run) -> None:
    if item.posts is None:
        r.count("unchanged")
    for post in item.posts or []:
        outcome, post_id = save_post(db, post)
        r.count(outcome)
        if outcome == "duplicate":
            logger.info("{}: same text as post #{}, skipped", item.path, post_id)
    db["files"].upsert({"path": str(item.path.resolve()), "size": item.size, "mtime_ns": item.mtime_ns,
                        "file_hash": item.file_hash, "source_id": str(item.path.resolve()), "seen_at": now()},
                       pk="path")
