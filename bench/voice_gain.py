"""Does the promotion gate's voice measure know the author's own adapter? (issue 14: promote on a style measure)

For each real author with a kept adapter (bench/style --keep), every adapter is measured on every author's held-out
posts (never trained on by any of them) and on the style background, against the base model:

    ppl gain    (base − adapter) loss on the author's held-out posts, nats/token — what perplexity alone rewards
    voice gain  ppl gain minus the same gain on other authors' posts (the background) — the gate's voice measure

A measure that follows the author's voice ranks the author's own adapter first on the author's posts. Printed: both
matrices, and per author the own adapter's rank under each measure and its margin over the best other adapter.

    .venv/bin/python bench/voice_gain.py [--keep /tmp/i14/keep] [--corpus korean-real] [--chars 1500] [--json OUT]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]


def _clip(posts: list, chars: int) -> list:
    return [dataclasses.replace(p, body_markdown=p.body_markdown[:chars]) for p in posts]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", type=Path, default=Path("/tmp/i14/keep"), help="bench/style --keep folder")
    ap.add_argument("--corpus", default="korean-real")
    ap.add_argument("--chars", type=int, default=1500, help="characters read of each post")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)

    from style import metrics, models

    from bot.voice import model as bm
    from bot.voice import tune

    folder = a.keep / a.corpus / "adapters"
    adapters = {p.name: p for p in sorted(folder.iterdir()) if (p / "adapter_config.json").exists()} \
        if folder.is_dir() else {}
    if len(adapters) < 2:
        raise SystemExit(f"{folder}: fewer than 2 kept adapters (run bench/style with --keep first)")
    corpus = {"korean-real": lambda: metrics.load_folder(metrics.KOREAN_REAL), "korean": metrics.load_korean,
              "ebg-english": lambda: metrics.load_folder(metrics.EBG)}[a.corpus]()
    authors = [t for t in metrics.split(corpus) if t.name in adapters]
    cfg = models.bench_config(Path(tempfile.mkdtemp(prefix="voice-gain-")), True, None, None)
    others = tune.other_authors(cfg, [p for t in authors for p in t.train + t.test])
    texts = {t.name: _clip(t.test, a.chars) for t in authors} | {"(background)": others}
    t0 = time.perf_counter()
    model, tok = bm.load_model(cfg)
    seq = cfg.tune.seq_len

    def nll(posts: list) -> float:
        return math.log(tune.perplexity(model, tok, posts, seq))

    base = {k: nll(v) for k, v in texts.items()}
    from peft import PeftModel

    first, *rest = adapters.items()
    model = PeftModel.from_pretrained(model, str(first[1]), adapter_name=first[0])
    for name, path in rest:
        model.load_adapter(str(path), adapter_name=name)
    gain: dict[str, dict[str, float]] = {}
    for name in adapters:
        model.set_adapter(name)
        gain[name] = {k: base[k] - nll(v) for k, v in texts.items()}
        print(f"  adapter {name}: measured ({time.perf_counter() - t0:.0f} s)", flush=True)
    names = [t.name for t in authors]
    voice = {ad: {x: gain[ad][x] - gain[ad]["(background)"] for x in names} for ad in adapters}
    ppl = {ad: {x: gain[ad][x] for x in names} for ad in adapters}

    def table(title: str, m: dict[str, dict[str, float]]) -> None:
        print(f"\n{title} (rows: held-out posts of; columns: adapter of; nats/token)")
        print(f"{'':12s}" + "".join(f"{ad:>12s}" for ad in adapters))
        for x in names:
            best = max(adapters, key=lambda ad: m[ad][x])
            print(f"{x:12s}" + "".join(f"{m[ad][x]:+11.4f}{'*' if ad == best else ' '}" for ad in adapters))

    table("ppl gain", ppl)
    table("voice gain", voice)
    rows = {}
    for x in names:
        row = {}
        for label, m in (("ppl", ppl), ("voice", voice)):
            ranked = sorted(adapters, key=lambda ad: -m[ad][x])
            best_other = max(m[ad][x] for ad in adapters if ad != x)
            row[label] = {"own_rank": ranked.index(x) + 1, "margin": round(m[x][x] - best_other, 4)}
        rows[x] = row
    print("\nown adapter on the author's held-out posts (rank among the adapters; margin over the best other):")
    for x, r in rows.items():
        print(f"  {x:12s} perplexity rank {r['ppl']['own_rank']} (margin {r['ppl']['margin']:+.4f})   "
              f"voice rank {r['voice']['own_rank']} (margin {r['voice']['margin']:+.4f})")
    for label in ("ppl", "voice"):
        first_n = sum(r[label]["own_rank"] == 1 for r in rows.values())
        print(f"  {label:5s}: own adapter first for {first_n}/{len(rows)} authors")
    held = {t.name: len(t.test) for t in authors}
    print(f"\nn: held-out posts per author {held} (first {a.chars} chars each); background {len(others)} posts; "
          f"{time.perf_counter() - t0:.0f} s")
    if a.json:
        a.json.write_text(json.dumps({"ppl_gain": ppl, "voice_gain": voice, "base_nll": base, "rows": rows,
                                      "n_held_out": held, "n_background": len(others), "chars": a.chars},
                                     indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
