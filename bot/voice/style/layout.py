"""The layout gate: paragraphs, headings, lists, line breaks and emoji of a draft within the author's own spread."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bot.voice.style.features import _EMOJI

# feature -> (what it is, floor added to the author's range on each side)
FEATURES: dict[str, tuple[str, float]] = {
    "paragraph_chars": ("median paragraph length (characters)", 20.0),
    "headings": ("headings per 1,000 characters", 1.0),
    "lists": ("list items per 1,000 characters", 1.5),
    "line_breaks": ("line breaks inside paragraphs per 1,000 characters", 2.0),
    "emoji": ("emoji per 1,000 characters", 1.0),
}
_HEADING = re.compile(r"^#{1,6}\s+\S", re.M)
_LIST = re.compile(r"^\s*(?:[-*+•✔]|\d+[.)])\s+\S", re.M)


def measure(text: str) -> dict[str, float]:
    """The layout of one Markdown text."""
    body = text.strip()
    n = max(len(body), 1)
    paras = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
    prose = [p for p in paras if not _HEADING.match(p) and not _LIST.match(p)]
    breaks = sum(p.count("\n") for p in prose)
    return {
        "paragraph_chars": float(np.median([len(p) for p in prose])) if prose else 0.0,
        "headings": 1000 * len(_HEADING.findall(body)) / n,
        "lists": 1000 * len(_LIST.findall(body)) / n,
        "line_breaks": 1000 * breaks / n,
        "emoji": 1000 * len(_EMOJI.findall(body)) / n,
    }


@dataclass
class LayoutProfile:
    """The author's range of each layout feature (min and max over their posts) and the posts it came from."""

    low: dict[str, float] = field(default_factory=dict)
    high: dict[str, float] = field(default_factory=dict)
    n: int = 0

    def bounds(self, slack: float) -> dict[str, tuple[float, float]]:
        out = {}
        for k, (_, floor) in FEATURES.items():
            lo, hi = self.low[k], self.high[k]
            pad = slack * (hi - lo) + floor
            out[k] = (max(0.0, lo - pad), hi + pad)
        return out

    def check(self, text: str, slack: float) -> dict[str, Any]:
        f = measure(text)
        b = self.bounds(slack)
        out = {k: (lo, hi) for k, (lo, hi) in b.items() if not lo <= f[k] <= hi}
        return {"passed": not out, "figures": f, "bounds": b, "out": out}


def calibrate(texts: list[str]) -> LayoutProfile | None:
    """The author's layout range; None with fewer than 3 posts (no range to speak of)."""
    ms = [measure(t) for t in texts if t.strip()]
    if len(ms) < 3:
        return None
    return LayoutProfile(low={k: float(min(m[k] for m in ms)) for k in FEATURES},
                         high={k: float(max(m[k] for m in ms)) for k in FEATURES}, n=len(ms))


def describe(result: dict[str, Any]) -> str:
    f = result["figures"]
    if result["passed"]:
        return (f"paragraphs {f['paragraph_chars']:.0f} characters, {f['headings']:.1f} headings, {f['lists']:.1f} "
                f"list items, {f['line_breaks']:.1f} line breaks, {f['emoji']:.1f} emoji per 1,000 characters: "
                "within your range")
    return "; ".join(f"{FEATURES[k][0]} {f[k]:.1f}, yours {lo:.1f}–{hi:.1f}" for k, (lo, hi) in result["out"].items())
