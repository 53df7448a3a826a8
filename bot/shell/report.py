"""What `blogbot status` reports, gathered from the store as plain data (the CLI renders it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from bot.core.config import Config
from bot.core.store import loads, row
from bot.core.topics import counts_by_state


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
        "model_usage": model_usage(db),
        **watchdog(cfg, db),
    }


def model_usage(db: sqlite_utils.Database) -> dict[str, Any]:
    """Tokens (and cost where known) of the drafts whose backend reported usage, in total and per model."""
    out: dict[str, Any] = {"drafts": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": None, "by_model": {}}
    if "drafts" not in db.table_names():
        return out
    for r in db.query("select params from drafts where params like '%\"usage\"%'"):
        p = loads(r["params"], {}) or {}
        u = p.get("usage") or {}
        if not u:
            continue
        name = p.get("model") or p.get("gguf") or p.get("backend") or "?"
        m = out["by_model"].setdefault(name, {"drafts": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": None})
        for d in (out, m):
            d["drafts"] += 1
            d["prompt_tokens"] += int(u.get("prompt_tokens") or 0)
            d["completion_tokens"] += int(u.get("completion_tokens") or 0)
            if u.get("cost") is not None:
                d["cost"] = round((d["cost"] or 0.0) + float(u["cost"]), 6)
    return out


# --- watchdog: what a person must look at --------------------------------------------------------------------


def watchdog(cfg: Config, db: sqlite_utils.Database, at: datetime | None = None) -> dict[str, Any]:
    """Last publish per platform, drafts waiting for review, logins needed, next runs, and the warnings that make
    `blogbot status --check` fail (long silence, a login needed, a job failing again and again)."""
    from bot.core.ledger import last_success, needing_login
    from bot.shell.scheduler import holder, upcoming

    at = at or datetime.now(UTC)
    by_platform = dict(sorted(last_success(db).items()))
    review = [{"id": r["id"], "title": r["title"], "created_at": r["created_at"]} for r in db.query(
        "select id, title, created_at from drafts where status = 'pending_review' order by id")]
    login = needing_login(db)
    warnings = []
    last = max((_ts(v["at"]) for v in by_platform.values()), default=None)
    first = _ts((row(db, "select min(started_at) t from runs") or {}).get("t"))
    since = last or first
    if since and at - since > cfg.max_silence():
        what = f"since {since.isoformat(timespec='minutes')}" if last else "ever (first run " + since.isoformat(
            timespec="minutes") + ")"
        warnings.append(f"nothing published {what}: more than {cfg.watchdog.max_silence_days:g} days "
                        "(see `blogbot log --failed` and `blogbot review`)")
    for p in login:
        warnings.append(f"{p} needs a login: run `blogbot login {p}`")
    n = cfg.watchdog.max_failed_runs
    for job in [r["job"] for r in db.query("select distinct job from runs")]:
        recent = list(db.query("select status, error from runs where job = ? and status != 'running' "
                               "order by id desc limit ?", (job, n)))
        if len(recent) == n and all(r["status"] == "failed" for r in recent):
            warnings.append(f"job {job} failed its last {n} runs: {recent[0]['error']}")
    h = holder(cfg.data_path)
    return {
        "last_publish_by_platform": by_platform,
        "review_waiting": review,
        "needs_login": login,
        "next_runs": {j["job"]: j["next_run"] for j in upcoming(cfg, at)},
        "scheduler": h,
        "warnings": warnings,
    }


def _ts(value: str | None) -> datetime | None:
    if not value:
        return None
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
