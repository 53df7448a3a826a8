"""Best-of-n choice rules, offline: re-pick among the candidates a best-of-n run stored (`--set
generate.n_candidates=N --keep DIR`) and count how many picks the bench's masked judge attributes to their author.

    PYTHONPATH=. .venv/bin/python -m bench.style.selection RESULTS/style-bench.json KEEP/korean-real/select-store

Rules: `first` (the one-draft arm: candidate 0), `closeness` (the stylometric closeness alone, ties to the earlier),
`p_masked` (the product's masked classifier alone), `product` (bot.voice.style.select.rank, as the product orders
candidates, on the voice figures alone: without the gates, which every 120-token bench draft fails on length, and
without topic adherence), `oracle` (a topic counts when any candidate is attributed: the most any rule could reach);
then the product's rule among the first k candidates for every k (what a smaller time budget would have kept), and
the share of all candidates attributed (what one draft is worth on average: n = every candidate, less noisy than the
picks). `--arm served-adapter` reads that arm's candidates. `--as-run` replays the product's whole choice instead
(bot.voice.style.select.pick_best: the gates, the copy preference, topic adherence, then the rule), without the
copy preference, and without topic adherence multiplying the voice, and prints the kept drafts' attribution, copy rate
against the author's natural rate, mean topic adherence and distance against the target, then pick_best among the
first k candidates for every k. `--with OTHER.json ...` appends the candidates of runs
that continue this one's seeds (the same recipe, `--seed` advanced by 1000 × the candidates drawn so far, so candidate
j of topic i keeps the seed seed + i + 1000·j): a best-of-3 run and one continuing it are replayed as one best-of-6
run, a one-draft run and a best-of-2 run at --seed + 1000 as one best-of-3 run.
The product's voice model is fitted on the author's store (the training posts) as in the run; the judge on every
author's training posts of the corpus (bench/style/metrics.Judges).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

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
    ap.add_argument("--as-run", action="store_true", help="replay pick_best (gates, copy, topic), without the copy "
                                                          "preference, and without topic adherence")
    ap.add_argument("--with", dest="more", type=Path, nargs="+", default=[], metavar="OTHER.json",
                    help="runs continuing this one's candidate seeds (--seed + n_candidates × 1000 each), appended")
    a = ap.parse_args(argv)
    c = json.loads(a.results.read_text(encoding="utf-8"))["corpora"][0]
    if a.more:
        extend(c, a.more, a.arm)
    authors = metrics.split(metrics.load_folder(a.corpus))
    judges = metrics.Judges(authors)
    if a.as_run:
        return as_run(c, a.stores, a.arm, authors, judges)
    pooled, near_all = dict.fromkeys(RULES, 0), {r: 0 for r in RULES if r != "oracle"}
    by_name = {t.name: t for t in authors}
    by_n: dict[int, int] = {}  # the product's rule among the first k candidates: what a smaller budget would keep
    n_all = cands_all = hits_all = 0
    for name, t in c["targets"].items():
        gens = [g for g in (t.get(a.arm) or {}).get("generations", []) if g.get("candidate_bodies")]
        if not gens:
            continue
        cfg = Config(data_dir=a.stores / name)
        v = voice.load(cfg, open_db(cfg.data_path))
        got = dict.fromkeys(RULES, 0)
        picked: dict[str, list[str]] = {r: [] for r in near_all}
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
                picked[rule].append(bodies[i])
            got["oracle"] += any(hit)
            cands, hits = cands + len(hit), hits + sum(hit)
            for k in range(1, len(bodies) + 1):
                by_n[k] = by_n.get(k, 0) + hit[max(range(k), key=lambda i: (*select.rank(scores[i]), -i))]
        limit = _limit(by_name[name], authors)  # one distance model per author, for every rule
        near = {r: _distance(limit, picked[r]) for r in picked}
        print(f"{name}: " + ", ".join(f"{r} {got[r]}/{len(gens)}{near.get(r, '')}" for r in RULES)
              + f"; candidates {hits}/{cands}")
        for r, x in near.items():
            near_all[r] += "✓" in x
        cands_all, hits_all = cands_all + cands, hits_all + hits
        for r in RULES:
            pooled[r] += got[r]
        n_all += len(gens)
    print("pooled: " + ", ".join(f"{r} {pooled[r]}/{n_all}" for r in RULES) + f"; candidates {hits_all}/{cands_all}")
    print("authors whose picks meet the distance target: " + ", ".join(f"{r} {k}" for r, k in near_all.items()))
    print("the product's rule among the first k candidates: " + ", ".join(f"k={k} {v}/{n_all}" for k, v in
                                                                           sorted(by_n.items())))
    return 0



def extend(c: dict, others: list[Path], arm: str) -> None:
    """Append to every generation of `arm` in corpus result `c` the candidates of the same topic in `others`, runs
    of the same recipe whose seeds continue c's (see the module's doc); any other run is an error naming its file.
    The runs may draw different numbers of candidates: a one-draft run (its draft is candidate 0) continued by a
    best-of-2 run at --seed s + 1000 replays as one best-of-3 run at s."""
    from bench.style.models import CANDIDATE_SEED_STEP

    mc = c["model_config"]

    def recipe(m: dict) -> dict:
        return {**m, "seed": None, "generate": {**m.get("generate", {}), "n_candidates": None}}

    def candidates(g: dict) -> list[str]:
        return g.get("candidate_bodies") or [g.get("body_markdown") or ""]  # a one-draft run stores only the draft

    drawn = mc["generate"]["n_candidates"]  # candidates per topic so far: the next run's seed continues from there
    for path in others:
        o = json.loads(path.read_text(encoding="utf-8"))["corpora"][0]
        want = mc["seed"] + drawn * CANDIDATE_SEED_STEP
        if recipe(o["model_config"]) != recipe(mc) or o["model_config"]["seed"] != want:
            raise SystemExit(f"{path}: not a continuation of this run (needs the same recipe and --seed {want}; it "
                             f"has --seed {o['model_config']['seed']})")
        for name, t in c["targets"].items():
            gens = (t.get(arm) or {}).get("generations", [])
            more = ((o["targets"].get(name) or {}).get(arm) or {}).get("generations", [])
            if [g["topic"] for g in gens] != [g["topic"] for g in more]:
                raise SystemExit(f"{path}: {name}'s {arm} topics differ from this run's")
            for g, h in zip(gens, more, strict=True):
                g["candidate_bodies"] = candidates(g) + candidates(h)
        drawn += o["model_config"]["generate"]["n_candidates"]


def as_run(c: dict, stores: Path, arm: str, authors: list[metrics.Author], judges: metrics.Judges) -> int:
    """The product's choice replayed on the stored candidates (as bench/style/models._picker runs it), the same
    without the copy preference, and the same without topic adherence (`order_without_topic`): drafts attributed, the
    kept drafts' copy rate against the author's natural rate, their mean topic adherence and their median distance
    against the author's held-out posts cut to the kept drafts' median length, plus their spread (the issue's copy
    and distance targets, as bench/style/run.py sets them)."""
    from bench.style.models import _topic
    from bot.core.config import Config
    from bot.core.records import Generation
    from bot.core.store import open_db
    from bot.voice.style import select

    by_name = {t.name: t for t in authors}
    tags = {_topic(p): p.tags for t in authors for p in t.test}
    rules = ("without copy preference", "pick_best", "pick_best without topic adherence")
    total, met, near_met, n_all = dict.fromkeys(rules, 0), dict.fromkeys(rules, 0), dict.fromkeys(rules, 0), 0
    first_k: dict[int, dict[str, list[str]]] = {}  # k → author → the drafts pick_best keeps among the first k
    limits: dict[str, tuple[Any, list[str]]] = {}  # author → (distance model, held-out posts)
    for name, t in c["targets"].items():
        gens = [g for g in (t.get(arm) or {}).get("generations", []) if g.get("candidate_bodies")]
        if not gens:
            continue
        cfg = Config(data_dir=stores / name)
        db = open_db(cfg.data_path)
        author = by_name[name]
        natural = metrics.copy_rate(author.train, [metrics.text(p) for p in author.test])["share"] or 0.0
        limits[name] = _limit(author, authors)
        kept: dict[str, list[str]] = {r: [] for r in rules}
        topic: dict[str, list[float]] = {r: [] for r in rules}  # the kept drafts' topic adherence
        for g in gens:
            cands = [Generation(title=g["title"], body_markdown=b, tags=[], adapter_version=None, base_model="bench",
                                params={}, duration_s=0.0, new_tokens=0) for b in g["candidate_bodies"]]
            best, details = select.pick_best(cfg, db, {"topic": g["topic"], "tags": tags.get(g["topic"], [])}, cands)
            old = max(details, key=lambda d: select.order({**d, "copy_within_yours": True}))["index"]
            off_topic = max(details, key=order_without_topic)["index"]
            for rule, i in zip(rules, (old, best, off_topic), strict=True):
                kept[rule].append(g["candidate_bodies"][i].strip())
                ov = details[i]["score"].get("topic_overlap")  # None: no topic keywords, 1 as select.value counts it
                topic[rule].append(1.0 if ov is None else ov)
            for k in range(1, len(details) + 1):  # what a budget of k candidates would have kept
                body = g["candidate_bodies"][max(details[:k], key=select.order)["index"]].strip()
                first_k.setdefault(k, {}).setdefault(name, []).append(body)
        line = []
        for rule in rules:
            hits = sum(bool(b) and judges.share([b], name)["masked"] > 0 for b in kept[rule])
            copy = metrics.copy_rate(author.train, kept[rule])["share"] or 0.0
            near = _distance(limits[name], kept[rule])
            total[rule] += hits
            met[rule] += copy <= natural
            near_met[rule] += "✓" in near
            line.append(f"{rule} {hits}/{len(gens)}, copy {copy:.1%}, topic {statistics.mean(topic[rule]):.2f}{near}")
        print(f"{name} (natural copy {natural:.1%}): " + "; ".join(line))
        n_all += len(gens)
    print("pooled: " + "; ".join(f"{r} {total[r]}/{n_all}, copy at or below the natural rate for {met[r]} authors, "
                                 f"distance target met for {near_met[r]}" for r in rules))
    print("pick_best among the first k candidates (attributed per author and the kept drafts' median distance "
          "against the target, pooled):")
    for k, kept_k in sorted(first_k.items()):
        hits = {name: sum(bool(b) and judges.share([b], name)["masked"] > 0 for b in bodies)
                for name, bodies in kept_k.items()}
        near = {name: _distance(limits[name], bodies) for name, bodies in kept_k.items()}
        print(f"  k={k}: " + ", ".join(f"{name} {h}/{len(kept_k[name])}{near[name]}" for name, h in hits.items())
              + f"; pooled {sum(hits.values())}/{sum(len(b) for b in kept_k.values())}, distance target met for "
              f"{sum('✓' in x for x in near.values())} of {sum(bool(x) for x in near.values())} authors")
    return 0


def order_without_topic(detail: dict[str, Any]) -> tuple:
    """pick_best's order (bot.voice.style.select.order) with the voice alone in the rank: topic adherence no longer
    multiplies it (what the topic costs the voice: the kept drafts' topic adherence is printed beside)."""
    from bot.voice.style import select

    score = {k: v for k, v in detail["score"].items() if k != "topic_overlap"}
    return select.order({**detail, "score": score})


def _limit(author: metrics.Author, authors: list[metrics.Author]) -> tuple[Any, list[str]]:
    """(the author's distance model, their held-out posts): what `_target` holds kept drafts against."""
    return metrics.distance_model(author, authors), [metrics.text(p) for p in author.test]


def _target(limit: tuple[Any, list[str]], bodies: list[str]) -> float | None:
    """The distance target for these drafts, as bench/style/run.py sets it: the author's held-out posts cut to the
    drafts' median length, their median distance + their spread (None where the profile does not separate the
    author)."""
    ref = metrics.own_at_length(limit[0], limit[1], bodies)
    d, spread = ref["distance_own_at_length"], ref["distance_own_at_length_spread"]
    return None if d is None else d + (spread or 0)


def _distance(limit: tuple[Any, list[str]], bodies: list[str]) -> str:
    """' d 0.61 ≤ 2.14 ✓': the drafts' median distance against their distance target ('' where either is
    missing)."""
    dist, target = metrics.mean_distance(limit[0], bodies), _target(limit, bodies)
    if dist is None or target is None:
        return ""
    ok = dist <= target + 1e-9
    return f" d {dist:.2f} {'≤' if ok else '>'} {target:.2f} {'✓' if ok else '✗'}"


if __name__ == "__main__":
    raise SystemExit(main())
