"""The publish job: approved drafts → their platforms, exactly once each (ledger row before the action, read back
after it, reconcile before any new attempt), one browser for the run, AuthExpired stopping only its platform."""

from __future__ import annotations

from typing import Any

import sqlite_utils
from loguru import logger

from bot.core import drafts as drafts_mod
from bot.core import ledger
from bot.core.config import Config
from bot.core.errors import AuthExpired, BlogbotError, InputError, SelectorNotFound, TransientError
from bot.core.records import Draft
from bot.core.runlog import Run, job_run
from bot.core.store import loads, row
from platforms.publishkit import checkpoint

LOGIN_FIX = "run `blogbot login {p}` (on a desktop; copy data/sessions/{p}.json to this machine if needed)"


def targets(cfg: Config, db: sqlite_utils.Database, d: dict[str, Any], only: str | None = None) -> list[str]:
    """The draft's platforms: its topic's `platforms`, else publish.default_platforms; enabled ones only."""
    topic = row(db, "select platforms from topics where id = ?", (d.get("topic_id"),)) if d.get("topic_id") else None
    wanted = loads(topic["platforms"], []) if topic else []
    out = []
    for p in wanted or cfg.publish.default_platforms:
        pc = getattr(cfg.publish, p, None)
        if pc is None or not hasattr(pc, "enabled"):
            logger.warning("draft {}: unknown platform {!r} ignored", d["id"], p)
        elif not pc.enabled:
            logger.info("draft {}: platform {} is not enabled (publish.{}.enabled)", d["id"], p, p)
        elif only is None or p == only:
            out.append(p)
    return out


def to_draft(cfg: Config, d: dict[str, Any], platform: str) -> Draft:
    pc = getattr(cfg.publish, platform)
    return Draft(id=d["id"], title=d["title"] or "", body_markdown=d["body_markdown"] or "", tags=d["tags"] or [],
                 category=pc.category, visibility=pc.visibility, key=d.get("publish_key") or f"bb-d{d['id']}")


class _Publishers:
    """One publisher (and browser context) per platform for the run, created on first need."""

    def __init__(self, cfg: Config, browser: Any) -> None:
        self.cfg, self.browser, self.cache = cfg, browser, {}

    def get(self, platform: str) -> Any:
        if platform not in self.cache:
            import platforms
            from platforms.browser import session_path

            if platform != "sandbox" and not session_path(self.cfg, platform).exists():
                raise AuthExpired(platform, "no saved login")
            pc = getattr(self.cfg.publish, platform)
            ctx = self.browser.context(platform)
            self.cache[platform] = platforms.get(platform).publisher(self.cfg, ctx, base_url=pc.base_url,
                                                                      account=pc.account)
        return self.cache[platform]

    def keep_sessions(self, blocked: dict[str, str]) -> None:
        """Save the contexts' cookies back (sites refresh tokens on use, e.g. Velog's access_token)."""
        from platforms.browser import session_path
        from platforms.session import save_state

        for platform, pub in self.cache.items():
            if platform != "sandbox" and platform not in blocked and session_path(self.cfg, platform).exists():
                try:
                    save_state(self.cfg, platform, pub.ctx.storage_state())
                except Exception as exc:  # the old file stays; the run's result does not depend on this
                    logger.warning("{}: could not save the refreshed session: {}", platform, exc)


def run(cfg: Config, db: sqlite_utils.Database, dry_run: bool = False, platform: str | None = None,
        draft_id: int | None = None, browser: Any = None) -> dict[str, int]:
    """Publish approved drafts (or the one `draft_id`); returns counts (published, reconciled, paced, ...).
    `browser`: a started Playwright Browser to reuse (tests, benchmarks); by default one is started for the run."""
    from platforms.browser import BrowserSession

    with job_run(db, "publish", dry_run=dry_run, platform=platform, draft_id=draft_id) as run_:
        if draft_id is not None:
            todo = [drafts_mod.get(db, draft_id)]
            if todo[0]["status"] not in ("approved", "published"):
                raise InputError(f"draft {draft_id} is {todo[0]['status']}, not approved (`blogbot review` first)")
        else:
            todo = drafts_mod.by_status(db, "approved")
        if not todo:
            run_.status = "skipped"
            logger.info("publish: no approved draft")
            return {}
        blocked: dict[str, str] = {}
        with BrowserSession(cfg, browser=browser) as session:
            pubs = _Publishers(cfg, session)
            for d in todo:
                plats = targets(cfg, db, d, platform)
                if not plats:
                    run_.count("no_platform")
                    continue
                done = [_one(cfg, db, pubs, d, p, dry_run, blocked, run_) for p in plats]
                if all(done) and not dry_run and d["status"] != "published":
                    drafts_mod.set_status(db, d["id"], "published")
                    logger.info("draft {} published on {}", d["id"], ", ".join(plats))
            pubs.keep_sessions(blocked)
        if blocked:
            run_.details["needs_login"] = sorted(blocked)
            run_.status = "partial"
        return dict(run_.counts)


def _one(cfg: Config, db: sqlite_utils.Database, pubs: _Publishers, d: dict[str, Any], plat: str, dry_run: bool,
         blocked: dict[str, str], run_: Run) -> bool:
    """One draft on one platform. True when it is (now) published there."""
    cur = ledger.get(db, d["id"], plat)
    if cur and cur["state"] == "published":
        return True
    if plat in blocked:
        run_.count(f"{plat}_blocked")
        return False
    pub_id = None
    try:
        pub = pubs.get(plat)
        draft = to_draft(cfg, d, plat)
        if cur and (cur["attempts"] or 0) > 0:  # an earlier attempt may have gone out: look before acting
            found = pub.find_published(draft)
            if found:
                if not dry_run:
                    ledger.record_found(db, d["id"], plat, found.url, found.remote_id)
                logger.info("draft {} on {}: already live at {} (reconciled, not published again)", d["id"], plat,
                            found.url)
                run_.count("reconciled")
                return True
            logger.info("draft {} on {}: earlier attempt left no post on the blog; publishing", d["id"], plat)
        if not dry_run:
            wait = ledger.pacing_wait(cfg, db, plat)
            if wait:
                logger.info("draft {} on {}: {}", d["id"], plat, wait)
                run_.count("paced")
                return False
        if dry_run:
            pub.publish(draft, dry_run=True)
            logger.info("draft {} on {}: dry run complete (everything but the publish action)", d["id"], plat)
            run_.count("dry_run")
            return False
        pub_id = ledger.begin(db, d["id"], plat)
        result = pub.publish(draft)
        checkpoint("after_click")
        ledger.mark_published(db, pub_id, result.url, result.remote_id)
        checkpoint("after_update")
        logger.info("draft {} published on {}: {}", d["id"], plat, result.url)
        run_.count("published")
        return True
    except AuthExpired as exc:
        blocked[plat] = str(exc)
        ledger.mark_needs_login(db, d["id"], plat, str(exc))
        logger.error("{}: login needed, stopping this platform for the run: {}", plat, LOGIN_FIX.format(p=plat))
        run_.count("needs_login")
    except SelectorNotFound as exc:
        blocked[plat] = str(exc)  # the UI changed: every post would fail the same way
        _fail(db, d, plat, pub_id, exc, exc.artifacts)
        run_.count("failed")
    except (TransientError, BlogbotError) as exc:
        _fail(db, d, plat, pub_id, exc, _artifacts(pubs, plat))
        run_.count("failed")
    except Exception as exc:  # a Playwright error or a bug: keep the page, record it, go on with the others
        _fail(db, d, plat, pub_id, exc, _artifacts(pubs, plat))
        run_.count("failed")
    return False


def _artifacts(pubs: _Publishers, plat: str) -> str | None:
    pub = pubs.cache.get(plat)
    try:
        return pub.artifacts("error") if pub is not None and hasattr(pub, "artifacts") else None
    except Exception:
        return None


def _fail(db: sqlite_utils.Database, d: dict[str, Any], plat: str, pub_id: int | None, exc: BaseException,
          artifacts: str | None) -> None:
    err = f"{type(exc).__name__}: {exc}"
    if pub_id is not None:
        ledger.mark(db, pub_id, "failed", err, artifacts)
    where = f" (page saved under {artifacts})" if artifacts and artifacts not in err else ""
    logger.error("draft {} on {} failed: {}{}", d["id"], plat, err, where)
