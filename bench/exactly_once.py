"""Crash-and-concurrency matrix for publishing: 1 or 2 publisher processes at once on one data dir, SIGKILLed at
random moments, then restarted until everything is out; every draft goes to tistory, naver and velog. Prints the
posts per draft and platform found on "the blog" (every cell must be exactly 1), with how many kills landed
between a post and its ledger update (reconciled afterwards by reading the blog).

The publish job is the real one (lock, ledger, owner/heartbeat, reconcile, per-platform state); the blog is
tests/_scheduler_fakes.py's file-backed fake with a random delay between posting and answering (the moment a
kill is most dangerous). The sandbox (real drivers in Chromium) is covered by tests/test_publish_job.py's kill tests.

    .venv/bin/python bench/exactly_once.py [--trials 4] [--drafts 4] [--kills 3] [--seed 1] [--no-lock | --unsafe]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
PLATS = ["tistory", "naver", "velog"]
NO_LOCK = UNSAFE = False

CHILD = r"""
import json, os, random, sys, time
from _scheduler_fakes import FakeBlog, FakeJobs
from bot.core.store import open_db
from jobs import publish as publish_job
from platforms import load_config

class SlowBlog(FakeBlog):
    def publish(self, draft, dry_run=False):
        time.sleep(random.uniform(0.01, 0.05))  # the editor
        res = super().publish(draft, dry_run)
        time.sleep(random.uniform(0.02, 0.12))  # posted, not yet answered: the dangerous moment
        return res

if os.environ.get("BENCH_NO_LOCK"):  # --no-lock: show what the matrix sees without the publish lock
    class NoLock:
        def __init__(self, *a, **k): pass
        def acquire(self, *a, **k): pass
        def release(self): pass
    publish_job.FileLock = NoLock
if os.environ.get("BENCH_NO_OWNER"):  # --unsafe: also take a live owner's `publishing` row for a leftover
    publish_job.ledger.live_owner = lambda *a, **k: None
cfg = load_config(sys.argv[1])
jobs = FakeJobs()
counts = publish_job.run(cfg, open_db(cfg.data_path), publishers=lambda p: SlowBlog(jobs, cfg, p))
print(json.dumps(counts), flush=True)
"""


def setup(d: Path, drafts: int) -> Path:
    sys.path[:0] = [str(ROOT), str(TESTS)]
    from bot.core import drafts as drafts_mod
    from bot.core.records import Generation
    from bot.core.store import open_db
    from platforms import load_config

    lines = ["data_dir: data", "topics_file: topics.yaml", "publish:", "  lock_wait_s: 600"]
    lines += [f"  {p}: {{enabled: true, account: me, daily_cap: 1000, min_interval_minutes: 0, jitter_minutes: 0}}"
              for p in PLATS]
    (d / "config.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = load_config(d / "config.yaml")
    db = open_db(cfg.data_path)
    for n in range(drafts):
        gen = Generation(title=f"주간 기록 {n}", body_markdown=f"이번 주의 기록 {n}입니다.", tags=[],
                         adapter_version=None, base_model="bench", params={}, duration_s=1.0, new_tokens=5)
        i = drafts_mod.create(db, cfg, {"id": f"t{n}", "topic": f"주간 기록 {n}"}, gen, platforms=PLATS)
        drafts_mod.set_status(db, i, "approved")
    db.close()
    return d / "config.yaml"


def spawn(d: Path, config: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{ROOT}"}
    if NO_LOCK:
        env["BENCH_NO_LOCK"] = "1"
    if UNSAFE:
        env["BENCH_NO_LOCK"] = env["BENCH_NO_OWNER"] = "1"
    env.pop("BLOGBOT_CRASH_AT", None)
    return subprocess.Popen([sys.executable, "-c", CHILD, str(config)], cwd=d, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def remote_posts(d: Path) -> Counter:
    p = d / "data" / "remote_blog.txt"
    return Counter(p.read_text().split()) if p.exists() else Counter()


def trial(publishers: int, drafts: int, kills: int, rng: random.Random) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        config = setup(d, drafts)
        killed = mid = 0
        for _ in range(kills):  # rounds with a kill at a random moment
            procs = [spawn(d, config) for _ in range(publishers)]
            for _ in range(publishers):  # with 2 publishers: the holder, then the one that took over
                start = sum(remote_posts(d).values())
                deadline = time.monotonic() + 60
                while sum(remote_posts(d).values()) == start and time.monotonic() < deadline \
                        and any(p.poll() is None for p in procs):
                    time.sleep(0.005)  # until a new post is out (the bench polls; the product waits)
                time.sleep(rng.uniform(0.0, 0.4))  # then a random moment of the publishing
                live = [p for p in procs if p.poll() is None]
                if not live:
                    break
                victim = _holder(d, live) if rng.random() < 0.7 else rng.choice(live)
                os.kill(victim.pid, signal.SIGKILL)
                victim.wait()
                killed += 1
                mid += _unrecorded(d)
            for p in procs:
                p.wait(timeout=300)
        while True:  # then restarts without kills until nothing is left
            procs = [spawn(d, config) for _ in range(publishers)]
            outs = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1] or "{}") for p in procs]
            if all(not o or o.get("busy") for o in outs) or all(not o.get("published") and not o.get("reconciled")
                                                                   for o in outs):
                break
        con = sqlite3.connect(d / "data" / "blogbot.db")
        states = Counter(s for (s,) in con.execute("select state from publications"))
        statuses = Counter(s for (s,) in con.execute("select status from drafts"))
        reconciled = sum(json.loads(c or "{}").get("reconciled", 0)
                         for (c,) in con.execute("select counts from runs where job = 'publish'"))
        ids = [i for (i,) in con.execute("select id from drafts order by id")]
        con.close()
        posts = remote_posts(d)
        cells = {(i, p): posts.get(f"draft-{i}:{p}", 0) for i in ids for p in PLATS}
        return {"cells": cells, "killed": killed, "kill_after_post": mid, "reconciled": reconciled,
                "ledger": dict(states), "drafts": dict(statuses)}


def _holder(d: Path, procs: list[subprocess.Popen]) -> subprocess.Popen:
    """The publisher holding the lock (as written in publish.lock.owner), else the first."""
    try:
        pid = int((d / "data" / "publish.lock.owner").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        pid = None
    return next((p for p in procs if p.pid == pid), procs[0])


def _unrecorded(d: Path) -> int:
    """Posts on the blog whose ledger row is not `published` right after the kill: the kill hit the window."""
    con = sqlite3.connect(d / "data" / "blogbot.db", timeout=30)
    q = "select draft_id, platform, state from publications"
    rows = {f"draft-{i}:{p}": s for i, p, s in con.execute(q)}
    con.close()
    return sum(1 for k in remote_posts(d) if rows.get(k) != "published")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=4, help="trials per number of publishers")
    ap.add_argument("--drafts", type=int, default=4)
    ap.add_argument("--kills", type=int, default=3, help="rounds with random SIGKILLs per trial (one per publisher)")
    ap.add_argument("--publishers", default="1,2")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-lock", action="store_true", help="publish without the lock (the live-owner check alone)")
    ap.add_argument("--unsafe", action="store_true", help="no lock and no live-owner check (the behaviour before "
                    "issue 15: shows the matrix catches double posts)")
    args = ap.parse_args()
    global NO_LOCK, UNSAFE
    NO_LOCK, UNSAFE = args.no_lock, args.unsafe
    rng = random.Random(args.seed)
    bad = 0
    t0 = time.monotonic()
    for n in [int(x) for x in args.publishers.split(",")]:
        total: Counter = Counter()
        seen: dict = {}
        killed = mid = reconciled = 0
        for t in range(args.trials):
            r = trial(n, args.drafts, args.kills, rng)
            killed, mid, reconciled = killed + r["killed"], mid + r["kill_after_post"], reconciled + r["reconciled"]
            for (i, p), c in r["cells"].items():
                total[c] += 1
                seen.setdefault((i, p), set()).add(c)
            ok = all(c == 1 for c in r["cells"].values()) and set(r["ledger"]) == {"published"} \
                and set(r["drafts"]) == {"published"}
            bad += not ok
            print(f"publishers={n} trial={t + 1}: {r['killed']} kills ({r['kill_after_post']} after a post, before "
                  f"its record), reconciled={r['reconciled']}, ledger={r['ledger']}, drafts={r['drafts']}"
                  f"{'' if ok else '  <-- NOT EXACTLY ONCE'}", flush=True)
        print(f"\nposts per draft and platform, {n} publisher(s), {args.trials} trials (a cell lists every count "
              "seen for it; each must be 1):")
        print("draft  " + "  ".join(f"{p:>8}" for p in PLATS))
        for i in sorted({i for i, _ in seen}):
            print(f"{i:>5}  " + "  ".join(f"{','.join(map(str, sorted(seen[(i, p)]))):>8}" for p in PLATS))
        print(f"cells by post count: {dict(sorted(total.items()))}; kills {killed}, of them after a post and "
              f"before its record {mid}; reconciled {reconciled}\n", flush=True)
    print(f"{'every cell exactly 1' if not bad else f'{bad} trial(s) NOT exactly once'} "
          f"({time.monotonic() - t0:.0f} s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
