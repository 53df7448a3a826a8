"""Jobs: one plain function per job, the whole policy of that job (which topic, pacing, what to do on a full disk,
what to announce). The CLI and the scheduler call the same function through `run_job`; the scheduler only decides
when. Every job is `run(cfg, db, *, clock, events, **options)`."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import sqlite_utils

from bot.core.clock import Clock, utcnow
from bot.core.config import Config
from bot.core.errors import describe
from bot.core.events import Events, ignore

# The job functions by name, imported only when a job runs (the scheduler never imports torch itself).
JOBS: dict[str, str] = {
    "crawl": "jobs.crawl:run",
    "tune": "jobs.tune:run",
    "draft": "jobs.draft:run",
    "publish": "jobs.publish:run",
    "ingest": "jobs.ingest:run",
}
SCHEDULED = ("crawl", "tune", "draft", "publish")  # the jobs the scheduler runs, in the order `run --once` runs them

JobFn = Callable[..., Any]


def resolve(spec: str | JobFn) -> JobFn:
    """`"module:function"` → the function (imported now); a callable is returned as is."""
    if callable(spec):
        return spec
    mod, _, fn = spec.partition(":")
    return getattr(importlib.import_module(mod), fn)


def get(name: str) -> JobFn:
    if name not in JOBS:
        raise LookupError(f'No job named "{name}"; known: {", ".join(JOBS)}')
    return resolve(JOBS[name])


def run_job(fn: str | JobFn, cfg: Config, db: sqlite_utils.Database, *, name: str | None = None,
            clock: Clock = utcnow, events: Events = ignore, **options: Any) -> Any:
    """Run one job (by name, or its function and `name`) with the clock and the events callback; a job that fails
    is announced (`failed`, the one-line reason) and its error raised on to the caller."""
    if name is None:
        name = fn if isinstance(fn, str) else getattr(fn, "__module__", "job").rpartition(".")[2]
    job = get(fn) if isinstance(fn, str) else fn
    try:
        return job(cfg, db, clock=clock, events=events, **options)
    except Exception as exc:
        events("failed", f"job {name} failed: {describe(exc, cfg.data_path)}", job=name)
        raise
