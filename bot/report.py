"""What `blogbot status` reports, gathered from the store as plain data (the CLI renders it)."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from bot.config import Config
from bot.store import loads, row
from bot.topics import counts_by_state


def gather(cfg: Config, db: sqlite_utils.Database) -> dict[str, Any]:
    corpus = {r["platform"]: {"posts": r["n"], "chars": r["chars"] or 0} for r in db.query(
        "select platform, count(*) n, sum(length(body_markdown)) chars from posts where status = 'live' "
        "group by platform order by platform")}
    gone = {r["status"]: r["n"] for r in db.query(
        "select status, count(*) n from posts where status != 'live' group by status")}
    last_runs = list(db.query(
        "select r.job, r.id, r.status, r.started_at, r.finished_at, r.counts, r.error from runs r "
        "join (select job, max(id) id from runs group by job) m on m.id = r.id order by r.job"))
    for r in last_runs:
        r["counts"] = loads(r["counts"], {})
    adapter = row(db, "select version, created_at, base_model, metrics from adapters where status = 'active' "
                      "order by created_at desc limit 1")
    if adapter:
        adapter["metrics"] = loads(adapter["metrics"], {})
    last_pub = row(db, "select p.platform, p.url, p.updated_at, d.title from publications p "
                       "left join drafts d on d.id = p.draft_id where p.state = 'published' "
                       "order by p.updated_at desc limit 1")
    return {
        "data_dir": str(cfg.data_path),
        "corpus": corpus,
        "corpus_gone": gone,
        "queue": counts_by_state(db),
        "last_runs": last_runs,
        "active_adapter": adapter,
        "last_published": last_pub,
    }
