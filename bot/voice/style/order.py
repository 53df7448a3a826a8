"""Sentence order: where in a post a sentence usually stands, and a text's sentences in a random order."""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

_MD = re.compile(r"!\[[^\]]*\]\([^)]*\)|\[([^\]]*)\]\([^)]*\)"
                 r"|^\s{0,3}(?:#{1,6}\s+|[-*+•✔]\s+|\d+[.)]\s+|>\s*)|\*\*|__|`", re.M)
_EN_SENT = re.compile(r"(?<=[.!?…])\s+")
_WORDISH = re.compile(r"[\w가-힣]+")


def sentence_list(text: str) -> list[str]:
    """Sentences in reading order (lines, then sentence-final punctuation), Markdown markers removed."""
    out = []
    for ln in _MD.sub(lambda m: m.group(1) or "", text).split("\n"):
        out += [s.strip() for s in _EN_SENT.split(ln.strip()) if _WORDISH.search(s)]
    return out


def shuffle_sentences(text: str, rng: random.Random) -> str:
    """The same sentences in a random order, refilled into paragraphs of the original sizes (a corrupted text for
    calibration and benchmarks)."""
    paras = []
    for para in re.split(r"\n\s*\n", text.strip()):
        sents = [x for ln in para.split("\n") for x in re.split(r"(?<=[.!?…])\s+", ln.strip()) if x.strip()]
        if sents:
            paras.append(sents)
    flat = [x for p in paras for x in p]
    order = flat[:]
    for _ in range(10):
        rng.shuffle(order)
        if order != flat:
            break
    out, i = [], 0
    for p in paras:
        out.append(" ".join(order[i:i + len(p)]))
        i += len(p)
    return "\n\n".join(out)


@dataclass
class OrderModel:
    """Where in a post a sentence usually stands (greetings first, plans and thanks last, connectives in between):
    a ridge regression from a sentence's character n-grams to its relative position, fitted on real posts.
    `score` is the correlation between the predicted and the actual positions of a text's sentences: real posts
    score well above 0, shuffled sentences or text that goes nowhere near 0."""

    vectorizer: Any
    model: Any

    @classmethod
    def fit(cls, texts: list[str]) -> OrderModel | None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import Ridge

        xs, ys = [], []
        for t in texts:
            ss = sentence_list(t)
            if len(ss) >= 4:
                xs += ss
                ys += [i / (len(ss) - 1) for i in range(len(ss))]
        if len(xs) < 50:
            return None
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=2, dtype=np.float32)
        return cls(vec, Ridge(alpha=3.0).fit(vec.fit_transform(xs), ys))

    def score(self, text: str) -> float | None:
        ss = sentence_list(text)
        if len(ss) < 4:
            return None
        pred = self.model.predict(self.vectorizer.transform(ss))
        if float(np.std(pred)) == 0.0:
            return 0.0
        # as a z-score against random orders of the same sentences (whose correlation has sd ≈ 1/√(n−1)), so that a
        # long post's weak but real order counts as much as a short post's strong one
        return float(np.corrcoef(pred, np.arange(len(ss)))[0, 1] * math.sqrt(len(ss) - 1))
