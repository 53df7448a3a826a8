"""What every CLI command shares: the loaded config, the open store, logging set up once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.core.config import Config


@dataclass
class State:
    config_path: Path | None = None
    verbose: bool = False
    _cfg: Config | None = field(default=None, repr=False)
    _db: sqlite_utils.Database | None = field(default=None, repr=False)


state = State()


def cfg() -> Config:
    if state._cfg is None:
        from platforms import load_config

        state._cfg = load_config(state.config_path)
    return state._cfg


def db() -> sqlite_utils.Database:
    """The store, opened (and migrated) on first use; logging to the data dir starts with it."""
    if state._db is None:
        from bot.core.runlog import setup_logging
        from bot.core.store import open_db

        c = cfg()
        state._db = open_db(c.data_path)
        setup_logging(c.data_path, level="DEBUG" if state.verbose else "INFO")
    return state._db


def reset() -> None:
    """Forget the loaded config and store (tests run many commands in one process)."""
    if state._db is not None:
        state._db.close()
    state.config_path, state.verbose, state._cfg, state._db = None, False, None, None


def run_job(fn: Any, **options: Any) -> Any:
    """Run a job exactly as the scheduler does (jobs.run_job: the same function, its announcements sent to the
    configured webhooks), on the CLI's config and store."""
    from bot.shell.notify import emitter
    from jobs import run_job as _run

    c = cfg()
    return _run(fn, c, db(), events=emitter(c), **options)
