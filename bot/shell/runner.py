"""What each scheduled job does (crawl, retune, draft, publish): the job registry, pacing, catch-up, notifications."""

from __future__ import annotations

import importlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlite_utils
from loguru import logger

from bot.core.config import Config
from bot.core.cron import JOB_IDS, _parse, next_fire, state_rows
from bot.core.errors import BlogbotError, ConfigError, ModelError
from bot.core.recovery import describe, disk_full, last_error, reconcile_drafting, requeue, save_copy, skip_run
from bot.core.store import now, row

# The job functions, imported only when a job runs (the scheduler never imports torch itself).
REGISTRY: dict[str, str | Callable[..., Any]] = {
    "crawl": "jobs.crawl:run", "tune": "jobs.tune:run", "draft": "jobs.draft:run", "publish": "jobs.publish:run",
}
LAST_GOOD_TOPICS = "topics.last-good.yaml"  # the topics file as of its last good read (used while it is broken)
RUN_NAMES = {"crawl": "crawl", "retune": "tune", "draft": "draft", "publish": "publish"}  # runs.job of each
PUBLISH_PLATFORMS = ("naver", "tistory", "velog", "sandbox")
_NOTIFY_STATES = {"published": "published", "failed": "failed", "needs_login": "needs_login"}


def resolve(spec: str | Callable[..., Any]) -> Callable[..., Any]:
    """`"module:function"` → the function (imported now); a callable is returned as is."""
    if callable(spec):
        return spec
    mod, _, fn = spec.partition(":")
    return getattr(importlib.import_module(mod), fn)


class Runner:
    """Runs the scheduled jobs. `fire(job_id)` never raises: a failing job is logged and the others go on."""

    def __init__(self, cfg: Config, registry: dict[str, Any] | None = None, clock: Callable[[], datetime] | None = None,
                 dry_run: bool = False, isolate: list[str] | None = None) -> None:
        self.cfg, self.dry_run = cfg, dry_run
        self.registry = {**REGISTRY, **(registry or {})}
        self.clock = clock or (lambda: datetime.now(UTC))
        self.isolate = set(cfg.schedule.isolate if isolate is None else isolate)
        self.stopping = threading.Event()
        self._active: dict[str, threading.Thread] = {}
        self._idle = threading.Condition()
        self._children: set[subprocess.Popen] = set()
        self._topics_error: str | None = None
        self._topics_synced: bytes | None = None  # the file's bytes at the last good sync
        self._dbs: dict[int, sqlite_utils.Database] = {}
        self.echo_children = False  # `run --once` in a terminal: show a child's output as it goes, too

    # --- plumbing -------------------------------------------------------------------------------------------

    def job(self, name: str) -> Callable[..., Any]:
        return resolve(self.registry[name])

    def open_db(self) -> sqlite_utils.Database:
        """This thread's connection to the store (one per executor thread, kept between runs)."""
        from bot.core.store import open_db

        key = threading.get_ident()
        if key not in self._dbs:
            self._dbs[key] = open_db(self.cfg.data_path)
        return self._dbs[key]

    def _drop_db(self) -> None:
        db = self._dbs.pop(threading.get_ident(), None)
        if db is not None:
            try:
                db.close()
            except sqlite3.Error:
                pass

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()
        self._dbs.clear()

    def notify(self, event: str, text: str, **data: Any) -> None:
        from bot.shell.notify import safe_send

        safe_send(self.cfg, event, text, data)

    def request_stop(self) -> None:
        """Stop taking new work; ask child processes to stop (SIGTERM: they record `interrupted`)."""
        self.stopping.set()
        for proc in list(self._children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    def wait_idle(self, timeout: float) -> list[str]:
        """Wait for running jobs to end; returns the ids still running after `timeout` seconds."""
        with self._idle:
            self._idle.wait_for(lambda: not self._active, timeout=timeout)
            return sorted(self._active)

    # --- one run --------------------------------------------------------------------------------------------

    def fire(self, job_id: str) -> str:
        """Run one job now: "ok", "failed", or "stopped" (the scheduler is stopping)."""
        if self.stopping.is_set():
            logger.info("{}: not started, the scheduler is stopping", job_id)
            return "stopped"
        with self._idle:
            self._active[job_id] = threading.current_thread()
        db, status, err, before = None, "ok", None, 0
        try:
            db = self.open_db()
            before = row(db, "select coalesce(max(id), 0) n from runs")["n"]
            db["schedule_state"].upsert({"job": job_id, "last_fire": self.clock().isoformat(timespec="seconds"),
                                         "last_status": "running", "last_error": None, "pid": os.getpid()}, pk="job")
            {"crawl": self._crawl, "retune": self._retune, "draft": self._draft, "publish": self._publish}[job_id](db)
        except BaseException as exc:
            if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: recorded, then passed on
                status, err = "interrupted", f"{type(exc).__name__}"
                raise
            status, err = "failed", describe(exc, self.cfg.data_path)
            logger.error("scheduled job {} failed: {}", job_id, err)
            if db is not None:
                self._record_failure(db, job_id, before, err)
            self.notify("failed", f"job {job_id} failed: {err}", job=job_id)
        finally:
            if db is not None:
                try:
                    db["schedule_state"].update(job_id, {"last_end": now(), "last_status": status, "last_error": err})
                except Exception as exc:
                    logger.error("{}: could not record the end of the run: {}", job_id,
                                 describe(exc, self.cfg.data_path))
                if status == "failed":
                    self._drop_db()  # a fresh connection next time (after a full disk, a broken handle)
            with self._idle:
                self._active.pop(job_id, None)
                self._idle.notify_all()
        return status

    def _record_failure(self, db: sqlite_utils.Database, job_id: str, before: int, err: str) -> None:
        """Make sure the run log holds this failure: the job's own row when it wrote one, else a new row."""
        name = RUN_NAMES[job_id]
        try:
            rows = list(db.query("select id, status from runs where job = ? and id > ? order by id", (name, before)))
            for r in rows:
                if r["status"] == "running":  # left by a child process that died
                    db["runs"].update(r["id"], {"status": "failed", "finished_at": now(), "error": err})
            if not rows:
                db["runs"].insert({"job": name, "started_at": now(), "finished_at": now(), "status": "failed",
                                   "error": err, "counts": "{}", "details": '{"scheduled": true}', "pid": os.getpid()})
        except Exception as exc:
            logger.error("{}: could not write the failure to the run log: {}", job_id,
                         describe(exc, self.cfg.data_path))

    # --- the jobs -------------------------------------------------------------------------------------------

    def _crawl(self, db: sqlite_utils.Database) -> None:
        if "crawl" in self.isolate:
            return self._in_child("crawl")
        self.job("crawl")(self.cfg, db)

    def _retune(self, db: sqlite_utils.Database) -> None:
        if "retune" in self.isolate:
            return self._in_child("tune")
        self.job("tune")(self.cfg, db, force=False)

    def _draft(self, db: sqlite_utils.Database) -> None:
        """Draft the next eligible topic. The topics file is re-read first; when an edit broke it, the job is given
        the last good copy (<data>/topics.last-good.yaml), so the queue in the store is used and nothing is lost."""
        from bot.core import drafts, topics

        job_cfg, good = self.cfg, self.cfg.data_path / LAST_GOOD_TOPICS
        try:
            text = self.cfg.topics_path.read_bytes() if self.cfg.topics_path.exists() else b""
            if text != self._topics_synced:
                topics.sync(db, self.cfg.topics_path)
                self._topics_synced, self._topics_error = text, None
                save_copy(good, text)
        except (ConfigError, OSError) as exc:
            n = db["topics"].count_where("state = 'queued' and in_file = 1")
            logger.warning("topics file not re-read, the last good queue ({} queued) is used: {}", n, exc)
            if str(exc) != self._topics_error:
                self.notify("failed", f"topics file not re-read: {exc}", job="draft")
            self._topics_error = str(exc)
            if good.exists():
                job_cfg = self.cfg.model_copy(update={"topics_file": good})
        reconcile_drafting(db)
        topic = topics.next_eligible(db, self.clock())
        if topic is None:
            return skip_run(db, "draft", "no queued topic is due")
        try:
            if "draft" in self.isolate:
                self._in_child("draft", topic["topic"], topics_file=job_cfg.topics_path)
                draft_id = row(db, "select max(id) id from drafts where topic_id = ?", (topic["id"],))["id"]
            else:
                draft_id = self.job("draft")(job_cfg, db, topic=topic["topic"])
        except BaseException as exc:
            if disk_full(exc) or not isinstance(exc, Exception):  # a full disk, a stop: not the topic's fault,
                requeue(db, topic["id"])  # it waits in the queue for the next draft
            raise
        if draft_id is not None:
            d = drafts.get(db, draft_id)
            if d["status"] == "pending_review":
                self.notify("review", f"draft #{draft_id} waits for review: {d['title']}", draft_id=draft_id,
                            title=d["title"], reason=d.get("review_reason"))

    def _publish(self, db: sqlite_utils.Database) -> None:
        """Publish approved drafts on the platforms whose pacing allows it now (the job checks pacing again)."""
        from bot.core.ledger import pacing_wait

        if not (db["drafts"].count_where("status = 'approved'")
                or db["publications"].count_where("state = 'publishing'")):
            return skip_run(db, "publish", "no approved draft")
        at = self.clock()
        enabled = [p for p in PUBLISH_PLATFORMS if getattr(self.cfg.publish, p).enabled]
        free = []
        for platform in enabled:
            held = pacing_wait(self.cfg, db, platform, at)
            if held:
                logger.info("publish {}: {}", platform, held)
            else:
                free.append(platform)
        if not free:
            return skip_run(db, "publish", "every platform is paced: " + ", ".join(enabled))
        # one run (one browser) for every platform when none is held back, else one run per free platform
        for platform in [None] if free == enabled else free:
            seen = {r["id"]: r["state"] for r in db.query("select id, state from publications")}
            try:
                self.job("publish")(self.cfg, db, dry_run=self.dry_run, platform=platform)
            finally:
                self._notify_publications(db, seen)

    def _notify_publications(self, db: sqlite_utils.Database, seen: dict[int, str]) -> None:
        for p in db.query("select p.id, p.platform, p.state, p.url, p.error, d.title, p.draft_id from publications p "
                          "left join drafts d on d.id = p.draft_id"):
            event = _NOTIFY_STATES.get(p["state"])
            if event and seen.get(p["id"]) != p["state"]:
                detail = p["url"] if event == "published" else (p["error"] or "")
                if event == "needs_login":
                    detail = f"run `blogbot login {p['platform']}`"
                self.notify(event, f"{p['platform']}: {p['title']} {detail}".strip(), **p)

    def _in_child(self, job: str, *args: str, topics_file: os.PathLike | None = None) -> None:
        """Run a job in a child process; its exit status decides. SIGKILL (out of memory) is reported as such."""
        env = dict(os.environ)
        if self.cfg.source_path:
            env["BLOGBOT_CONFIG"] = str(self.cfg.source_path)
        if topics_file is not None:
            env["BLOGBOT_WORKER_TOPICS"] = str(topics_file)
        spec = self.registry[job]
        if isinstance(spec, str):
            env["BLOGBOT_JOB_SPEC"] = spec
        cmd = [sys.executable, "-m", "bot.shell.scheduler", "worker", job, *args]
        out = self.cfg.data_path / "logs" / f"worker-{job}.log"  # the child's console output, last run only
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "wb") as fh:
            proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE if self.echo_children else fh, stderr=subprocess.STDOUT)
            self._children.add(proc)
            if self.echo_children:  # copy the child's output to the log file and to our stderr as it comes
                for line in iter(proc.stdout.readline, b""):
                    fh.write(line)
                    sys.stderr.write(line.decode("utf-8", "replace"))
                proc.stdout.close()
        try:
            rc = proc.wait(timeout=self.cfg.schedule.isolate_timeout_s)
        except subprocess.TimeoutExpired:
            proc.terminate()
            rc = proc.wait()
            limit = self.cfg.schedule.isolate_timeout_s
            raise ModelError(f"{job}: child process stopped after {limit:.0f} s (schedule.isolate_timeout_s)") from None
        finally:
            self._children.discard(proc)
        if rc == 0:
            return
        where = f"output in {out}"
        if rc < 0:
            sig = signal.Signals(-rc).name
            hint = " (out of memory?)" if -rc == signal.SIGKILL else ""
            raise ModelError(f"{job}: child process {proc.pid} killed by {sig}{hint}; {where}")
        if self.stopping.is_set():
            raise BlogbotError(f"{job}: child process stopped with the scheduler; it runs again at the next start")
        raise ModelError(f"{job}: child process {proc.pid} exited with status {rc}: {last_error(out)}; {where}")

    # --- once -----------------------------------------------------------------------------------------------

    def retune_due(self, db: sqlite_utils.Database) -> bool:
        """No active adapter yet, or the retune time came since the last retune."""
        if not db["adapters"].count_where("status = 'active'"):
            return True
        st = state_rows(db).get("retune")
        last = _parse(st["last_fire"] if st else None) or _parse(
            (row(db, "select max(started_at) t from runs where job = 'tune'") or {}).get("t"))
        if last is None:
            return True
        nxt = next_fire(self.cfg, "retune", last)
        return nxt is not None and nxt <= self.clock()

    def once(self) -> dict[str, str]:
        """crawl → retune (if due) → draft → publish, each once; failures are logged and the next job runs."""
        results: dict[str, str] = {}
        for job_id in JOB_IDS:
            if not getattr(self.cfg.schedule, job_id).enabled:
                results[job_id] = "disabled"
                continue
            if job_id == "retune":
                due = self.retune_due(self.open_db())
                if not due:
                    results[job_id] = "not due"
                    continue
            results[job_id] = self.fire(job_id)
        self.close()
        return results
