"""Crawl benchmark (JSON): parse throughput on the real fixture pages, full crawls of simulated 1,000-post blogs,
and the requests an incremental crawl with nothing new costs. Run: .venv/bin/python bench/crawl.py [--posts N]."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT.parent / "shared" / "fixtures" / "platforms"


def _pages() -> list[tuple[str, str, str]]:
    out = []
    for plat in ("naver", "tistory"):
        for f in sorted((FIXTURES / plat).glob("post*.html")) if FIXTURES.is_dir() else []:
            out.append((plat, f.read_text(encoding="utf-8"), f"https://example.invalid/{f.stem}"))
    return out


def parse_throughput(seconds: float) -> dict:
    """Pages/s of our parsers on one core, against a naive baseline (markdownify of the whole page)."""
    import importlib

    from markdownify import markdownify

    pages = _pages()
    if not pages:
        return {"skipped": f"{FIXTURES} not found"}
    parsers = {p: importlib.import_module(f"platforms.{p}.read").parse_page for p in ("naver", "tistory")}

    def rate(fn) -> float:  # noqa: ANN001
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for plat, html, url in pages:
                fn(plat, html, url)
                n += 1
        return n / (time.perf_counter() - start)

    ours = rate(lambda plat, html, url: parsers[plat](html, url))
    naive = rate(lambda plat, html, url: markdownify(html))
    return {"pages": len(pages), "pages_per_s": round(ours, 1), "baseline_whole_page_markdownify_pages_per_s":
            round(naive, 1), "speedup_vs_baseline": round(ours / naive, 2), "target_pages_per_s": 200,
            "meets_target": ours >= 200}


def crawl_bench(posts: int) -> dict:
    """Full crawl of a simulated blog per platform, then an incremental crawl with nothing new."""
    from bot.core.config import Config, CrawlConfig, Source
    from bot.core.runlog import setup_logging
    from bot.core.store import open_db
    from jobs import crawl
    from platforms.sandbox.blogs import Faults, SimStore, generate
    from platforms.sandbox.blogs_app import make_blog_app
    from platforms.sandbox.server import serving as serve

    setup_logging(None, "WARNING")
    store, faults = SimStore(), Faults()
    accounts = {"naver": "nv", "tistory": "ts", "velog": "vg"}
    for plat, acc in accounts.items():
        generate(store, plat, acc, posts)
    out: dict = {"posts_per_platform": posts}
    with serve(make_blog_app(store, faults)) as base, tempfile.TemporaryDirectory() as tmp:
        sources = {"naver": Source(platform="naver", blog_id="nv", base_url=base),
                   "tistory": Source(platform="tistory", blog="ts", base_url=f"{base}/tistory/ts"),
                   "velog": Source(platform="velog", username="vg", base_url=base)}
        for plat, src in sources.items():
            cfg = Config(data_dir=Path(tmp) / plat, sources=[src], crawl=CrawlConfig(min_delay_s=0))
            db = open_db(cfg.data_path)
            faults.requests.clear()
            t = time.perf_counter()
            counts = crawl.run(cfg, db, full=True)
            full_s = time.perf_counter() - t
            full_req = faults.requests["total"]
            faults.requests.clear()
            inc = crawl.run(cfg, db)
            out[plat] = {"full_crawl_s": round(full_s, 2), "full_posts_per_s": round(counts["new"] / full_s, 1),
                         "full_new": counts["new"], "full_failed": counts["failed"], "full_requests": full_req,
                         "incremental_requests_nothing_new": faults.requests["total"],
                         "incremental_robots_txt_requests": faults.requests["/robots.txt"],
                         "incremental_unchanged_seen": inc["unchanged"], "incremental_target_max_requests": 2}
            db.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--posts", type=int, default=1000)
    ap.add_argument("--parse-seconds", type=float, default=3.0)
    args = ap.parse_args()
    print(json.dumps({"parse": parse_throughput(args.parse_seconds), "crawl": crawl_bench(args.posts),
                      "note": "min_delay_s=0 against a local server; real crawls pace at crawl.min_delay_s"},
                     ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
