"""Generate the embedded model's drafts for bench/sense.py once (bare base and a quick adapter) and store them.

    .venv/bin/python -m bench.sense_generate --author demo_blogger --steps 30 --new-tokens 350   # ≈ 10 min on 2 cores

Appends to bench/sense/drafts-generated.jsonl: one line per draft with the author, the arm (base | adapter), the topic
(a held-out post's title) and the text. The benchmark itself (bench/sense.py) only reads the stored drafts.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.style import metrics, models

OUT = Path(__file__).resolve().parent / "sense" / "drafts-generated.jsonl"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--author", default="demo_blogger")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--new-tokens", type=int, default=350)
    ap.add_argument("--n", type=int, default=7, help="drafts per arm (held-out topics)")
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--arms", default="base,adapter")
    args = ap.parse_args(argv)
    author = next(a for a in metrics.split(metrics.load_korean()) if a.name == args.author)
    topics = author.test[: args.n]
    with tempfile.TemporaryDirectory(prefix="sense-gen-") as tmp:
        cfg = models.bench_config(Path(tmp), quick=True, steps=args.steps, new_tokens=args.new_tokens)
        for arm in args.arms.split(","):
            adapter = None
            if arm == "adapter":
                adapter = Path(tmp) / "adapter"
                t0 = time.perf_counter()
                models.tune(cfg, author.train, adapter)
                print(f"tuned {args.author} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            gens = models.generate(cfg, adapter, topics, seed=args.seed)
            OUT.parent.mkdir(parents=True, exist_ok=True)
            with OUT.open("a", encoding="utf-8") as fh:
                for g in gens:
                    fh.write(json.dumps({"author": args.author, "arm": arm, "steps": args.steps if adapter else 0,
                                         "new_tokens_limit": args.new_tokens, **g}, ensure_ascii=False) + "\n")
            print(f"{arm}: {len(gens)} drafts written to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
