"""Benchmark, classifier side: corpora, train/held-out splits, independent judges, ceilings, distance, copy rates."""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.core.records import Post
from bot.voice.style import classifier, distance, features
from bot.voice.style.gates import CopyIndex, copy_chars, words
from bot.voice.style.voice import BUILTIN_BACKGROUND

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo" / "posts"
KOREAN_REAL = Path(__file__).resolve().parent / "corpora" / "korean-real"  # real bloggers, see each SOURCE.md
EBG = ROOT.parent / "shared" / "corpora" / "ebg-english"  # real English essays (read-only, shared)
analyze = functools.lru_cache(maxsize=None)(features.analyze)  # each text is analysed once per run


@dataclass
class Author:
    name: str
    train: list[Post]
    test: list[Post]


# Bodies only: a generation's title is the topic, which comes from the held-out post itself (for EBG essays, its
# first sentence), so judging titles would leak the answer.
def text(p: Post) -> str:
    return p.body_markdown.strip()


def text_of(gen: dict) -> str:
    return (gen.get("body_markdown") or "").strip()


NOT_POSTS = {"README", "SOURCE", "LICENSE"}  # a corpus folder's provenance files


def read_dir(folder: Path, name: str) -> list[Post]:
    """An author's posts: Markdown with front matter through platforms.files.read, .txt files as raw text."""
    from platforms.files.read import read_file

    out: list[Post] = []
    for f in sorted(folder.iterdir()):
        if f.suffix.lower() == ".txt":
            body = f.read_text(encoding="utf-8", errors="replace").replace("\u202d", "").replace("\u202c", "")
            out.append(Post(platform="bench", source_id=f"{name}/{f.name}", title="", body_markdown=body.strip()))
        elif f.suffix.lower() in (".md", ".markdown") and f.stem.upper() not in NOT_POSTS:
            for p in read_file(f):
                p.source_id = f"{name}/{f.name}"
                out.append(p)
    return [p for p in out if p.body_markdown.strip()]


def load_korean(include_demo: bool = True) -> dict[str, list[Post]]:
    """The invented Korean authors shipped with blogbot (+ the demo blogger)."""
    out = {d.name: read_dir(d, d.name) for d in sorted(BUILTIN_BACKGROUND.iterdir()) if d.is_dir()}
    if include_demo and DEMO.is_dir():
        out["demo_blogger"] = read_dir(DEMO, "demo_blogger")
    return {k: v for k, v in out.items() if len(v) >= 8}


def load_folder(root: Path) -> dict[str, list[Post]]:
    """A corpus with one subfolder per author (e.g. ebg-english)."""
    out = {d.name: read_dir(d, d.name) for d in sorted(root.iterdir()) if d.is_dir()}
    return {k: v for k, v in out.items() if len(v) >= 6}


def split(corpus: dict[str, list[Post]], test_share: float = 0.25) -> list[Author]:
    """Deterministic split: every k-th post (by file name) is held out."""
    k = max(2, round(1 / test_share))
    out = []
    for name, posts in corpus.items():
        posts = sorted(posts, key=lambda p: p.source_id)
        out.append(Author(name, [p for i, p in enumerate(posts) if i % k != k - 1],
                          [p for i, p in enumerate(posts) if i % k == k - 1]))
    return out


class Judges:
    """Independent author-identification classifiers (plain and topic-masked), trained on real training posts."""

    def __init__(self, authors: list[Author]) -> None:
        texts = [text(p) for a in authors for p in a.train]
        self.labels = [a.name for a in authors for _ in a.train]
        masked = [analyze(t).masked for t in texts]
        self.plain = classifier.fit_multiclass("plain", texts, self.labels)
        self.masked = classifier.fit_multiclass("masked", masked, self.labels)

    def attribute(self, texts: list[str]) -> dict[str, list[str]]:
        if not texts:
            return {"plain": [], "masked": []}
        masked = [analyze(t).masked for t in texts]
        return {"plain": list(self.plain.predict(texts)), "masked": list(self.masked.predict(masked))}

    def share(self, texts: list[str], target: str) -> dict[str, float | None]:
        """Share of the texts attributed to target; an empty text counts as not attributed."""
        got = self.attribute(texts)
        return {k: (float(np.mean([x == target and bool(t.strip()) for x, t in zip(v, texts, strict=True)]))
                    if v else None) for k, v in got.items()}


def separation(judges: Judges, authors: list[Author]) -> dict[str, Any]:
    """Held-out accuracy over all authors and each author's ceiling (own held-out posts attributed to them)."""
    out: dict[str, Any] = {"authors": len(authors), "per_author": {}}
    hits = {"plain": 0, "masked": 0}
    n = 0
    for a in authors:
        s = judges.share([text(p) for p in a.test], a.name)
        out["per_author"][a.name] = {"ceiling_plain": s["plain"], "ceiling_masked": s["masked"], "n_test": len(a.test)}
        for k in hits:
            hits[k] += round((s[k] or 0) * len(a.test))
        n += len(a.test)
    out["accuracy_plain"] = hits["plain"] / n if n else None
    out["accuracy_masked"] = hits["masked"] / n if n else None
    out["chance"] = 1 / len(authors) if authors else None
    out["n_test"] = n
    return out


def distance_model(target: Author, authors: list[Author]) -> distance.Distance:
    def vecs(ps: list[Post]) -> list[list[float]]:
        return [features.vector(features.features(analyze(text(p)).counts)) for p in ps]

    return distance.fit(vecs(target.train), {a.name: vecs(a.train) for a in authors if a.name != target.name})


def distances(dm: distance.Distance, texts: list[str]) -> list[float]:
    if not texts or not dm.usable:
        return []
    return [dm.normalized(features.vector(features.features(analyze(t).counts))) for t in texts]


def mean_distance(dm: distance.Distance, texts: list[str]) -> float | None:
    """The median distance of the texts to the author (None when the profile does not separate the author)."""
    d = distances(dm, texts)
    return float(np.median(d)) if d else None


def distance_spread(dm: distance.Distance, texts: list[str]) -> float | None:
    """How much the distance of the author's own posts varies: their standard deviation (None under 2 texts)."""
    d = distances(dm, texts)
    return float(np.std(d, ddof=1)) if len(d) >= 2 else None


def own_at_length(dm: distance.Distance, own: list[str], texts: list[str]) -> dict[str, float | int | None]:
    """The author's own held-out posts cut to the texts' median length (characters): their median distance and
    spread, the fair reference for drafts shorter than a post. A post shorter than that length stays whole."""
    if not texts or not own:
        return {"length_chars": None, "distance_own_at_length": None, "distance_own_at_length_spread": None}
    n = int(np.median([len(t) for t in texts]))
    cut = [t[:n] for t in own]
    return {"length_chars": n, "distance_own_at_length": mean_distance(dm, cut),
            "distance_own_at_length_spread": distance_spread(dm, cut)}


def middles(own: list[str], n: int, per: int = 5, seed: int = 0) -> list[str]:
    """Up to `per` slices of n characters from each text's middle (after its first n characters): what a draft
    that reads like the middle of a post is held against, where `own_at_length` holds it against the openings."""
    rng = random.Random(seed)
    return [t[i:i + n] for t in own if len(t) >= 3 * n for i in (rng.randint(n, len(t) - n) for _ in range(per))]


def copy_rate(train: list[Post], texts: list[str]) -> dict[str, float | None]:
    """Share of the texts' character windows (10 letters and digits, spaces removed: bot.voice.style.gates) found in
    the training posts, and the longest shared run in characters (max). Word 8-grams almost never repeat in Korean."""
    if not texts:
        return {"share": None, "longest_run_max": None}
    idx = CopyIndex.build([text(p) for p in train])
    checks = [idx.check(t) for t in texts]
    grams = [max(0, len(copy_chars(t)) - idx.window + 1) for t in texts]
    total = sum(grams)
    share = sum(c["share"] * g for c, g in zip(checks, grams, strict=True)) / total if total else 0.0
    return {"share": share, "longest_run_max": max(c["longest_run"] for c in checks)}


def topic_impostors(target: Author, others: list[str], seed: int = 0) -> list[str]:
    """Other authors' posts with their nouns swapped for the target's most frequent nouns: the target's topics in
    another voice. A judge that rewards topic words attributes these to the target; a style judge does not."""
    import random
    from collections import Counter

    from bot.voice.style.features import kiwi, language

    rng = random.Random(seed)
    nouns = Counter(t.form for p in target.train if language(text(p)) == "ko"
                    for t in kiwi().tokenize(text(p)) if t.tag in ("NNG", "NNP") and len(t.form) > 1)
    pool = [w for w, _ in nouns.most_common(60)]
    if not pool:  # English: the target's most frequent content words
        cnt = Counter(w for p in target.train for w in words(text(p)) if w not in features.EN_FUNCTION and len(w) > 3)
        pool = [w for w, _ in cnt.most_common(60)]
        swap = set(pool)
        return [" ".join(rng.choice(pool) if (w.lower() not in features.EN_FUNCTION and len(w) > 3
                                               and w.lower() not in swap) else w for w in t.split()) for t in others]
    out = []
    for t in others:
        parts, pos = [], 0
        for tok in kiwi().tokenize(t):
            if tok.tag in ("NNG", "NNP") and len(tok.form) > 1 and tok.start >= pos:
                parts += [t[pos:tok.start], rng.choice(pool)]
                pos = tok.start + tok.len
        out.append("".join(parts) + t[pos:])
    return out
