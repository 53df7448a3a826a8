"""Style benchmark: does a tuned adapter write like its author? JSON figures + a Markdown report with PNG charts.

    .venv/bin/python -m bench.style.run --quick                       # real Korean bloggers + invented + English
    .venv/bin/python -m bench.style.run --quick --corpora korean-real --keep /tmp/sb   # keep adapters, generations
    .venv/bin/python -m bench.style.run --no-model                    # classifier side only (ceilings, separation)

For each corpus: split every author's posts (every 4th held out); train independent judges (plain and topic-masked
author identification over all authors) on the training posts; for each target author tune an adapter on its
training posts, generate one post per held-out topic, and the same base model prompted with 4 of the author's
posts and no adapter (the baseline); measure attribution, stylometric distance, held-out perplexity and copy rate,
and print the issue's targets per author, met or not.
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

from bench.style import metrics, models, report, targets

QUICK_KO_TARGETS = ["demo_blogger", "it_dev", "student_diary"]  # three clearly different invented voices
CORPORA = ("korean-real", "korean", "ebg-english")  # real Korean bloggers, invented Korean authors, real English
ARMS = ("adapter", "prompting", "adapter+related", "served-adapter", "api-prompting")
# --backend NAME: the arms drafted by that product backend (bench/style/models.py ARM_BACKENDS)
BACKEND_ARMS = {"local": ("adapter", "prompting"), "llamacpp": ("served-adapter",), "openai": ("api-prompting",)}
UNTUNED_ARMS = ("prompting", "api-prompting")  # arms that draft without the author's adapter: the tune is not theirs
SCORING = ("tune", "perplexity", "ppl_posts", "ppl_chars")  # a target's figures that do not depend on its drafts
# bump when blogbot's drafting changes what a draft is without a setting to show it (--resume drafts again): 2 = line
# breaks writable on the torch path (Gemma 3's newline tokens had been banned with the other added tokens)
DRAFTING = 2
RELATED_K = 2  # the lever arm: the author's adapter + this many of the author's posts related to the topic


def load_corpus(name: str, args: argparse.Namespace) -> dict[str, list] | None:
    """A corpus by name (None when its folder is absent here, e.g. ../shared outside the workspace)."""
    if name == "korean":
        return metrics.load_korean()
    folder = {"korean-real": args.korean_real, "ebg-english": args.ebg}[name]
    return metrics.load_folder(folder) if folder and folder.is_dir() else None


def unknown_targets(wanted: list[str] | None, names: set[str]) -> list[str]:
    """The --targets that no loaded corpus has (an error, never silently ignored)."""
    return sorted(set(wanted or []) - names)


def pick_targets(names: list[str], wanted: list[str] | None, n: int, default: list[str] | None = None) -> list[str]:
    """The target authors of one corpus: those of --targets it has (none when --targets names only other corpora's
    authors), else the quick default when it has them, else its first n."""
    if wanted:
        return [a for a in names if a in wanted]
    if default and all(a in names for a in default):
        return list(default)
    return names[:n]


def draft_topics(test: list, n: int) -> list:
    """n held-out posts to write about: the held-out topics in order, again from the first when there are fewer
    than n (each draft has its own seed), so every arm drafts the same n topics."""
    return [test[i % len(test)] for i in range(n)] if test else []


def arms_of(arms: list[str] | None, backends: list[str] | None) -> list[str]:
    """--arms and the arms of --backend together, in ARMS order (default: adapter and prompting)."""
    wanted = set(arms or []) | {a for b in backends or [] for a in BACKEND_ARMS[b]}
    return [a for a in ARMS if a in wanted] or ["adapter", "prompting"]


def same_recipe(old: dict[str, Any] | None, new: dict[str, Any], tuned: bool = True) -> bool:
    """Whether an earlier run's figures can be kept (--resume): the same tune, generation and perplexity settings
    (`tuned` False: the tune settings aside, for the arms that draft without an adapter). The number of drafts may
    differ (each arm keeps the n it was measured with, printed beside every figure)."""
    def norm(c: dict[str, Any]) -> dict[str, Any]:
        c = {k: v for k, v in json.loads(json.dumps(c)).items() if k != "gens" and (tuned or k != "tune")}
        if isinstance(c.get("tune"), dict):  # a tune setting added since, at its default, is the same recipe
            c["tune"] = models.recipe(c["tune"])
        if isinstance(c.get("generate"), dict):
            c["generate"] = {k: v for k, v in {**models.GENERATE_ADDED_AT, **c["generate"]}.items()
                             if k not in models.BODY_NEUTRAL}
        c.setdefault("drafting", 1)  # a run recorded before DRAFTING existed drafted with version 1
        return c

    return old is not None and norm(old) == norm(new)


def same_scoring(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether an earlier run's held-out perplexity can be kept (--resume) though its drafts cannot: the same tune and
    perplexity settings, whatever the drafting (another length, seed or best-of-n leaves the adapters and their
    perplexity as they were; a kept adapter is reused by models.tune, which records its tune again)."""
    def scoring(c: dict[str, Any]) -> dict[str, Any]:
        return {k: c.get(k) for k in ("tune", "ppl_posts", "ppl_chars")}

    return old is not None and same_recipe(scoring(old), scoring(new))


def _real_side(judges: metrics.Judges, t: metrics.Author, authors: list[metrics.Author]) -> tuple[dict, Any]:
    dm = metrics.distance_model(t, authors)
    others = [metrics.text(p) for a in authors if a.name != t.name for p in a.test]
    own = [metrics.text(p) for p in t.test]
    probe = judges.share(metrics.topic_impostors(t, others), t.name)
    return {"topic_impostors_plain": probe["plain"], "topic_impostors_masked": probe["masked"],
            "others_attributed": judges.share(others, t.name), "n_others": len(others),
            "n_train": len(t.train), "n_test": len(t.test),
            "distance_own_heldout": metrics.mean_distance(dm, own),
            "distance_own_spread": metrics.distance_spread(dm, own),
            "distance_other_authors": metrics.mean_distance(dm, others),
            "natural_copy": metrics.copy_rate(t.train, own)}, dm


def _generated_side(judges: metrics.Judges, t: metrics.Author, dm: Any, gens: list[dict]) -> dict[str, Any]:
    texts = [metrics.text_of(g) for g in gens]
    share = judges.share(texts, t.name)
    # Stylometric features of a 150-character text spread far wider than those of a whole post, so drafts capped by
    # --new-tokens are held against the author's own held-out posts cut to the drafts' median length.
    own = [metrics.text(p) for p in t.test]
    refs = metrics.own_at_length(dm, own, texts)
    if refs["length_chars"] is not None:  # the judge on the own posts cut alike: is a gap length or voice?
        refs["ceiling_at_length_masked"] = judges.share([x[:refs["length_chars"]] for x in own], t.name)["masked"]
        mid = metrics.middles(own, refs["length_chars"])  # a post's middle can be far less its author's than its start
        refs["middles_at_length_masked"], refs["n_middles"] = judges.share(mid, t.name)["masked"], len(mid)
    if any(g.get("candidate_bodies") for g in gens):  # best-of-n: what any choice among the candidates could reach
        hits = [judges.share([b.strip() for b in g["candidate_bodies"]], t.name)["masked"] or 0.0
                for g in gens if g.get("candidate_bodies")]
        refs["oracle_masked"] = sum(h > 0 for h in hits) / len(hits)
    return {"n": len(texts), "attributed_plain": share["plain"], "attributed_masked": share["masked"],
            "distance": metrics.mean_distance(dm, texts), "copy": metrics.copy_rate(t.train, texts),
            "mean_chars": sum(len(x) for x in texts) / len(texts) if texts else None, **refs, "generations": gens}


def write_generations(folder: Path, gens: list[dict]) -> None:
    """Each generation as a Markdown file (topic, arm inputs in the front matter) to read one by one."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, g in enumerate(gens):
        head = json.dumps({k: g.get(k) for k in ("topic", "examples", "new_tokens", "seconds")}, ensure_ascii=False)
        (folder / f"{i:02d}.md").write_text(f"<!-- {head} -->\n# {g.get('title') or g.get('topic')}\n\n"
                                            f"{g.get('body_markdown') or ''}\n", encoding="utf-8")


def rescore(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Recompute the judges, distances and copy rates of a saved run from its stored generations (no model)."""
    res = json.loads(path.read_text(encoding="utf-8"))
    for c in res["corpora"]:
        corpus = load_corpus(c["corpus"], args)
        if corpus is None:
            continue
        authors = metrics.split(corpus)
        judges = metrics.Judges(authors)
        c["separation"] = metrics.separation(judges, authors)
        for t in authors:
            if t.name not in c["targets"]:
                continue
            row = c["targets"][t.name]
            row["real"], dm = _real_side(judges, t, authors)
            for arm in ARMS:
                if arm in row:
                    row[arm] = _generated_side(judges, t, dm, row[arm].get("generations") or row[arm]["samples"])
    res["rescored"] = True
    return res


def run_corpus(name: str, corpus: dict, args: argparse.Namespace, work: Path, out: dict[str, Any],
               save: Callable[[], None], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fill `out` stage by stage, calling save() after each (a run cut short still leaves its figures). `previous`:
    this corpus in an earlier result (--resume); its complete targets are kept, not measured again."""
    t0 = time.perf_counter()
    authors = metrics.split(corpus)
    judges = metrics.Judges(authors)
    out.update({"corpus": name, "separation": metrics.separation(judges, authors), "targets": {}})
    names = pick_targets([a.name for a in authors], args.targets, args.authors,
                         QUICK_KO_TARGETS if name == "korean" and args.quick else None)
    chosen = [a for a in authors if a.name in names]
    lang = models.corpus_language([p for a in authors for p in a.train])
    out["language"] = lang
    real = {}
    for t in chosen:
        real[t.name] = _real_side(judges, t, authors)
        out["targets"][t.name] = {"name": t.name, "real": real[t.name][0]}
    why = "--no-model given" if args.no_model else ("no target author" if not chosen else models.unavailable())
    out["model_side"] = why or "running"
    out["seconds"] = round(time.perf_counter() - t0, 1)
    save()
    if why:
        return out
    cfg = models.apply_settings(models.bench_config(work / name, args.quick, args.steps, args.new_tokens),
                                getattr(args, "set", None) or [])
    out["model_config"] = {"tune": cfg.tune.model_dump(), "generate": cfg.generate.model_dump(), "gens": args.gens,
                           "ppl_posts": args.ppl_posts, "ppl_chars": args.ppl_chars, "seed": args.seed,
                           "drafting": DRAFTING}
    out["arm_backends"] = {a: models.ARM_BACKENDS[a] for a in args.arms}
    if "api-prompting" in args.arms:
        out["api_prompting"] = {"server": "llama.cpp server (xllamacpp) on the embedded GGUF, no adapter",
                                "model": models.API_ALIAS, "api": "chat", "example_tokens": models.API_EXAMPLE_TOKENS,
                                "max_examples": cfg.model.max_examples, "max_tokens": cfg.generate.max_new_tokens}
    old_config = (previous or {}).get("model_config")
    same = same_recipe(old_config, out["model_config"])
    untuned = same_recipe(old_config, out["model_config"], tuned=False)  # another tune: the prompting arms stay
    scored = same_scoring(old_config, out["model_config"])  # other drafting: the perplexity stays
    for t in chosen:  # --resume: what an earlier run with the same recipe measured is kept, arm by arm
        old = ((previous or {}).get("targets") or {}).get(t.name) if untuned or scored else None
        kept = {k: v for k, v in (old or {}).items() if k in (*ARMS, *SCORING)
                and (same or (untuned and k in UNTUNED_ARMS) or (scored and k in SCORING))
                and (k not in ARMS or not getattr(args, "more", False) or (v.get("n") or 0) >= args.gens)}
        if kept:
            out["targets"][t.name].update(kept, resumed=sorted(kept))
    for k, v in ((previous or {}).get("targets") or {}).items() if same else ():
        out["targets"].setdefault(k, v)  # authors measured earlier and not named this time stay in the report
    todo = {t.name: [a for a in args.arms if a not in out["targets"][t.name]] for t in chosen}
    todo = {k: v for k, v in todo.items() if v or "perplexity" not in out["targets"][k]}
    adapter_root = work / name / "adapters"
    for t in chosen:
        if t.name not in todo:
            continue
        out["targets"][t.name]["tune"] = models.tune(cfg, t.train, adapter_root / t.name)
        out["seconds"] = round(time.perf_counter() - t0, 1)
        save()
        print(f"[{name}] tuned {t.name} ({out['seconds']} s)", file=sys.stderr)
    if args.tune_only:
        out["model_side"] = "tuned only (--tune-only)"
        return out
    for t in chosen:
        if t.name not in todo:
            continue
        dm, topics, row = real[t.name][1], draft_topics(t.test, args.gens), out["targets"][t.name]
        inputs = {"adapter": (adapter_root / t.name, None),
                  "prompting": (None, t.train[:4]),
                  "adapter+related": (adapter_root / t.name,
                                      lambda p, t=t: _related(t.train, p)),
                  "served-adapter": (adapter_root / t.name, None),
                  "api-prompting": (None, None)}  # the openai backend picks the related posts itself (brief.py)
        stage = row.get("stage_seconds") or {}
        for arm in todo[t.name]:
            s0 = time.perf_counter()
            arm_cfg = cfg
            if arm == "api-prompting":
                store = models.author_store(work / name / "api-store" / t.name, t.train)
                arm_cfg = models.arm_config(cfg, arm, args.api.url, store)
            elif arm in models.ARM_BACKENDS:
                arm_cfg = models.arm_config(cfg, arm)
            store = None
            if arm_cfg.generate.n_candidates > 1 and arm != "api-prompting":  # best-of-n judges in the author's store
                store = models.author_store(work / name / "select-store" / t.name, t.train)
            gens = models.generate(arm_cfg, inputs[arm][0], topics, examples=inputs[arm][1], seed=args.seed,
                                   lang=lang, store=store or (arm_cfg.data_dir if arm == "api-prompting" else None))
            row[arm] = _generated_side(judges, t, dm, gens)
            if args.keep:
                write_generations(work / name / "generations" / t.name / arm, gens)
            stage[f"{arm}_generation"] = round(time.perf_counter() - s0, 1)
            save()
        if "perplexity" not in row:
            s0 = time.perf_counter()
            against = models.kept_adapters(cfg, adapter_root)
            row["ppl_posts"] = len(t.test[: args.ppl_posts])
            row["ppl_chars"] = args.ppl_chars
            row["perplexity"] = models.perplexities(cfg, t.test[: args.ppl_posts],
                                                    {f"adapter:{k}": v for k, v in against.items()}, args.ppl_chars)
            stage["perplexity"] = round(time.perf_counter() - s0, 1)
        row["stage_seconds"] = stage
        out["seconds"] = round(time.perf_counter() - t0, 1)
        save()
        print(f"[{name}] generated and measured {t.name} ({out['seconds']} s)", file=sys.stderr)
    out["model_side"] = "ran"
    return out


def _related(train: list, held_out: Any) -> list:
    from bot.voice.style.retrieve import related_posts

    return related_posts(train, models._topic(held_out), None, k=RELATED_K)


def verdicts(res: dict[str, Any]) -> None:
    """The issue's targets per target author and drafting arm (bench/style/targets.py)."""
    for c in res["corpora"]:
        if "separation" not in c:
            continue
        for name, row in c["targets"].items():
            row.setdefault("name", name)
            row["targets_met"] = targets.for_row(row, c["separation"]["per_author"][name])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="30 tuning steps, short generations, 3 invented authors")
    ap.add_argument("--corpora", nargs="+", choices=CORPORA, default=list(CORPORA), help="corpora to run")
    ap.add_argument("--no-korean", action="store_true", help="skip the invented Korean authors")
    ap.add_argument("--ebg", type=Path, default=metrics.EBG, help="the English corpus (one subfolder per author)")
    ap.add_argument("--korean-real", type=Path, default=metrics.KOREAN_REAL, help="the real Korean bloggers")
    ap.add_argument("--authors", type=int, default=5, help="target authors per corpus (first N) without --targets")
    ap.add_argument("--targets", nargs="+", help="target author names (in any corpus; an unknown name is an error)")
    ap.add_argument("--arms", nargs="+", choices=ARMS,
                    help="adapter, prompting (baseline), adapter+related (adapter + the author's related posts), "
                         "served-adapter (the adapter through llama.cpp), api-prompting (the openai backend against "
                         "a local llama.cpp server); default: adapter prompting")
    ap.add_argument("--backend", nargs="+", choices=sorted(BACKEND_ARMS),
                    help="add the arms drafted by these product backends: local (adapter, prompting), llamacpp "
                         "(served-adapter), openai (api-prompting)")
    ap.add_argument("--gens", type=int, default=10, help="generations per target and arm")
    ap.add_argument("--steps", type=int, help="tuning steps per adapter")
    ap.add_argument("--new-tokens", type=int, help="max new tokens per generation")
    ap.add_argument("--ppl-posts", type=int, help="held-out posts per author for perplexity (default 3 quick, all)")
    ap.add_argument("--ppl-chars", type=int, help="score the first N characters of each post (default 1500 quick, all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-model", action="store_true", help="classifier side only")
    ap.add_argument("--keep", type=Path, help="keep adapters and generations here (reused when the recipe matches)")
    ap.add_argument("--tune-only", action="store_true", help="tune (or reuse) the adapters, measure nothing else")
    ap.add_argument("--resume", action="store_true",
                    help="keep what the JSON already in --out measured with the same recipe, arm by arm (the "
                         "prompting arms also after another tune: they draft without an adapter; the held-out "
                         "perplexity also with other drafting settings)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="a config setting for this run (a lever: generate.vocab=full, tune.learning_rate=1e-4); "
                         "recorded in the recipe, so --resume keeps only runs with the same settings")
    ap.add_argument("--more", action="store_true",
                    help="with --resume: an arm measured with fewer than --gens drafts is drafted again with --gens")
    ap.add_argument("--rescore", type=Path, help="recompute the judge/distance/copy figures of a saved JSON")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args(argv)
    try:  # a wrong setting fails here, before anything is loaded
        models.apply_settings(models.bench_config(Path(tempfile.gettempdir()), args.quick, None, None), args.set)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        errors = getattr(exc, "errors", None)
        ap.error(f"--set {errors()[0]['loc'][-1]}: {errors()[0]['msg']}" if errors else str(exc))
    args.arms = arms_of(args.arms, args.backend)
    args.ppl_posts = args.ppl_posts or (3 if args.quick else 10**6)
    args.ppl_chars = args.ppl_chars or (1500 if args.quick else None)
    if args.no_korean:
        args.corpora = [c for c in args.corpora if c != "korean"]
    if args.rescore:
        res = rescore(args.rescore, args)
        verdicts(res)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "style-bench.json").write_text(json.dumps(res, ensure_ascii=False, indent=1, default=str),
                                                   encoding="utf-8")
        report.write(res, args.out)
        print(json.dumps(report.headline(res), ensure_ascii=False, indent=1))
        return 0
    loaded = {n: load_corpus(n, args) for n in args.corpora}
    skipped = {n: "corpus folder absent" for n, c in loaded.items() if c is None}
    loaded = {n: c for n, c in loaded.items() if c is not None}
    bad = unknown_targets(args.targets, {a for c in loaded.values() for a in c})
    if bad:
        ap.error(f"--targets: no author named {', '.join(bad)} in {', '.join(loaded) or 'any corpus'}")
    t0 = time.perf_counter()
    res: dict[str, Any] = {"quick": args.quick, "complete": False, "corpora": [], "skipped": skipped,
                           "args": {k: str(v) for k, v in vars(args).items()}}
    args.out.mkdir(parents=True, exist_ok=True)
    prev_path = args.out / "style-bench.json"
    previous = json.loads(prev_path.read_text(encoding="utf-8")) if args.resume and prev_path.exists() else {}
    prev_by_name = {c.get("corpus"): c for c in previous.get("corpora", [])}

    def save() -> None:
        res["seconds"] = round(time.perf_counter() - t0, 1)
        verdicts(res)
        prev_path.write_text(json.dumps(res, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        report.write(res, args.out, charts=res["complete"])

    with tempfile.TemporaryDirectory(prefix="stylebench-") as tmp:
        work = args.keep or Path(tmp)
        args.api = models.ApiServer(models.bench_config(work, args.quick, args.steps, args.new_tokens))
        try:
            for name, corpus in loaded.items():
                res["corpora"].append({})
                run_corpus(name, corpus, args, work, res["corpora"][-1], save, prev_by_name.get(name))
        finally:
            args.api.close()
    res["complete"] = True
    save()
    print(json.dumps(report.headline(res), ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
