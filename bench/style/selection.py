"""Best-of-n choice rules, offline: re-pick among the candidates a best-of-n run stored (`--set
generate.n_candidates=N --keep DIR`) and count how many picks the bench's masked judge attributes to their author.

    PYTHONPATH=. .venv/bin/python -m bench.style.selection RESULTS/style-bench.json KEEP/korean-real/select-store

Rules: `first` (the one-draft arm: candidate 0), `closeness` (the stylometric closeness alone, ties to the earlier),
`p_masked` (the product's masked classifier alone), `product` (bot.voice.style.select.rank, as the product orders
candidates, on the voice figures alone: without the gates, which every 120-token bench draft fails on length, and
without topic adherence), `oracle` (a topic counts when any candidate is attributed: the most any rule could reach);
then the product's rule among the first k candidates for every k (what a smaller time budget would have kept), and
the share of all candidates attributed (what one draft is worth on average: n = every candidate, less noisy than the
picks). `--arm served-adapter` reads that arm's candidates.
The product's voice model is fitted on the author's store (the training posts) as in the run; the judge on every
author's training posts of the corpus (bench/style/metrics.Judges).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.style import metrics

RULES = ("first", "closeness", "p_masked", "product", "oracle")


def main(argv: list[str] | None = None) -> int:
    from bot.core.config import Config
    from bot.core.store import open_db
    from bot.voice.style import select, voice

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path, help="style-bench.json of a best-of-n run")
    ap.add_argument("stores", type=Path, help="the run's select-store folder (one store per author)")
    ap.add_argument("--corpus", type=Path, default=metrics.KOREAN_REAL)
    ap.add_argument("--arm", default="adapter", help="the arm whose candidates to re-pick (adapter, served-adapter)")
    a = ap.parse_args(argv)
    c = json.loads(a.results.read_text(encoding="utf-8"))["corpora"][0]
    judges = metrics.Judges(metrics.split(metrics.load_folder(a.corpus)))
    pooled = dict.fromkeys(RULES, 0)
    by_n: dict[int, int] = {}  # the product's rule among the first k candidates: what a smaller budget would keep
    n_all = cands_all = hits_all = 0
    for name, t in c["targets"].items():
        gens = [g for g in (t.get(a.arm) or {}).get("generations", []) if g.get("candidate_bodies")]
        if not gens:
            continue
        cfg = Config(data_dir=a.stores / name)
        v = voice.load(cfg, open_db(cfg.data_path))
        got = dict.fromkeys(RULES, 0)
        cands = hits = 0
        for g in gens:
            bodies = [b.strip() for b in g["candidate_bodies"]]
            scores = [v.score(b, cfg.style.max_chars) for b in bodies]
            hit = [bool(b) and judges.share([b], name)["masked"] > 0 for b in bodies]
            n = range(len(bodies))
            pick = {"first": 0,
                    "closeness": max(n, key=lambda i: (scores[i].get("closeness") or 0, -i)),
                    "p_masked": max(n, key=lambda i: (scores[i].get("p_masked") or 0, -i)),
                    "product": max(n, key=lambda i: (*select.rank(scores[i]), -i))}
            for rule, i in pick.items():
                got[rule] += hit[i]
            got["oracle"] += any(hit)
            cands, hits = cands + len(hit), hits + sum(hit)
            for k in range(1, len(bodies) + 1):
                by_n[k] = by_n.get(k, 0) + hit[max(range(k), key=lambda i: (*select.rank(scores[i]), -i))]
        print(f"{name}: " + ", ".join(f"{r} {got[r]}/{len(gens)}" for r in RULES) + f"; candidates {hits}/{cands}")
        cands_all, hits_all = cands_all + cands, hits_all + hits
        for r in RULES:
            pooled[r] += got[r]
        n_all += len(gens)
    print("pooled: " + ", ".join(f"{r} {pooled[r]}/{n_all}" for r in RULES) + f"; candidates {hits_all}/{cands_all}")
    print("the product's rule among the first k candidates: " + ", ".join(f"k={k} {v}/{n_all}" for k, v in
                                                                           sorted(by_n.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
