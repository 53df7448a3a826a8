"""Running the scheduled jobs: each fire calls the job (the same function the CLI calls, which owns its whole
policy) in this process or in a child, records when it fired and how it ended, and never lets one job's failure
stop the others. What runs when is scheduler.py's; what a job does is the job's."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import sqlite_utils
from loguru import logger

from bot.core import adapters, runlog, schedule_state
from bot.core.clock import Clock, parse_ts, utcnow
from bot.core.config import Config
from bot.core.errors import BlogbotError, ModelError, describe
from bot.shell.notify import emitter
from bot.shell.timing import next_fire
from jobs import JOBS, SCHEDULED, resolve, run_job


class Runner:
    """Runs the scheduled jobs. `fire(job_id)` never raises: a failing job is logged and the others go on.
    `registry` replaces job functions by name (tests); `isolate` names the jobs run in a child process."""

    def __init__(self, cfg: Config, registry: dict[str, Any] | None = None, clock: Clock | None = None,
                 dry_run: bool = False, isolate: list[str] | None = None) -> None:
        self.cfg, self.dry_run = cfg, dry_run
        self.registry: dict[str, str | Callable[..., Any]] = {**JOBS, **(registry or {})}
        self.clock = clock or utcnow
        self.events = emitter(cfg)
        self.isolate = set(cfg.schedule.isolate if isolate is None else isolate)
        self.stopping = threading.Event()
        self._active: dict[str, threading.Thread] = {}
        self._idle = threading.Condition()
        self._children: set[subprocess.Popen] = set()
        self._dbs: dict[int, sqlite_utils.Database] = {}
        self.echo_children = False  # `run --once` in a terminal: show a child's output as it goes, too

    # --- plumbing -------------------------------------------------------------------------------------------

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

    def options(self, job_id: str) -> dict[str, Any]:
        """What a scheduled run passes to the job besides cfg, db, clock and events."""
        return {"dry_run": True} if job_id == "publish" and self.dry_run else {}

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
            before = runlog.max_id(db)
            schedule_state.fired(db, job_id, self.clock())
            if job_id in self.isolate:
                self._in_child(job_id, self.options(job_id))
            else:
                run_job(resolve(self.registry[job_id]), self.cfg, db, name=job_id, clock=self.clock,
                        events=self.events, **self.options(job_id))
            failed = runlog.failed_since(db, job_id, before)  # a job may end normally yet log its run failed
            if failed:
                status, err = "failed", failed
        except BaseException as exc:
            if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: recorded, then passed on
                status, err = "interrupted", f"{type(exc).__name__}"
                raise
            status, err = "failed", describe(exc, self.cfg.data_path)
            logger.error("scheduled job {} failed: {}", job_id, err)
            if db is not None:
                self._record_failure(db, job_id, before, err)
        finally:
            if db is not None:
                try:
                    schedule_state.ended(db, job_id, status, err)
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
        try:
            runlog.record_failure(db, job_id, before, err)
        except Exception as exc:
            logger.error("{}: could not write the failure to the run log: {}", job_id,
                         describe(exc, self.cfg.data_path))

    def _in_child(self, job: str, options: dict[str, Any]) -> None:
        """Run a job in a child process (`python -m bot.shell.scheduler worker JOB`); its exit status decides. The
        child runs the same job function with the same options; SIGKILL (out of memory) is reported as such."""
        env = dict(os.environ)
        if self.cfg.source_path:
            env["BLOGBOT_CONFIG"] = str(self.cfg.source_path)
        spec = self.registry[job]
        if isinstance(spec, str):
            env["BLOGBOT_JOB_SPEC"] = spec
        cmd = [sys.executable, "-m", "bot.shell.scheduler", "worker", job, json.dumps(options)]
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
            self._lost(job, f"child process stopped after {limit:.0f} s (schedule.isolate_timeout_s)")
        finally:
            self._children.discard(proc)
        if rc == 0:
            return
        where = f"output in {out}"
        if rc < 0:
            sig = signal.Signals(-rc).name
            hint = " (out of memory?)" if -rc == signal.SIGKILL else ""
            self._lost(job, f"child process {proc.pid} killed by {sig}{hint}; {where}")
        if self.stopping.is_set():
            raise BlogbotError(f"{job}: child process stopped with the scheduler; it runs again at the next start")
        raise ModelError(f"{job}: child process {proc.pid} exited with status {rc}: {last_error(out)}; {where}")

    def _lost(self, job: str, why: str) -> None:
        """A child that could not announce its own end (killed, timed out): announced here, then raised."""
        self.events("failed", f"job {job} failed: {why}", job=job)
        raise ModelError(f"{job}: {why}")

    # --- once -----------------------------------------------------------------------------------------------

    def tune_due(self, db: sqlite_utils.Database) -> bool:
        """No active adapter yet, or the tune time came since the last tune."""
        if not adapters.has_active(db):
            return True
        st = schedule_state.rows(db).get("tune")
        last = parse_ts(st["last_fire"] if st else None) or parse_ts(runlog.last_started(db, "tune"))
        if last is None:
            return True
        nxt = next_fire(self.cfg, "tune", last)
        return nxt is not None and nxt <= self.clock()

    def once(self) -> dict[str, str]:
        """crawl → tune (if due) → draft → publish, each once; failures are logged and the next job runs."""
        results: dict[str, str] = {}
        for job_id in SCHEDULED:
            if not getattr(self.cfg.schedule, job_id).enabled:
                results[job_id] = "disabled"
                continue
            if job_id == "tune" and not self.tune_due(self.open_db()):
                results[job_id] = "not due"
                continue
            results[job_id] = self.fire(job_id)
        self.close()
        return results


def last_error(path: os.PathLike) -> str:
    """The child's one-line error (its last `error: ...` line), or its last line."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = [ln for ln in fh.read().splitlines() if ln.strip()]
    except OSError:
        return "no output"
    errs = [ln for ln in lines if ln.startswith("error: ")]
    return (errs[-1][7:] if errs else lines[-1] if lines else "no output")[:500]

