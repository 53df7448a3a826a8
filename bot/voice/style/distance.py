"""Stylometric distance on profile features: 0 = the author against their own posts, 1 = a typical other author."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MIN_SCALE = 0.1  # features are shares (0-1), log1p rates and log lengths: 0.1 is a small but real difference
Z_CLIP = 5.0
MIN_SPAN = 0.15  # the typical other author must be at least 15 % farther than the author's own posts


@dataclass
class Distance:
    """Scale and anchors fitted on the author's posts and the background."""

    centroid: np.ndarray
    scale: np.ndarray
    d0: float  # mean distance of the author's own posts (left out) to the author's centroid
    d1: float  # mean distance of a typical other author's posts to the author's centroid
    per_author: dict[str, float]
    own: list[float] = field(default_factory=list)  # each own post's distance to the others' centroid (left out)

    def raw(self, v: list[float] | np.ndarray) -> float:
        z = np.clip((np.asarray(v, dtype=float) - self.centroid) / self.scale, -Z_CLIP, Z_CLIP)
        return float(np.sqrt(np.mean(z * z)))

    @property
    def usable(self) -> bool:
        """False when the profile features do not tell the author from the others (the anchors nearly coincide)."""
        return self.d1 - self.d0 > MIN_SPAN * max(self.d1, 1e-9)

    def normalized(self, v: list[float] | np.ndarray) -> float | None:
        """0 when as close as the author's own posts are, 1 when as far as a typical other author (can exceed 1);
        None when the profile does not separate the author from the others."""
        if not self.usable:
            return None
        return max(0.0, (self.raw(v) - self.d0) / (self.d1 - self.d0))

    def closeness(self, v: list[float] | np.ndarray) -> float | None:
        """Share (0–1) of the author's own posts that lie farther from the author's centroid than this text:
        1 = closer than every own post, 0.9 = closer than 9 of 10. Derived from the same raw distance as
        `normalized`, so the two always agree (one goes up exactly when the other goes down)."""
        if not self.own:
            return None
        r = self.raw(v)
        return float(np.mean([o > r for o in self.own]))


def fit(author: list[list[float]], others: dict[str, list[list[float]]]) -> Distance:
    """Anchor the scale: features standardized by their spread over every post of every author."""
    a = np.asarray(author, dtype=float)
    everything = np.vstack([a, *[np.asarray(v, dtype=float) for v in others.values() if v]])
    # A floor on the spread: a feature almost never used (e.g. emoji in essays) must not blow up one text's distance.
    scale = np.maximum(everything.std(axis=0), MIN_SCALE)
    centroid = a.mean(axis=0)

    def dist(v: np.ndarray, c: np.ndarray) -> float:
        z = np.clip((v - c) / scale, -Z_CLIP, Z_CLIP)
        return float(np.sqrt(np.mean(z * z)))

    own = [dist(a[i], np.delete(a, i, axis=0).mean(axis=0)) for i in range(len(a))] if len(a) > 1 else []
    d0 = float(np.median(own)) if own else 0.0  # medians: one odd post does not move the anchors
    per_author = {name: float(np.median([dist(np.asarray(v, dtype=float), centroid) for v in vs]))
                  for name, vs in others.items() if vs}
    d1 = float(np.median(list(per_author.values()))) if per_author else d0 + 1.0
    return Distance(centroid=centroid, scale=scale, d0=d0, d1=d1, per_author=per_author, own=own)
