"""Benchmark of the title step (bot/voice/title.py): on held-out posts, the title the model writes for the post's
body vs the topic line copied (what drafts got before) vs the author's real title.

    .venv/bin/python -m bench.title                        # invented authors + the demo blogger (≈ 3 min, 1 thread)
    .venv/bin/python -m bench.title --real --per-author 8  # + the five real Korean bloggers (≈ 5 min; as stored)
    .venv/bin/python -m bench.title --rows bench/title/results.json   # re-tabulate the stored run

Per author every 4th post is held out (bench/style's split); the others are the author's posts the step picks its
(opening → title) pairs from (related to the topic first). For each held-out post: the topic line is what a user
would queue for it (`title.topic_line`: the title's nouns, else its tags), and the step writes a title for the real
body's opening with the embedded Gemma 3 270M through llama.cpp (the product's LlamaCppBackend, bare base: no
adapter, 1 thread). Arms: `real` (the author's own held-out title: the reference), `topic` (the topic line copied:
the baseline), `model` (the step's title, the topic line when the step falls back, as in the product).
Figures per arm, each with its n:
- judge: share of titles attributed to their author by a character n-gram classifier trained on the training
  titles of every author of the corpus (bench/style's plain judge, on titles);
- length: share within the author's training-title length range; median |length − real title's length|;
- ending: share whose ending form (polite -요/-용, formal -니다, plain -다, nominal -음/-함, noun, mark: ㅋ/ㅎ,
  !, ?, emoji) is the real title's; share whose form the author uses for ≥ 20 % of their training titles;
- gate: share passing the title gate (bot.voice.style.gates.title_gate with the training titles' lengths);
- cost of the step (model arm): new tokens, prompt tokens, seconds (median, max).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.style import metrics
from bot.core.config import Config, GatesConfig
from bot.core.records import Post
from bot.voice import title as T
from bot.voice.style import classifier
from bot.voice.style.features import kiwi
from bot.voice.style.gates import title_gate
from bot.voice.style.voice import title_lengths

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "bench" / "style" / "corpora" / "korean-real"
MARKS = (("ㅋ", "mark:ㅋㅎ"), ("ㅎ", "mark:ㅋㅎ"), ("ㅠ", "mark:ㅠ"), ("!", "mark:!"), ("?", "mark:?"))


def ending(title: str) -> str:
    """The ending form of a title (see the module's docstring)."""
    t = title.strip()
    if not t:
        return "empty"
    last = t.rstrip(" .~…")[-1:] if t.rstrip(" .~…") else ""
    if last and ord(last) >= 0x2600 and not ("\uac00" <= last <= "\ud7a3"):
        return "mark:emoji"
    for ch, form in MARKS:
        if last == ch:
            return form
    toks = [x for x in kiwi().tokenize(t) if not x.tag.startswith("S")]
    if not toks:
        return "other"
    tag, form = toks[-1].tag, toks[-1].form
    if tag == "EF":
        if form.endswith(("요", "용", "죠")):
            return "polite"
        if form.endswith("니다") or form.endswith("니까"):
            return "formal"
        return "plain"
    if tag == "ETN":
        return "nominal"
    if tag.startswith("N") or tag in ("SL", "SH", "SN", "XSN"):
        return "noun"
    return "other"


def load(real: bool) -> dict[str, dict[str, list[Post]]]:
    corpora = {"korean": metrics.load_korean()}
    if real and REAL.is_dir():
        corpora["korean-real"] = metrics.load_folder(REAL)
    return corpora


def backend(cache: Path, data: Path) -> Any:
    from bot.voice.backends.llamacpp import LlamaCppBackend

    cfg = Config(data_dir=data, model={"backend": "llamacpp", "threads": 1, "cache_dir": str(cache)})
    return LlamaCppBackend(cfg)


def run_corpus(name: str, corpus: dict[str, list[Post]], b: Any, per_author: int) -> dict[str, Any]:
    authors = metrics.split(corpus)
    labels = [a.name for a in authors for p in a.train if p.title.strip()]
    judge = classifier.fit_multiclass("plain", [p.title for a in authors for p in a.train if p.title.strip()], labels)
    rows = []
    for a in authors:
        b.titles.posts = a.train
        lengths = title_lengths([p.title for p in a.train])
        forms = Counter(ending(p.title) for p in a.train if p.title.strip())
        habits = {f for f, n in forms.items() if n >= 0.2 * sum(forms.values())}
        for p in [p for p in a.test if p.title.strip()][:per_author]:
            topic = T.topic_line(p.title, p.tags)
            t0 = time.monotonic()
            got, info = b.titles(None, p.body_markdown, topic, p.tags, None)
            row = {"corpus": name, "author": a.name, "real": p.title, "topic": topic, "model": got,
                   "source": info["title_source"], "reason": info.get("title_reason"),
                   "tokens": info.get("title_tokens"), "prompt_tokens": info.get("title_prompt_tokens"),
                   "seconds": round(time.monotonic() - t0, 2), "lengths": lengths, "habits": sorted(habits)}
            rows.append(row)
            print(f"  {a.name}: {p.title!r} | topic {topic!r} | model {got!r} ({info['title_source']}, "
                  f"{row['seconds']} s)", flush=True)
    for r in rows:
        for arm in ("real", "topic", "model"):
            r[f"judge_{arm}"] = str(judge.predict([r[arm]])[0]) if r[arm].strip() else None
    return {"corpus": name, "authors": [a.name for a in authors], "rows": rows}


def pct(k: int, n: int) -> str:
    return f"{k / n:.0%} ({k}/{n})" if n else "–"


def table(rows: list[dict[str, Any]]) -> list[str]:
    g = GatesConfig()
    out = ["| arm | judge: own author | length in author's range | median abs length diff to real | ending = real's "
           "| ending among author's habits | title gate passes |", "|---|---|---|---|---|---|---|"]
    for arm in ("real", "topic", "model"):
        n = len(rows)
        judged = sum(r[f"judge_{arm}"] == r["author"] for r in rows)
        in_range = sum(bool(r["lengths"]) and r["lengths"]["min"] <= len(r[arm]) <= r["lengths"]["max"]
                       for r in rows)
        diffs = [abs(len(r[arm]) - len(r["real"])) for r in rows]
        same = sum(ending(r[arm]) == ending(r["real"]) for r in rows)
        habit = sum(ending(r[arm]) in r["habits"] for r in rows)
        gate = sum(title_gate(g, r[arm], r["topic"], r["lengths"])["passed"] for r in rows)
        out.append(f"| {arm} | {pct(judged, n)} | {pct(in_range, n)} | "
                   f"{statistics.median(diffs) if diffs else '–'} (n={n}) | {pct(same, n)} | {pct(habit, n)} | "
                   f"{pct(gate, n)} |")
    return out


def report(results: list[dict[str, Any]]) -> str:
    lines = ["# bench/title — the title step vs the topic line copied", "",
             "`python -m bench.title` (see its docstring). Arms: `real` = the author's own held-out title (the "
             "reference), `topic` = the topic line a user would queue for the post, copied (the old behaviour), "
             "`model` = the title step's title for the real body (embedded Gemma 3 270M, bare base, llama.cpp, 1 "
             "thread; the topic line where the step fell back). Every share with its count.", ""]
    for res in results:
        rows = res["rows"]
        lines += [f"## {res['corpus']} ({len(res['authors'])} authors, {len(rows)} held-out posts)", ""]
        lines += table(rows) + [""]
        for a in res["authors"]:
            sub = [r for r in rows if r["author"] == a]
            if sub:
                own = {arm: sum(r[f"judge_{arm}"] == a for r in sub) for arm in ("real", "topic", "model")}
                lines.append(f"- {a}: judged own — real {pct(own['real'], len(sub))}, topic "
                             f"{pct(own['topic'], len(sub))}, model {pct(own['model'], len(sub))}; title sources "
                             f"{dict(Counter(r['source'] for r in sub))}")
        lines.append("")
        model = [r for r in rows if r["tokens"] is not None]
        if model:
            secs, toks = [r["seconds"] for r in model], [r["tokens"] for r in model]
            prompt = statistics.median(r["prompt_tokens"] for r in model)
            lines += [f"Cost of the step (n={len(model)}): new tokens median {statistics.median(toks)} (max "
                      f"{max(toks)}), prompt tokens median {prompt}, seconds median {statistics.median(secs):.1f} "
                      f"(max {max(secs):.1f}) on 1 llama.cpp thread.", ""]
        src = Counter(r["source"] for r in rows)
        lines += [f"Title sources: {dict(src)}; fallback reasons: "
                  + "; ".join(sorted({r['reason'] for r in rows if r['reason']}))[:600], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.title", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", action="store_true", help="add the real Korean bloggers of bench/style")
    ap.add_argument("--per-author", type=int, default=8, help="held-out posts per author (bounds the run)")
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("BLOGBOT_BENCH_CACHE",
                                                                      Path.home() / ".cache" / "blogbot-bench")))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "title")
    ap.add_argument("--rows", type=Path, help="re-tabulate a stored results.json (nothing generated)")
    a = ap.parse_args(argv)
    if a.rows:
        print(report(json.loads(a.rows.read_text(encoding="utf-8"))))
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        b = backend(a.cache, Path(tmp) / "data")
        try:
            for name, corpus in load(a.real).items():
                print(f"{name}: {len(corpus)} authors", flush=True)
                results.append(run_corpus(name, corpus, b, a.per_author))
        finally:
            b.close()
    text = report(results)
    print(text)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    (a.out / "REPORT.md").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
