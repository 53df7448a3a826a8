"""What the desk's pages share: the config and the store of the request, the catalog's `_`, local times, the
version, and jobs started in the background."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from flask import Flask, current_app, g
from loguru import logger

from bot.core.clock import local, parse_ts
from bot.core.config import Config
from bot.shell.desk import i18n


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _v

    try:
        return _v("blogbot")
    except PackageNotFoundError:
        return "0+unknown"


def when(cfg: Config, ts: str | datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time as the person reads it: in schedule.timezone."""
    if not ts:
        return ""
    dt = ts if isinstance(ts, datetime) else parse_ts(ts)
    return local(dt, cfg.schedule.timezone).strftime(fmt)


def cfg() -> Config:
    return current_app.config["CFG"]


def db() -> Any:
    """The store for this request (opened once, closed when the request ends)."""
    if "db" not in g:
        from bot.core.store import open_db

        g.db = open_db(cfg().data_path)
    return g.db


def _(text: str, **kw: Any) -> str:
    """A message of the catalog in the request's language (for flash-like messages built in Python)."""
    out = i18n.gettext_for(g.get("lang", i18n.DEFAULT))(text)
    return out % kw if kw else out


def start_job(name: str, label: str, **options: Any) -> None:
    """Run a job (jobs.run_job, as the CLI and the scheduler do) in a background thread with its own store
    connection; its run row and log lines show on the run log."""
    app_cfg: Config = current_app.config["CFG"]
    jobs_running: dict[str, str] = current_app.config["JOBS"]
    if name in jobs_running:
        from bot.core.errors import InputError

        raise InputError(_("A %(job)s job started here is still running.", job=name))

    def work() -> None:
        from bot.core.store import open_db
        from bot.shell.notify import emitter
        from jobs import run_job

        conn = open_db(app_cfg.data_path)
        try:
            run_job(name, app_cfg, conn, events=emitter(app_cfg), **options)
        except Exception as exc:  # recorded in the run log by the job itself; the desk shows it there
            logger.warning("desk: {} failed: {}", label, exc)
        finally:
            conn.close()
            jobs_running.pop(name, None)

    jobs_running[name] = label
    t = threading.Thread(target=work, daemon=True, name=f"desk-{name}")
    current_app.config["THREADS"].append(t)
    t.start()


def running_jobs(app: Flask) -> dict[str, str]:
    return dict(app.config["JOBS"])
