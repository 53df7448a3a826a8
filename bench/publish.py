"""Benchmark: seconds per published post on the sandbox with the browser reused, against the cost of a post that
starts its own browser (the first post of a run), per driver. Prints JSON.

    .venv/bin/python bench/publish.py [--posts N] [--platforms tistory,naver,velog]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=5, help="posts per driver with the browser reused")
    ap.add_argument("--cold", type=int, default=2, help="posts per driver each starting its own browser")
    ap.add_argument("--platforms", default="tistory,naver,velog")
    args = ap.parse_args()

    from loguru import logger

    import platforms
    from bot.core.config import Config
    from bot.core.records import Draft
    from platforms.browser import BrowserSession
    from platforms.sandbox.app import make_app
    from platforms.sandbox.server import serve
    from platforms.sandbox.store import SandboxStore
    from platforms.sandbox.target import storage_state
    from platforms.sandbox.urls import settings_for

    logger.remove()
    app = make_app(SandboxStore())
    base, server = serve(app)
    cfg = Config(data_dir=Path(tempfile.mkdtemp(prefix="bench-publish-")))
    n = 0

    def draft() -> Draft:
        nonlocal n
        n += 1
        return Draft(id=n, title=f"벤치마크 글 {n}", key=f"bb-bench{n:04d}", tags=["bench"],
                     body_markdown=f"벤치마크 {n}번째 본문입니다.\n\n## 소제목\n\n" + "문단 내용이 이어진다. " * 40)

    def one_post(bs: BrowserSession, platform: str, account: str) -> float:
        t0 = time.perf_counter()
        ctx = bs.context(platform, storage_state=storage_state(base, platform, account))
        pub = platforms.get(platform).publisher(cfg, ctx, settings_for(platform, base, account=account))
        assert pub.publish(draft()).verified
        return time.perf_counter() - t0

    out: dict[str, object] = {"sandbox": base, "posts_reused": args.posts, "posts_cold": args.cold}
    for platform in args.platforms.split(","):
        cold = []
        for i in range(args.cold):  # each post starts and closes its own browser: the first post of a run
            t0 = time.perf_counter()
            with BrowserSession(cfg) as bs:
                one_post(bs, platform, f"cold{i}")
            cold.append(time.perf_counter() - t0)
        reused = []
        with BrowserSession(cfg) as bs:
            one_post(bs, platform, "warm")  # warm-up: browser start and the context
            for _ in range(args.posts):
                t0 = time.perf_counter()
                ctx = bs.context(platform)
                pub = platforms.get(platform).publisher(cfg, ctx, settings_for(platform, base, account="warm"))
                assert pub.publish(draft()).verified
                reused.append(time.perf_counter() - t0)
        out[platform] = {
            "first_post_s": round(statistics.mean(cold), 3),
            "per_post_reused_s": round(statistics.mean(reused), 3),
            "per_post_reused_max_s": round(max(reused), 3),
            "reuse_speedup": round(statistics.mean(cold) / statistics.mean(reused), 2),
        }
    out["posts_in_sandbox"] = app.config["STORE"].count()
    server.shutdown()
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
