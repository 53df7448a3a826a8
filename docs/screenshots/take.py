"""Take the README's screenshots of the review desk (docs/screenshots/*.png) in Debian's Chromium.

    .venv/bin/python docs/screenshots/take.py [--lang ko|en]

A throwaway data dir is filled with the demo blogger's posts turned into drafts (examples/demo), the demo topics
file, a few runs with log lines and two adapters; the desk is served on a free port and each page is captured.
Nothing here is a mock-up: the pages are the desk's own, rendered from that data."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = Path(__file__).resolve().parent
DEMO = ROOT / "examples" / "demo"


def fill(cfg, db) -> int:
    """Drafts in each state, runs with log lines, adapters; returns the id of the draft to show."""
    from loguru import logger

    from bot.core import drafts
    from bot.core.records import Generation
    from bot.core.runlog import job_run, setup_logging
    from platforms.files.read import read_file

    setup_logging(cfg.data_path, console=False)
    posts = [p for f in sorted((DEMO / "posts").glob("*.md"))[:6] for p in read_file(f)]
    states = ["pending_review", "pending_review", "approved", "published", "rejected", "failed"]
    ids = []
    for post, state in zip(posts, states, strict=False):
        gen = Generation(title=post.title, body_markdown=post.body_markdown, tags=list(post.tags or [])[:3],
                         adapter_version="v0003", base_model="gemma-3-270m", params={}, duration_s=41.0,
                         new_tokens=620)
        did = drafts.create(db, cfg, {"id": f"t{len(ids)}", "topic": post.title}, gen,
                            platforms=["naver", "tistory"])
        fid = 0.62 + 0.07 * len(ids)
        gates = [{"name": "repetition", "passed": True, "detail": "no phrase repeated"},
                 {"name": "copy", "passed": True, "detail": "longest run shared with a past post: 18 characters"},
                 {"name": "length", "passed": state != "pending_review" or len(ids) != 0,
                  "detail": f"{len(post.body_markdown)} characters (your posts: 600–2400)"},
                 {"name": "topic", "passed": True, "detail": "the body is about the topic"},
                 {"name": "fidelity", "passed": fid >= 0.7, "detail": f"fidelity {fid:.0%} (min 70%)"}]
        drafts.set_score(db, did, {"fidelity": fid, "fidelity_plain": fid - 0.05, "distance": 0.3, "reliable": True},
                         gates)
        failed = [g["name"] for g in gates if not g["passed"]]
        drafts.set_status(db, did, state, ("gates failed: " + ", ".join(failed)) if failed else "manual review")
        if state == "published":
            db["publications"].insert({"draft_id": did, "platform": "tistory", "state": "published",
                                       "url": "https://dubu-jipsa.tistory.com/42", "updated_at": drafts.now(),
                                       "idempotency_key": f"{did}:tistory"}, alter=True)
        ids.append(did)
    drafts.edit(db, cfg, ids[1], posts[1].title, posts[1].body_markdown.replace("망원시장", "망원시장(토요일 아침)", 1))
    for job, n in (("crawl", 3), ("tune", 1), ("draft", 2), ("publish", 1)):
        with job_run(db, job) as run:
            logger.info("{}: {} done", job, n)
            run.count("items", n)
    try:
        with job_run(db, "publish"):
            logger.warning("naver: the saved login has expired")
            raise RuntimeError("AuthExpired: naver needs a new login (blogbot login naver)")
    except RuntimeError:
        pass
    for i, (ppl, base) in enumerate([(24.1, 31.0), (21.7, 31.0), (19.8, 30.6)], start=1):
        db["adapters"].insert({"version": f"v{i:04d}", "created_at": f"2026-0{i}-05T18:00:00+00:00",
                               "path": "-", "status": "active" if i == 3 else "retired",
                               "reason": "beats the base and the active adapter on held-out posts",
                               "metrics": json.dumps({"held_out_ppl_adapter": ppl, "held_out_ppl_base": base})},
                              alter=True)
    return ids[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lang", default="ko", choices=["ko", "en"])
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from bot.core.store import open_db
    from bot.shell.desk import make_server
    from platforms import load_config
    from platforms.browser import CHROMIUM_ARGS, chromium_path

    tmp = Path(tempfile.mkdtemp(prefix="blogbot-shots-"))
    try:
        (tmp / "config.yaml").write_text(f"data_dir: data\ntopics_file: topics.yaml\nui:\n  language: {args.lang}\n",
                                         encoding="utf-8")
        shutil.copy(DEMO / "topics.yaml", tmp / "topics.yaml")
        cfg = load_config(tmp / "config.yaml")
        db = open_db(cfg.data_path)
        did = fill(cfg, db)
        server = make_server(cfg, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = server.url.split("/?token=")[0]
        suffix = "" if args.lang == "ko" else "-en"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(cfg), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860}, locale="ko-KR", device_scale_factor=1)
            page.goto(server.url)
            for name, path in (("drafts", "/drafts"), ("draft", f"/drafts/{did}"), ("queue", "/queue"),
                               ("runs", "/runs"), ("status", "/status")):
                page.goto(base + path)
                if name == "draft":
                    page.locator("#live-preview .pv-body").wait_for()
                out = OUT / f"{name}{suffix}.png"
                page.screenshot(path=str(out), full_page=name != "draft")
                print(out.relative_to(ROOT))
                if name == "draft":  # the editor with its live preview, and the diff against the generated text
                    out = OUT / f"draft-editor{suffix}.png"
                    page.locator("section.editor").screenshot(path=str(out))
                    print(out.relative_to(ROOT))
            browser.close()
        server.shutdown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
