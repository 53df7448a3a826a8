"""Style benchmark: does a tuned adapter write like its author? JSON figures + a Markdown report with PNG charts.

    .venv/bin/python -m bench.style.run --quick                       # 3 Korean authors, 30 steps (≈ 15 min)
    .venv/bin/python -m bench.style.run --ebg ../shared/corpora/ebg-english --authors 30   # the full English figure
    .venv/bin/python -m bench.style.run --no-model                    # classifier side only (ceilings, separation)

For each corpus: split every author's posts (every 4th held out); train independent judges (plain and topic-masked
author identification over all authors) on the training posts; for each target author tune an adapter on its
training posts, generate one post per held-out topic, and the same base model prompted with 4 of the author's
posts and no adapter (the baseline); measure attribution, stylometric distance, held-out perplexity and copy rate.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.style import metrics, models, report

QUICK_KO_TARGETS = ["demo_blogger", "it_dev", "student_diary"]  # three clearly different voices


def _real_side(judges: metrics.Judges, t: metrics.Author, authors: list[metrics.Author]) -> dict[str, Any]:
    dm = metrics.distance_model(t, authors)
    others = [metrics.text(p) for a in authors if a.name != t.name for p in a.test]
    probe = judges.share(metrics.topic_impostors(t, others), t.name)
    return {"topic_impostors_plain": probe["plain"], "topic_impostors_masked": probe["masked"],
            "others_attributed": judges.share(others, t.name),"n_train": len(t.train), "n_test": len(t.test),
            "distance_own_heldout": metrics.mean_distance(dm, [metrics.text(p) for p in t.test]),
            "distance_other_authors": metrics.mean_distance(dm, others),
            "natural_copy": metrics.copy_rate(t.train, [metrics.text(p) for p in t.test])}, dm


def _generated_side(judges: metrics.Judges, t: metrics.Author, dm: Any, gens: list[dict]) -> dict[str, Any]:
    texts = [metrics.text_of(g) for g in gens]
    share = judges.share(texts, t.name)
    return {"n": len(texts), "attributed_plain": share["plain"], "attributed_masked": share["masked"],
            "distance": metrics.mean_distance(dm, texts), "copy": metrics.copy_rate(t.train, texts),
            "mean_chars": sum(len(x) for x in texts) / len(texts) if texts else None, "generations": gens}


def rescore(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Recompute the judges, distances and copy rates of a saved run from its stored generations (no model)."""
    res = json.loads(path.read_text(encoding="utf-8"))
    for c in res["corpora"]:
        corpus = metrics.load_korean() if c["corpus"] == "korean" else metrics.load_folder(args.ebg)
        authors = metrics.split(corpus)
        judges = metrics.Judges(authors)
        c["separation"] = metrics.separation(judges, authors)
        for t in authors:
            if t.name not in c["targets"]:
                continue
            row = c["targets"][t.name]
            row["real"], dm = _real_side(judges, t, authors)
            for arm in ("adapter", "prompting"):
                if arm in row:
                    row[arm] = _generated_side(judges, t, dm, row[arm].get("generations") or row[arm]["samples"])
    res["rescored"] = True
    return res


def run_corpus(name: str, corpus: dict, args: argparse.Namespace, work: Path, out: dict[str, Any],
               save: Callable[[], None]) -> dict[str, Any]:
    """Fill `out` stage by stage, calling save() after each (a run cut short still leaves its figures)."""
    t0 = time.perf_counter()
    authors = metrics.split(corpus)
    judges = metrics.Judges(authors)
    out.update({"corpus": name, "separation": metrics.separation(judges, authors), "targets": {}})
    wanted = args.targets or (QUICK_KO_TARGETS if name == "korean" and args.quick else None)
    targets = [a for a in authors if a.name in wanted] if wanted else authors[: args.authors]
    real = {}
    for t in targets:
        real[t.name] = _real_side(judges, t, authors)
        out["targets"][t.name] = {"real": real[t.name][0]}
    why = "--no-model given" if args.no_model else models.unavailable()
    out["model_side"] = why or "running"
    out["seconds"] = round(time.perf_counter() - t0, 1)
    save()
    if why:
        return out
    cfg = models.bench_config(work / name, args.quick, args.steps, args.new_tokens)
    out["model_config"] = {"tune": cfg.tune.model_dump(), "generate": cfg.generate.model_dump()}
    adapters = {}
    for t in targets:
        adapters[t.name] = work / name / "adapters" / t.name
        out["targets"][t.name]["tune"] = models.tune(cfg, t.train, adapters[t.name])
        out["seconds"] = round(time.perf_counter() - t0, 1)
        save()
        print(f"[{name}] tuned {t.name} ({out['seconds']} s)", file=sys.stderr)
    for t in targets:
        dm = real[t.name][1]
        topics = t.test[: args.gens]
        row = out["targets"][t.name]
        s0 = time.perf_counter()
        row["adapter"] = _generated_side(judges, t, dm, models.generate(cfg, adapters[t.name], topics, seed=args.seed))
        s1 = time.perf_counter()
        row["prompting"] = _generated_side(judges, t, dm, models.generate(cfg, None, topics, examples=t.train[:4],
                                                                          seed=args.seed))
        s2 = time.perf_counter()
        save()
        row["perplexity"] = models.perplexities(cfg, t.test[: args.ppl_posts],
                                                {f"adapter:{k}": v for k, v in adapters.items()})
        row["stage_seconds"] = {"adapter_generation": round(s1 - s0, 1), "prompting_generation": round(s2 - s1, 1),
                                "perplexity": round(time.perf_counter() - s2, 1)}
        out["seconds"] = round(time.perf_counter() - t0, 1)
        save()
        print(f"[{name}] generated and measured {t.name} ({out['seconds']} s)", file=sys.stderr)
    out["model_side"] = "ran"
    return out


def verdicts(res: dict[str, Any]) -> None:
    """The issue's targets, per target author, computed from the figures (None where not measured)."""
    for c in res["corpora"]:
        if "separation" not in c:
            continue
        ceil = c["separation"]["per_author"]
        for name, row in c["targets"].items():
            v: dict[str, Any] = {}
            if "perplexity" in row:
                a, p = row["adapter"]["attributed_masked"], row["prompting"]["attributed_masked"]
                v["masked_attr_ge_ceiling"] = a >= ceil[name]["ceiling_masked"]
                v["masked_attr_25pts_over_prompting"] = a - p >= 0.25
                ppl = row["perplexity"]
                own = ppl[f"adapter:{name}"]
                others = [x for k, x in ppl.items() if k.startswith("adapter:") and k != f"adapter:{name}"]
                v["own_ppl_10pct_below_best_other"] = (own <= 0.9 * min(others)) if others else None
                v["author_specific_ppl_gain"] = (1 - own / min(others)) if others else None
                v["copy_le_natural"] = row["adapter"]["copy"]["share"] <= row["real"]["natural_copy"]["share"]
            row["targets_met"] = v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 Korean authors, 30 tuning steps, 4 short generations each")
    ap.add_argument("--no-korean", action="store_true", help="skip the invented Korean authors")
    ap.add_argument("--ebg", type=Path, help="an English corpus folder, one subfolder per author")
    ap.add_argument("--authors", type=int, default=5, help="target authors per corpus (first N)")
    ap.add_argument("--targets", nargs="*", help="target author names")
    ap.add_argument("--gens", type=int, default=None, help="generations per target (default 4 quick, 10 full)")
    ap.add_argument("--steps", type=int, help="tuning steps per adapter")
    ap.add_argument("--new-tokens", type=int, help="max new tokens per generation")
    ap.add_argument("--ppl-posts", type=int, help="held-out posts per author for perplexity (default 5 quick, all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-model", action="store_true", help="classifier side only")
    ap.add_argument("--rescore", type=Path, help="recompute the judge/distance/copy figures of a saved JSON")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args(argv)
    args.gens = args.gens or (4 if args.quick else 10)
    args.ppl_posts = args.ppl_posts or (5 if args.quick else 10**6)
    if args.rescore:
        res = rescore(args.rescore, args)
        verdicts(res)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "style-bench.json").write_text(json.dumps(res, ensure_ascii=False, indent=1, default=str),
                                                   encoding="utf-8")
        report.write(res, args.out)
        print(json.dumps(report.headline(res), ensure_ascii=False, indent=1))
        return 0
    t0 = time.perf_counter()
    res: dict[str, Any] = {"quick": args.quick, "complete": False, "corpora": []}
    args.out.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        res["seconds"] = round(time.perf_counter() - t0, 1)
        verdicts(res)
        (args.out / "style-bench.json").write_text(json.dumps(res, ensure_ascii=False, indent=1, default=str),
                                                   encoding="utf-8")
        report.write(res, args.out)

    with tempfile.TemporaryDirectory(prefix="stylebench-") as tmp:
        if not args.no_korean:
            res["corpora"].append({})
            run_corpus("korean", metrics.load_korean(), args, Path(tmp), res["corpora"][-1], save)
        if args.ebg:
            ebg_args = argparse.Namespace(**{**vars(args), "targets": None,
                                             "authors": 2 if args.quick else args.authors})
            res["corpora"].append({})
            run_corpus("ebg-english", metrics.load_folder(args.ebg), ebg_args, Path(tmp), res["corpora"][-1], save)
    res["complete"] = True
    save()
    print(json.dumps(report.headline(res), ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
