"""The publish job: approved drafts → their platforms, exactly once each (ledger row before the action, read back
after it, reconcile before any new attempt), one browser for the run, AuthExpired stopping only its platform."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any

import sqlite_utils
from filelock import FileLock, Timeout
from loguru import logger

from bot.core import drafts as drafts_mod
from bot.core import ledger, runlog
from bot.core.clock import Clock, iso, utcnow
from bot.core.config import Config
from bot.core.errors import AuthExpired, BlogbotError, InputError, SelectorNotFound, TransientError, disk_full
from bot.core.events import Events, ignore
from bot.core.records import Draft
from bot.core.runlog import Run, job_run
from platforms.publishkit import checkpoint

LOCK_NAME = "publish.lock"
OWNER_NAME = "publish.lock.owner"
LOGIN_FIX = "run `blogbot login {p}` (on a desktop; copy data/sessions/{p}.json to this machine if needed)"


def targets(cfg: Config, d: dict[str, Any], only: str | None = None) -> list[str]:
    """The draft's platforms as decided when it was written (publish.default_platforms for older drafts);
    enabled ones only."""
    out = []
    for p in d.get("platforms") or cfg.publish.defaults():
        pc = cfg.publish.get(p)
        if pc is None:
            logger.warning("draft {}: unknown platform {!r} ignored", d["id"], p)
        elif not pc.enabled:
            logger.info("draft {}: platform {} is not enabled (publish.{}.enabled)", d["id"], p, p)
        elif only is None or p == only:
            out.append(p)
    return out


def to_draft(cfg: Config, d: dict[str, Any], platform: str) -> Draft:
    pc = cfg.publish.get(platform)
    return Draft(id=d["id"], title=d["title"] or "", body_markdown=d["body_markdown"] or "", tags=d["tags"] or [],
                 category=pc.category, visibility=pc.visibility, key=d.get("publish_key") or f"bb-d{d['id']}")


class _Publishers:
    """One publisher (and browser context) per platform for the run, created on first need; the browser is started
    only when the first real publisher is needed."""

    def __init__(self, cfg: Config, browser: Any = None, factory: Any = None) -> None:
        self.cfg, self.browser, self.factory, self.cache = cfg, browser, factory, {}
        self.session: Any = None

    def __enter__(self) -> _Publishers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.session is not None:
            self.session.__exit__(*exc)

    def get(self, platform: str) -> Any:
        if platform not in self.cache:
            if self.factory is not None:
                self.cache[platform] = self.factory(platform)
                return self.cache[platform]
            import platforms
            from platforms.browser import BrowserSession

            if self.session is None:
                self.session = BrowserSession(self.cfg, browser=self.browser).__enter__()
            self.cache[platform] = platforms.publisher(self.cfg, platform, self.session)
        return self.cache[platform]

    def keep_sessions(self, blocked: dict[str, str]) -> None:
        """Save the contexts' cookies back (sites refresh tokens on use, e.g. Velog's access_token)."""
        from platforms import session

        for platform, pub in self.cache.items():
            if platform not in blocked and self.factory is None:
                session.keep(self.cfg, platform, pub)


def run(cfg: Config, db: sqlite_utils.Database, *, clock: Clock = utcnow, events: Events = ignore,
        dry_run: bool = False, platform: str | None = None, draft_id: int | None = None, browser: Any = None,
        publishers: Any = None, wait_s: float | None = None) -> dict[str, int]:
    """Publish approved drafts (or the one `draft_id`) on their platforms, paced per platform as of `clock()`;
    returns counts (published, reconciled, paced, ...). Each publication that goes out, fails or needs a login is
    announced. A run with nothing approved, or with every platform paced, is logged as skipped and starts no
    browser. `browser`: a started Playwright Browser to reuse (tests, benchmarks); `publishers(platform)`: the
    publisher to use (tests pass fakes; by default a driver in a browser context started for the run).

    One publish run at a time per data dir, whoever starts it (CLI, scheduler, review desk): the run holds
    <data_dir>/publish.lock; another waits up to `wait_s` (default publish.lock_wait_s) and then returns
    {"busy": 1}, its run logged as skipped with the holder's pid."""
    lock = FileLock(str(cfg.data_path / LOCK_NAME))
    wait = cfg.publish.lock_wait_s if wait_s is None else wait_s
    try:
        lock.acquire(timeout=wait, poll_interval=0.2)
    except Timeout:
        reason = f"another publish run holds {cfg.data_path / LOCK_NAME} ({holder(cfg)}); waited {wait:g} s"
        runlog.skipped(db, "publish", reason, platform=platform, draft_id=draft_id)
        return {"busy": 1}
    try:
        (cfg.data_path / OWNER_NAME).write_text(f"pid {os.getpid()} on {socket.gethostname()} since {iso(utcnow())}")
        return _run(cfg, db, clock, events, dry_run, platform, draft_id, browser, publishers)
    finally:
        lock.release()


def claim(cfg: Config, db: sqlite_utils.Database, draft_id: int, platform: str) -> str:
    """A person says the post held as "possibly already published" IS this draft's: the publication becomes
    `published` with that URL (nothing is posted), and the draft `published` once all its platforms are.
    Returns the URL."""
    cur = ledger.get(db, draft_id, platform)
    if cur is None or cur["state"] != "uncertain" or not cur["url"]:
        state = cur["state"] if cur else "not published there"
        raise InputError(f"draft {draft_id} on {platform}: {state}; only a publication held as possibly already "
                         "published (uncertain) can be claimed")
    lock = FileLock(str(cfg.data_path / LOCK_NAME))
    try:
        lock.acquire(timeout=cfg.publish.lock_wait_s)
    except Timeout:
        raise InputError(f"another publish run holds {cfg.data_path / LOCK_NAME} ({holder(cfg)}); try again "
                         "when it ends") from None
    try:
        with db.conn:
            ledger.record_found(db, draft_id, platform, cur["url"], cur["remote_id"])
            d = drafts_mod.get(db, draft_id)
            if ledger.all_published(db, draft_id, targets(cfg, d)):
                drafts_mod.set_status(db, draft_id, "published", reason=f"{platform}: claimed {cur['url']}")
            elif d["status"] == "pending_review":  # held only for this: its other platforms are due again
                drafts_mod.set_status(db, draft_id, "approved", reason=f"{platform}: claimed {cur['url']}")
    finally:
        lock.release()
    logger.info("draft {} on {}: {} claimed as its post by a person", draft_id, platform, cur["url"])
    return cur["url"]


def holder(cfg: Config) -> str:
    """Who holds the publish lock of the data dir (pid, host, since), as written when it took it."""
    try:
        return (cfg.data_path / OWNER_NAME).read_text().strip()
    except OSError:
        return "holder unknown"


def _run(cfg: Config, db: sqlite_utils.Database, clock: Clock, events: Events, dry_run: bool, platform: str | None,
         draft_id: int | None, browser: Any, publishers: Any) -> dict[str, int]:
    if draft_id is not None:
        todo = [drafts_mod.get(db, draft_id)]
        if todo[0]["status"] not in ("approved", "published"):
            raise InputError(f"draft {draft_id} is {todo[0]['status']}, not approved (`blogbot review` first)")
    else:
        todo = drafts_mod.by_status(db, "approved")
    if not todo:
        runlog.skipped(db, "publish", "no approved draft", platform=platform)
        return {}
    wanted = sorted({p for d in todo for p in targets(cfg, d, platform)})
    free = [p for p in wanted if dry_run or not _paced(cfg, db, p, clock())]
    if wanted and not free:
        runlog.skipped(db, "publish", "every platform is paced: " + ", ".join(wanted), platform=platform)
        return {}
    with job_run(db, "publish", dry_run=dry_run, platform=platform, draft_id=draft_id) as run_:
        blocked: dict[str, str] = {}
        with _Publishers(cfg, browser, publishers) as pubs:
            for d in {d["id"]: d for d in todo}.values():
                plats = targets(cfg, d, platform)
                if not plats:
                    run_.count("no_platform")
                    continue
                for p in plats:
                    _one(cfg, db, pubs, d, p, dry_run, blocked, run_, clock, events)
                every = targets(cfg, d)  # publication state is per (draft, platform): the rest stay due
                if not dry_run and d["status"] != "published" and ledger.all_published(db, d["id"], every):
                    drafts_mod.set_status(db, d["id"], "published")
                    logger.info("draft {} published on {}", d["id"], ", ".join(every))
            pubs.keep_sessions(blocked)
        if blocked:
            run_.details["needs_login"] = sorted(blocked)
        run_.status = outcome(run_.counts, bool(blocked))
        return dict(run_.counts)


def outcome(counts: dict[str, int], blocked: bool = False) -> str:
    """The run's status from its counts: ok; partial when something failed, waits for a login or a person while
    something else went out; failed when nothing went out and something failed or waits for a login."""
    went = counts.get("published", 0) + counts.get("reconciled", 0)
    stuck = counts.get("failed", 0) + counts.get("needs_login", 0) + int(blocked)
    held = counts.get("uncertain", 0) + counts.get("in_flight", 0)
    if stuck and not went:
        return "failed"
    return "partial" if stuck or held else "ok"


def _paced(cfg: Config, db: sqlite_utils.Database, platform: str, at: datetime) -> bool:
    held = ledger.pacing_wait(cfg, db, platform, at)
    if held:
        logger.info("publish {}: {}", platform, held)
    return bool(held)


def _one(cfg: Config, db: sqlite_utils.Database, pubs: _Publishers, d: dict[str, Any], plat: str, dry_run: bool,
         blocked: dict[str, str], run_: Run, clock: Clock, events: Events) -> bool:
    """One draft on one platform. True when it is (now) published there."""
    cur = ledger.get(db, d["id"], plat)
    if cur and cur["state"] == "published":
        return True
    if plat in blocked:
        run_.count(f"{plat}_blocked")
        return False
    holder = ledger.live_owner(cur)
    if holder:  # another live process is publishing this very row: never a leftover
        logger.warning("draft {} on {}: being published right now by {}; left to it", d["id"], plat, holder)
        run_.count("in_flight")
        return False
    pub_id = None
    try:
        pub = pubs.get(plat)
        draft = to_draft(cfg, d, plat)
        if cur and ((cur["attempts"] or 0) > 0 or cur["state"] == "uncertain"):  # look before acting
            found = pub.find_published(draft)
            if found and found.verified:  # the post carries this draft's own key
                if not dry_run:
                    ledger.record_found(db, d["id"], plat, found.url, found.remote_id, iso(clock()))
                logger.info("draft {} on {}: already live at {} (reconciled, not published again)", d["id"], plat,
                            found.url)
                run_.count("reconciled")
                return True
            if found and not found.verified and (other := ledger.claimed_by(db, plat, found.url, d["id"])):
                logger.info("draft {} on {}: {} looks like it but is draft {}'s post", d["id"], plat, found.url, other)
                found = None
            if found and not _released(d, cur):
                why = (f"possibly already published at {found.url} (same title and opening, no blogbot key); open "
                       f"it: if it is this draft, `blogbot publish {d['id']} --platform {plat} --claim`; if not, "
                       "approve the draft again to publish it")
                if not dry_run:
                    ledger.mark_uncertain(db, d["id"], plat, found.url, why)  # wall clock: compared with approval
                    drafts_mod.set_status(db, d["id"], "pending_review", reason=f"{plat}: {why}")
                logger.warning("draft {} on {}: {}", d["id"], plat, why)
                events("review", f"{plat}: {d['title']} {why}", draft_id=d["id"], platform=plat, url=found.url)
                run_.count("uncertain")
                return False
            logger.info("draft {} on {}: earlier attempt left no post on the blog; publishing", d["id"], plat)
        if not dry_run:
            wait = ledger.pacing_wait(cfg, db, plat, clock())
            if wait:
                logger.info("draft {} on {}: {}", d["id"], plat, wait)
                run_.count("paced")
                return False
        if dry_run:
            pub.publish(draft, dry_run=True)
            shot = pub.artifacts(f"dry-run-{plat}-draft-{d['id']}")  # the filled editor, for the review desk
            logger.info("draft {} on {}: dry run complete (everything but the publish action){}", d["id"], plat,
                        f"; the filled editor is saved under {shot}" if shot else "")
            run_.count("dry_run")
            return False
        pub_id = ledger.begin(db, d["id"], plat, iso(clock()))
        result = pub.publish(draft)
        checkpoint("after_click")
        ledger.heartbeat(db, pub_id)
        ledger.mark_published(db, pub_id, result.url, result.remote_id, iso(clock()))
        checkpoint("after_update")
        logger.info("draft {} published on {}: {}", d["id"], plat, result.url)
        events("published", f"{plat}: {d['title']} {result.url}", draft_id=d["id"], platform=plat, url=result.url)
        run_.count("published")
        return True
    except AuthExpired as exc:
        blocked[plat] = str(exc)
        ledger.mark_needs_login(db, d["id"], plat, str(exc), iso(clock()))
        logger.error("{}: login needed, stopping this platform for the run: {}", plat, LOGIN_FIX.format(p=plat))
        events("needs_login", f"{plat}: {d['title']} run `blogbot login {plat}`", draft_id=d["id"], platform=plat)
        run_.count("needs_login")
    except SelectorNotFound as exc:
        blocked[plat] = str(exc)  # the UI changed: every post would fail the same way
        _fail(db, d, plat, pub_id, exc, exc.artifacts, events)
        run_.count("failed")
    except (TransientError, BlogbotError) as exc:
        _fail(db, d, plat, pub_id, exc, _artifacts(pubs, plat), events)
        run_.count("failed")
    except Exception as exc:  # a Playwright error or a bug: keep the page, record it, go on with the others
        if disk_full(exc):  # the store cannot record anything: stop the run (nothing half-recorded), fail it
            raise
        _fail(db, d, plat, pub_id, exc, _artifacts(pubs, plat), events)
        run_.count("failed")
    return False


def _released(d: dict[str, Any], cur: dict[str, Any]) -> bool:
    """A person approved the draft again after it was held as possibly published: publish it anyway."""
    return cur["state"] == "uncertain" and (d.get("updated_at") or "") > (cur.get("updated_at") or "")


def _artifacts(pubs: _Publishers, plat: str) -> str | None:
    pub = pubs.cache.get(plat)
    try:
        return pub.artifacts("error") if pub is not None else None
    except Exception:
        return None


def _fail(db: sqlite_utils.Database, d: dict[str, Any], plat: str, pub_id: int | None, exc: BaseException,
          artifacts: str | None, events: Events) -> None:
    err = f"{type(exc).__name__}: {exc}"
    if pub_id is not None:
        ledger.mark(db, pub_id, "failed", err, artifacts)
    where = f" (page saved under {artifacts})" if artifacts and artifacts not in err else ""
    logger.error("draft {} on {} failed: {}{}", d["id"], plat, err, where)
    if pub_id is not None:
        events("failed", f"{plat}: {d['title']} {err}", draft_id=d["id"], platform=plat, error=err)
