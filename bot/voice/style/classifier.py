"""Authorship classifiers (plain and topic-masked): the author against a background, calibrated on held-out posts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Probability of a text at or above which the classifier attributes it to the author.
ATTRIBUTION_THRESHOLD = 0.5


def make_vectorizer(kind: str) -> Any:
    """Character n-grams, sublinear tf-idf. kind: 'plain' (raw text, 1-3) or 'masked' (topic-masked text, 1-4)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    ngrams = (1, 4) if kind == "masked" else (1, 3)
    return TfidfVectorizer(analyzer="char", ngram_range=ngrams, sublinear_tf=True, min_df=2, max_features=60000,
                           lowercase=False, dtype=np.float32)


def make_linear() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=10.0, class_weight="balanced", solver="liblinear", max_iter=3000)


@dataclass
class Calibrated:
    """A fitted binary author-vs-background classifier and its calibration on the author's held-out posts."""

    kind: str
    vectorizer: Any
    model: Any
    ref: float  # median held-out probability of the author's own posts: the 100 % mark
    ceiling: float  # share of the author's held-out posts attributed to the author (p >= threshold)
    false_positive: float  # share of held-out background posts attributed to the author
    heldout_author: list[float] = field(default_factory=list)

    def proba(self, texts: list[str]) -> np.ndarray:
        return self.model.predict_proba(self.vectorizer.transform(texts))[:, 1]

    def calibrated(self, p: float) -> float:
        """p relative to the author's typical held-out post, capped at 100 %."""
        return float(min(1.0, p / self.ref)) if self.ref > 0 else 0.0


def fit(kind: str, author: list[str], background: list[str], folds: int = 5, seed: int = 0) -> Calibrated:
    """Fit on all posts; out-of-fold predictions give the calibration and the ceiling.

    The vocabulary and idf are fitted once on every text (no labels involved); only the linear model is refitted
    per fold, which keeps a refit to a few seconds on two cores.
    """
    from sklearn.model_selection import StratifiedKFold

    texts = author + background
    y = np.array([1] * len(author) + [0] * len(background))
    vec = make_vectorizer(kind)
    x = vec.fit_transform(texts)
    k = max(2, min(folds, len(author), len(background)))
    oof = np.zeros(len(texts))
    for tr, te in StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(texts, y):
        oof[te] = make_linear().fit(x[tr], y[tr]).predict_proba(x[te])[:, 1]
    own, other = oof[y == 1], oof[y == 0]
    return Calibrated(kind=kind, vectorizer=vec, model=make_linear().fit(x, y),
                      ref=float(max(np.median(own), 0.05)),
                      ceiling=float(np.mean(own >= ATTRIBUTION_THRESHOLD)),
                      false_positive=float(np.mean(other >= ATTRIBUTION_THRESHOLD)),
                      heldout_author=[round(float(v), 4) for v in own])


def fit_multiclass(kind: str, texts: list[str], labels: list[str]) -> Any:
    """An author-identification model over several authors (one-vs-rest; used by tests and the benchmark)."""
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline

    return make_pipeline(make_vectorizer(kind), OneVsRestClassifier(make_linear())).fit(texts, labels)
