"""Fake job functions for the scheduler tests: the job contracts (crawl, tune, draft, publish) on a controllable clock.

They write the same rows the real jobs write (runs through job_run, posts, adapters, drafts through bot.core.drafts,
publications with an idempotency key), so the scheduler's side (what fires when, pacing, reconciliation) is tested
against real state. Used in-process and, through `make_registry(...)` specs, in child processes."""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core import drafts, topics
from bot.core.errors import TransientError
from bot.core.runlog import job_run
from bot.core.store import row


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeJobs:
    def __init__(self, clock=None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.calls: Counter = Counter()
        self.fail: set[str] = set()  # job names that raise
        self.posted: list[str] = []  # "the blog": idempotency keys, in posting order
        self.new_posts_until = 10**9  # crawls after this many find nothing new
        self.sync_in_job = True  # the draft re-reads topics.yaml itself, like jobs.draft (off: a faster simulation)

    def ts(self) -> str:
        return self.clock().isoformat(timespec="seconds")

    def registry(self) -> dict:
        return {"crawl": self.crawl, "tune": self.tune, "draft": self.draft, "publish": self.publish}

    def crawl(self, cfg, db, platform=None, full=False) -> dict:
        self.calls["crawl"] += 1
        with job_run(db, "crawl") as run:
            if "crawl" in self.fail:
                raise TransientError("fake: the blog answered 503")
            if self.calls["crawl"] % 3 == 1 and self.calls["crawl"] <= self.new_posts_until:  # every third crawl
                n = self.calls["crawl"]
                db["posts"].insert({"platform": "files", "source_id": f"p{n}", "title": f"글 {n}",
                                    "body_markdown": f"본문 {n}", "content_hash": f"h{n}", "fetched_at": self.ts(),
                                    "status": "live"})
                run.count("new")
            return dict(run.counts)

    def tune(self, cfg, db, force=False) -> dict:
        self.calls["tune"] += 1
        with job_run(db, "tune") as run:
            active = row(db, "select version, created_at from adapters where status = 'active'")
            newest = row(db, "select max(fetched_at) t from posts")["t"]
            if active and not force and (newest is None or newest <= active["created_at"]):
                run.status = "skipped"
                run.details["reason"] = f"no new posts since adapter {active['version']}"
                return {"skipped": run.details["reason"]}
            version = f"v{db['adapters'].count + 1}"
            with db.conn:
                db.execute("update adapters set status = 'ready' where status = 'active'")
                db["adapters"].insert({"version": version, "created_at": self.ts(), "status": "active",
                                       "base_model": "fake"})
            run.count("trained")
            return {"version": version}

    def draft(self, cfg, db, topic=None) -> int | None:
        self.calls["draft"] += 1
        with job_run(db, "draft", topic=topic) as run:
            if "draft" in self.fail:
                raise RuntimeError("fake: the model crashed")
            if self.sync_in_job:
                topics.sync(db, cfg.topics_path)  # like jobs.draft: re-reads the file itself
            t = row(db, "select * from topics where topic = ?", (topic,))
            topics.set_state(db, t["id"], "drafting")
            _hold("draft")
            gen = drafts.Generation(title=f"{topic}", body_markdown=f"{topic}에 대한 글입니다.", tags=[],
                                    adapter_version=None, base_model="fake", params={}, duration_s=1.0, new_tokens=9)
            try:
                did = drafts.create(db, cfg, t, gen)
            except BaseException:
                topics.set_state(db, t["id"], "failed")  # like jobs.draft
                raise
            db["drafts"].update(did, {"created_at": self.ts()})
            drafts.set_status(db, did, "pending_review" if "review" in topic else "approved")
            topics.set_state(db, t["id"], "drafted")
            run.count("drafted")
            return did

    def publish(self, cfg, db, dry_run=False, platform=None) -> dict:
        self.calls["publish"] += 1
        with job_run(db, "publish", platform=platform) as run:
            plat = platform or cfg.publish.default_platforms[0]
            for d in drafts.by_status(db, "approved")[:1]:  # one post per run, like a paced publisher
                key = f"{d['publish_key']}:{plat}"
                if dry_run:
                    run.count("dry_run")
                    continue
                pub = row(db, "select * from publications where idempotency_key = ?", (key,))
                if pub is None:
                    db["publications"].insert({"draft_id": d["id"], "platform": plat, "idempotency_key": key,
                                               "state": "publishing", "created_at": self.ts(),
                                               "updated_at": self.ts(), "attempts": 1})
                elif pub["state"] == "published":
                    continue
                if key not in self._remote(cfg):  # reconcile: read the blog before posting
                    self._post(cfg, key)
                    _hold("publish")  # posted, not yet recorded: the dangerous moment
                with db.conn:
                    db.execute("update publications set state = 'published', url = ?, updated_at = ? "
                               "where idempotency_key = ?", (f"https://blog.example/{d['id']}", self.ts(), key))
                    drafts.set_status(db, d["id"], "published")
                run.count("published")
            return dict(run.counts)

    # "the blog" is a file, so that a child process and a restarted process see the same remote state
    def _remote(self, cfg) -> list[str]:
        p = Path(cfg.data_path) / "remote_blog.txt"
        return p.read_text().split() if p.exists() else self.posted

    def _post(self, cfg, key: str) -> None:
        self.posted.append(key)
        with open(Path(cfg.data_path) / "remote_blog.txt", "a") as fh:
            fh.write(key + "\n")


def _hold(step: str) -> None:
    """In the signal tests: say 'started', then wait until the test lets the job go (a file appears)."""
    base = os.environ.get("FAKE_HOLD_DIR")
    if not base or step not in os.environ.get("FAKE_HOLD", ""):
        return
    Path(base, f"{step}.started").write_text(str(os.getpid()))
    go = Path(base, f"{step}.go")
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:  # a condition, polled; the test creates the file
        time.sleep(0.02)


def draft(cfg, db, topic=None):
    """Module-level draft job, for a child process (`"_scheduler_fakes:draft"`)."""
    return FakeJobs().draft(cfg, db, topic=topic)
