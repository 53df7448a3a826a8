"""What `blogbot status` reports, gathered from the store as plain data (the CLI renders it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from bot.core import adapters, drafts, ledger, posts, runlog
from bot.core.clock import parse_ts
from bot.core.config import Config
from bot.core.topics import counts_by_state


def gather(cfg: Config, db: sqlite_utils.Database) -> dict[str, Any]:
    corpus, gone = posts.corpus_summary(db)
    last_pub = ledger.last_published(db)
    if last_pub:
        last_pub["title"] = drafts.title(db, last_pub.pop("draft_id"))
    return {
        "data_dir": str(cfg.data_path),
        "corpus": corpus,
        "corpus_gone": gone,
        "queue": counts_by_state(db),
        "last_runs": runlog.last_of_each(db),
        "active_adapter": adapters.active_summary(db),
        "last_published": last_pub,
        "held_back": drafts.held_back(db),
        "model_usage": model_usage(db),
        **watchdog(cfg, db),
    }


def model_usage(db: sqlite_utils.Database) -> dict[str, Any]:
    """Tokens (and cost where known) of the drafts whose backend reported usage, in total and per model."""
    out: dict[str, Any] = {"drafts": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": None, "by_model": {}}
    for p in drafts.params_with_usage(db):
        if not p.get("usage"):
            continue
        name = p.get("model") or p.get("gguf") or p.get("backend") or "?"
        m = out["by_model"].setdefault(name, {"drafts": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": None})
        # every candidate of a best-of-n draft was paid for, not only the one kept
        usages = [p["usage"], *(o.get("usage") or {} for o in p.get("other_candidates") or [])]
        for d in (out, m):
            d["drafts"] += 1
            for u in usages:
                d["prompt_tokens"] += int(u.get("prompt_tokens") or 0)
                d["completion_tokens"] += int(u.get("completion_tokens") or 0)
                if u.get("cost") is not None:
                    d["cost"] = round((d["cost"] or 0.0) + float(u["cost"]), 6)
    return out


def logins_needed(cfg: Config, db: sqlite_utils.Database) -> list[str]:
    """The enabled platforms that cannot publish without a person logging in: no saved login yet (known before
    the first publish), or a publication met the login page after the saved login was written."""
    import platforms
    from platforms.browser import session_path

    out = set()
    for p in platforms.names(login=True):
        pc = cfg.publish.get(p)
        if pc is not None and pc.enabled and not pc.local and not session_path(cfg, p).exists():
            out.add(p)
    for p, t in ledger.needing_login_since(db).items():
        path, met = session_path(cfg, p), parse_ts(t)
        saved = datetime.fromtimestamp(path.stat().st_mtime, UTC) if path.exists() else None
        if saved is None or met is None or saved <= met:
            out.add(p)
    return sorted(out)


# --- watchdog: what a person must look at --------------------------------------------------------------------


def watchdog(cfg: Config, db: sqlite_utils.Database, at: datetime | None = None) -> dict[str, Any]:
    """Last publish per platform, drafts waiting for review, logins needed, next runs, and the warnings that make
    `blogbot status --check` fail (long silence, a login needed, a job failing again and again)."""
    from bot.core.ledger import last_success
    from bot.shell.scheduler import holder, upcoming

    at = at or datetime.now(UTC)
    by_platform = dict(sorted(last_success(db).items()))
    review = drafts.waiting_review(db)
    login = logins_needed(cfg, db)
    warnings = []
    last = max((parse_ts(v["at"]) for v in by_platform.values()), default=None)
    first = parse_ts(runlog.first_started(db))
    since = last or first
    if since and at - since > cfg.max_silence():
        what = f"since {since.isoformat(timespec='minutes')}" if last else "ever (first run " + since.isoformat(
            timespec="minutes") + ")"
        warnings.append(f"nothing published {what}: more than {cfg.watchdog.max_silence_days:g} days "
                        "(see `blogbot log --failed` and `blogbot review`)")
    for p in login:
        warnings.append(f"{p} needs a login: run `blogbot login {p}`")
    n = cfg.watchdog.max_failed_runs
    for job in runlog.jobs(db):
        recent = runlog.recent_ended(db, job, n)
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
