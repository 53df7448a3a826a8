"""Benchmark of the sense gate (bot.voice.style.sense): real held-out posts pass, the embedded model's drafts and
corrupted texts are blocked. Every figure is measured here; nothing is generated at run time.

    .venv/bin/python -m bench.sense                       # Korean invented authors + demo + EBG English (≈ 1 min)
    .venv/bin/python -m bench.sense --no-ebg --json out.json
    .venv/bin/python -m bench.sense --rows bench/sense/results.json      # re-tabulate a stored run

Per author (the invented Korean authors, the demo blogger, ../shared/corpora/ebg-english when present) every 4th post
is held out; the gate's bounds are calibrated on the other posts only (as `blogbot` calibrates on the author's posts).
Judged with that author's bounds:
- real: the held-out posts (must pass: target ≥ 95 %);
- drafts: the embedded model's stored drafts for that author (bench/sense/*.jsonl: the bench/style runs' adapter and
  prompting generations, and bench.sense_generate's bare-base and adapter drafts) (must be blocked: target ≥ 90 %);
- corrupted: each held-out post with its sentences shuffled, its second half replaced by a run of hashtags built from
  its own nouns, or one paragraph repeated (must be blocked: target ≥ 90 %).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bench.style import metrics
from bot.core.config import GatesConfig
from bot.voice.style import gates, layout, sense

HERE = Path(__file__).resolve().parent / "sense"
EBG = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "ebg-english"
TARGETS = {"real": 0.95, "drafts": 0.90, "corrupted": 0.90}
GATES = GatesConfig()


def shuffled(text: str, rng: random.Random) -> str:
    """The same sentences in a random order, refilled into paragraphs of the original sizes."""
    return sense.shuffle_sentences(text, rng)


def hashtag_run(text: str, rng: random.Random) -> str:
    """The first half of the paragraphs, then a run of hashtags made from the text's own words (the degeneration
    a bare model shows: #난리 #난리남 #난리할때는 …)."""
    paras = re.split(r"\n\s*\n", text.strip())
    keep = paras[: max(1, len(paras) // 2)]
    words = [w for w in re.findall(r"[가-힣A-Za-z]{2,}", text)]
    stems = list(dict.fromkeys(w[:3] for w in words))[:6] or ["일상"]
    suffixes = ["", "남", "스타그램", "맛집", "추천", "일기", "할때는", "그램", "최고", "중"]
    tags = [f"#{rng.choice(stems)}{rng.choice(suffixes)}" for _ in range(rng.randint(12, 25))]
    return "\n\n".join(keep) + "\n\n" + " ".join(tags)


def repeated_paragraph(text: str, rng: random.Random) -> str:
    """One paragraph (the longest) appears again right after the next one."""
    paras = re.split(r"\n\s*\n", text.strip())
    i = max(range(len(paras)), key=lambda j: len(paras[j]))
    at = min(len(paras), i + 2)
    return "\n\n".join(paras[:at] + [paras[i]] + paras[at:])


CORRUPTIONS = {"shuffled": shuffled, "hashtags": hashtag_run, "repeated": repeated_paragraph}


def load_drafts() -> list[dict[str, Any]]:
    out = []
    for f in sorted(HERE.glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                d = json.loads(line)
                d["file"] = f.name
                out.append(d)
    return out


def run(ebg: Path | None, seed: int = 0) -> dict[str, Any]:
    t0 = time.perf_counter()
    corpora = {"korean": metrics.load_korean()}
    if ebg is not None and ebg.is_dir():
        corpora["ebg-english"] = metrics.load_folder(ebg)
    drafts = defaultdict(list)
    for d in load_drafts():
        drafts[d["author"]].append(d)
    rows: list[dict[str, Any]] = []
    rng = random.Random(seed)
    for cname, corpus in corpora.items():
        authors = metrics.split(corpus)
        for a in authors:
            # the order model sees the author's training posts and the other authors' (the product's background)
            prof = sense.calibrate([metrics.text(p) for p in a.train], source=a.name,
                                   order_texts=[metrics.text(p) for b in authors for p in b.train])
            prof.layout = layout.calibrate([metrics.text(p) for p in a.train])
            prof.max_hashtags = max(len(gates.hashtags(metrics.text(p))) for p in a.train)
            for p in a.test:
                t = metrics.text(p)
                rows.append(_row(prof, cname, a.name, "real", "real", p.source_id, t))
                for kind, fn in CORRUPTIONS.items():
                    rows.append(_row(prof, cname, a.name, "corrupted", kind, p.source_id, fn(t, rng)))
            print(f"[{cname}] {a.name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            for d in drafts.get(a.name, []):
                arm = d["arm"] + (f"-{d['steps']}steps" if d["arm"] == "adapter" else "")
                rows.append(_row(prof, cname, a.name, "drafts", arm, f"{d['file']}:{d.get('topic', '')[:30]}",
                                 metrics.text_of(d)))
    return {"rows": rows, "seconds": round(time.perf_counter() - t0, 1)}


def _row(prof: sense.SenseProfile, corpus: str, author: str, group: str, kind: str, ref: str,
         text: str) -> dict[str, Any]:
    r = prof.check(text)
    lay = prof.layout.check(text, GATES.layout_slack) if prof.layout else None
    rep = gates.repetition_gate(GATES, text, prof.max_hashtags)
    return {"corpus": corpus, "author": author, "group": group, "kind": kind, "ref": ref, "passed": r["passed"],
            "failed": r["failed"], "signals": {k: v for k, v in r["signals"].items() if k != "lang"},
            "layout_passed": None if lay is None else lay["passed"], "layout_out": sorted((lay or {}).get("out", {})),
            "repetition_passed": rep["passed"]}


def table(rows: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The confusion table (per group and kind: passed, blocked, rate) and whether each target holds."""
    by = defaultdict(list)
    for r in rows:
        by[(r["group"], r["kind"], r["corpus"])].append(r)
    lines = ["| group | kind | corpus | n | passed | blocked | good | why blocked (signal: count) |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    verdict: dict[str, Any] = {}
    for (g, k, c), rs in sorted(by.items()):
        n, passed = len(rs), sum(r["passed"] for r in rs)
        good = passed / n if g == "real" else (n - passed) / n
        why = Counter(f for r in rs for f in r["failed"])
        lines.append(f"| {g} | {k} | {c} | {n} | {passed} | {n - passed} | {good:.0%} | "
                     + ", ".join(f"{s}: {m}" for s, m in why.most_common()) + " |")
    for g, target in TARGETS.items():
        rs = [r for r in rows if r["group"] == g]
        if not rs:
            continue
        good = sum(r["passed"] for r in rs) if g == "real" else sum(not r["passed"] for r in rs)
        verdict[g] = {"n": len(rs), "good": good, "rate": round(good / len(rs), 4), "target": target,
                      "met": good / len(rs) >= target}
    lines.append("")
    lines.append("| | passed by the gate | blocked by the gate |")
    lines.append("|---|---:|---:|")
    for g in TARGETS:
        rs = [r for r in rows if r["group"] == g]
        lines.append(f"| {g} ({'should pass' if g == 'real' else 'should be blocked'}) | "
                     f"{sum(r['passed'] for r in rs)} | {sum(not r['passed'] for r in rs)} |")
    lines.append("")
    for g, v in verdict.items():
        lines.append(f"- {g}: {v['good']}/{v['n']} = {v['rate']:.1%} "
                     f"{'passed' if g == 'real' else 'blocked'} (target ≥ {v['target']:.0%}) — "
                     f"{'met' if v['met'] else 'NOT met'}")
    for c in sorted({r["corpus"] for r in rows}):
        parts = []
        for g, target in TARGETS.items():
            rs = [r for r in rows if r["group"] == g and r["corpus"] == c]
            if rs:
                good = sum(r["passed"] for r in rs) if g == "real" else sum(not r["passed"] for r in rs)
                met = "" if good / len(rs) >= target else " (NOT met)"
                parts.append(f"{g} {good}/{len(rs)} = {good / len(rs):.1%} "
                             f"{'passed' if g == 'real' else 'blocked'}{met}")
        lines.append(f"- {c} alone: " + "; ".join(parts))
    lines += ["", "Layout and repetition gates on the same texts (the layout gate is calibrated on the author's "
              "training posts, `gates.layout_slack` 0.5; target: ≥ 95 % of real held-out posts pass):", "",
              "| group | kind | corpus | n | layout passed | layout out of range (feature: count) | "
              "repetition passed |", "|---|---|---|---:|---:|---|---:|"]
    for (g, k, c), rs in sorted(by.items()):
        lay = [r for r in rs if r["layout_passed"] is not None]
        why = Counter(f for r in rs for f in r["layout_out"])
        lines.append(f"| {g} | {k} | {c} | {len(rs)} | {sum(r['layout_passed'] for r in lay)}/{len(lay)} | "
                     + ", ".join(f"{s}: {m}" for s, m in why.most_common())
                     + f" | {sum(r['repetition_passed'] for r in rs)}/{len(rs)} |")
    real = [r for r in rows if r["group"] == "real" and r["layout_passed"] is not None]
    if real:
        rate = sum(r["layout_passed"] for r in real) / len(real)
        verdict["layout_real"] = {"n": len(real), "rate": round(rate, 4), "target": 0.95, "met": rate >= 0.95}
        lines.append(f"\n- layout, real held-out posts: {rate:.1%} passed (target ≥ 95%) — "
                     f"{'met' if rate >= 0.95 else 'NOT met'}")
    return "\n".join(lines), verdict


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--ebg", type=Path, default=EBG)
    ap.add_argument("--no-ebg", action="store_true")
    ap.add_argument("--json", type=Path, help="write every row here")
    ap.add_argument("--report", type=Path, default=HERE / "REPORT.md")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rows", type=Path, help="re-tabulate the rows of an earlier --json run (no measuring)")
    args = ap.parse_args(argv)
    if args.rows:
        res = json.loads(args.rows.read_text(encoding="utf-8"))
    else:
        res = run(None if args.no_ebg else args.ebg, args.seed)
    text, verdict = table(res["rows"])
    print(text)
    print(f"({res['seconds']} s)", file=sys.stderr)
    if args.json and not args.rows:
        args.json.write_text(json.dumps({**res, "verdict": verdict}, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.report:
        args.report.write_text("# bench/sense — the sense gate's confusion table\n\n"
                               "Written by `.venv/bin/python -m bench.sense`"
                               f"{' --no-ebg' if args.no_ebg else ''} ({res['seconds']} s).\n\n" + text + "\n",
                               encoding="utf-8")
    return 0 if all(v["met"] for v in verdict.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
