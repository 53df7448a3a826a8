"""Which built-in background lets the product's voice score tell an author from other authors of the same language?

    PYTHONPATH=. .venv/bin/python -m bench.style.background [--corpus ../shared/corpora/ebg-english] [--authors 5]

For each target author of a folder corpus (one subfolder per author; the first --authors), the product's voice model
(bot.voice.style.voice.fit, as best-of-n, the fidelity score and the gates use it) is fitted on the author's
training posts (bench/style/metrics.split, as bench/style/run.py splits) once per background: the invented Korean
authors (`ko`, what every blogger got before the background followed the language) and the English essayists
(`en`). Each fitted model then scores the author's held-out posts and every other corpus author's held-out posts.
Printed per author and background: the AUC of the masked classifier's probability (p_masked), of the stylometric
closeness and of best-of-n's voice value (their mean), i.e. the chance that one of the author's own held-out posts
scores above one of another author's (0.5: no better than a coin); n = own and other held-out posts. The other
authors' posts stand in for drafts that do not sound like the author: a score that cannot rank them below the
author's own cannot pick the candidate that does.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from bench.style import metrics

FIGURES = ("p_masked", "closeness", "value")


def auc(own: list[float], other: list[float]) -> float:
    """P(own > other) + P(tie)/2 over all pairs."""
    pairs = [(a > b) + 0.5 * (a == b) for a in own for b in other]
    return sum(pairs) / len(pairs)


def main(argv: list[str] | None = None) -> int:
    from bot.core.config import Config
    from bot.voice.style import select, voice

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=metrics.EBG)
    ap.add_argument("--authors", type=int, default=5, help="target authors (the corpus's first N)")
    a = ap.parse_args(argv)
    if not a.corpus.is_dir():
        raise SystemExit(f"{a.corpus}: no such folder (the corpus is beside the checkout, ../shared)")
    cfg = Config(data_dir=Path("/nonexistent"))  # fit() reads only style settings
    authors = metrics.split(metrics.load_folder(a.corpus))
    backgrounds = {lang: voice.read_folder(folder) for lang, folder in sorted(voice.BUILTIN_BACKGROUNDS.items())}
    print(f"corpus {a.corpus.name}: {len(authors)} authors; backgrounds: "
          + ", ".join(f"{k} ({len(v)} authors, {sum(map(len, v.values()))} posts)" for k, v in backgrounds.items()))
    print("| author | n own / other | " + " | ".join(f"{lang} {f}" for lang in backgrounds for f in FIGURES) + " |")
    print("|---|---|" + "---|" * (len(backgrounds) * len(FIGURES)))
    pooled: dict[str, list[float]] = {f"{lang} {f}": [] for lang in backgrounds for f in FIGURES}
    for t in authors[: a.authors]:
        own = [metrics.text(p) for p in t.test]
        other = [metrics.text(p) for o in authors if o.name != t.name for p in o.test]
        cells = []
        for lang, bg in backgrounds.items():
            v = voice.fit([metrics.text(p) for p in t.train], bg, cfg, key=f"bench-{lang}-{t.name}")
            scores = {"own": [v.score(x, cfg.style.max_chars) for x in own],
                      "other": [v.score(x, cfg.style.max_chars) for x in other]}
            for f in FIGURES:
                get = select.value if f == "value" else (lambda s, f=f: s.get(f) or 0.0)
                x = auc([get(s) for s in scores["own"]], [get(s) for s in scores["other"]])
                pooled[f"{lang} {f}"].append(x)
                cells.append(f"{x:.2f}")
        print(f"| {t.name} | {len(own)} / {len(other)} | " + " | ".join(cells) + " |")
    print("| **mean** | | " + " | ".join(f"{statistics.mean(v):.2f}" for v in pooled.values()) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
