"""Fakes for the scheduler tests, on a controllable clock: the draft and publish jobs are the real ones (their whole
policy) with the model and the blog faked; crawl and tune are whole fake jobs writing the rows the real ones write.
Used in-process and, through `"_scheduler_fakes:draft"` specs, in child processes."""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core import drafts, ledger
from bot.core.errors import TransientError
from bot.core.records import Draft, Generation, PublishResult
from bot.core.runlog import job_run
from bot.core.store import row
from jobs import draft as draft_job
from jobs import publish as publish_job


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeJobs:
    """crawl and tune as whole fake jobs; draft and publish as the REAL jobs (their whole policy: which topic,
    pacing, requeue on a full disk, announcements) with only the model and the blog faked."""

    def __init__(self, clock=None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.calls: Counter = Counter()
        self.fail: set[str] = set()  # job names that raise
        self.posted: list[str] = []  # "the blog": idempotency keys, in posting order
        self.new_posts_until = 10**9  # crawls after this many find nothing new

    def ts(self) -> str:
        return self.clock().isoformat(timespec="seconds")

    def registry(self) -> dict:
        return {"crawl": self.crawl, "tune": self.tune, "draft": self.draft, "publish": self.publish}

    def crawl(self, cfg, db, *, clock=None, events=None, platform=None, full=False) -> dict:
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

    def tune(self, cfg, db, *, clock=None, events=None, force=False) -> dict:
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

    def draft(self, cfg, db, **kw):
        """The real draft job, the model replaced by `write`."""
        self.calls["draft"] += 1
        return draft_job.run(cfg, db, write=self.write, **kw)

    def write(self, cfg, db, t, on_text, run) -> int:
        if "draft" in self.fail:
            raise RuntimeError("fake: the model crashed")
        topic = t["topic"]
        _hold("draft")
        gen = Generation(title=f"{topic}", body_markdown=f"{topic}에 대한 글입니다.", tags=[],
                         adapter_version=None, base_model="fake", params={}, duration_s=1.0, new_tokens=9)
        did = drafts.create(db, cfg, t, gen, platforms=draft_job.targets(cfg, t))
        db["drafts"].update(did, {"created_at": self.ts()})
        drafts.set_status(db, did, "pending_review" if "review" in topic else "approved")
        run.count("drafted")
        return did

    def publish(self, cfg, db, **kw) -> dict:
        """The real publish job, the blog replaced by FakeBlog publishers."""
        self.calls["publish"] += 1
        return publish_job.run(cfg, db, publishers=lambda platform: FakeBlog(self, cfg, platform), **kw)

    # "the blog" is a file, so that a child process and a restarted process see the same remote state
    def _remote(self, cfg) -> list[str]:
        p = Path(cfg.data_path) / "remote_blog.txt"
        return p.read_text().split() if p.exists() else self.posted

    def _post(self, cfg, key: str) -> None:
        self.posted.append(key)
        with open(Path(cfg.data_path) / "remote_blog.txt", "a") as fh:
            fh.write(key + "\n")


class FakeBlog:
    """A publisher (platforms.base.Publisher) whose blog is the fakes' remote file."""

    def __init__(self, jobs: FakeJobs, cfg, platform: str) -> None:
        self.jobs, self.cfg, self.name = jobs, cfg, platform

    def _key(self, draft: Draft) -> str:
        return ledger.idempotency_key(draft.id, self.name)  # what the ledger row carries: compared in the tests

    def publish(self, draft: Draft, dry_run: bool = False) -> PublishResult:
        if not dry_run:
            self.jobs._post(self.cfg, self._key(draft))
            _hold("publish")  # posted, not yet recorded: the dangerous moment
        return PublishResult(url=f"https://blog.example/{draft.id}", remote_id=str(draft.id), verified=True)

    def find_published(self, draft: Draft) -> PublishResult | None:
        if self._key(draft) in self.jobs._remote(self.cfg):  # reconcile: read the blog before posting again
            return PublishResult(url=f"https://blog.example/{draft.id}", remote_id=str(draft.id), verified=True)
        return None

    def check_session(self) -> str | None:
        return "fake"

    def artifacts(self, step: str) -> str:
        return ""


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


def draft(cfg, db, **kw):
    """Module-level draft job, for a child process (`"_scheduler_fakes:draft"`)."""
    return FakeJobs().draft(cfg, db, **kw)
