"""Quality gates of a draft: copying the author's posts, degeneration, length, topic adherence, forbidden words."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bot.core.config import GatesConfig

_TOKEN = re.compile(r"\w+", re.UNICODE)
_LETTER = re.compile(r"[가-힣A-Za-zㄱ-ㅎㅏ-ㅣ]")
N = 8  # the n of the n-gram copy share


def words(text: str) -> list[str]:
    """Lowercased word tokens (Markdown and punctuation dropped): the unit of the copy and repetition checks."""
    return [w.lower() for w in _TOKEN.findall(text)]


def ngrams(ws: list[str], n: int = N) -> list[tuple[str, ...]]:
    return [tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)]


@dataclass
class CopyIndex:
    """Every word 8-gram of the author's training posts, with where it occurs (for the longest shared run)."""

    where: dict[tuple[str, ...], list[tuple[int, int]]] = field(default_factory=dict)
    docs: int = 0

    @classmethod
    def build(cls, texts: list[str]) -> CopyIndex:
        idx = cls(docs=len(texts))
        for d, t in enumerate(texts):
            for i, g in enumerate(ngrams(words(t))):
                idx.where.setdefault(g, []).append((d, i))
        return idx

    def check(self, text: str) -> dict[str, Any]:
        """Share of the text's 8-grams found in the posts, and the longest run of words shared with one post."""
        grams = ngrams(words(text))
        if not grams:
            return {"share": 0.0, "longest_run": 0}
        hits, longest = 0, 0
        prev: dict[tuple[int, int], int] = {}
        for g in grams:
            cur: dict[tuple[int, int], int] = {}
            for d, i in self.where.get(g, ()):
                cur[(d, i)] = prev.get((d, i - 1), 0) + 1
            if cur:
                hits += 1
                longest = max(longest, max(cur.values()))
            prev = cur
        return {"share": hits / len(grams), "longest_run": longest + N - 1 if longest else 0}


def natural_copy_rate(texts: list[str]) -> float:
    """The share of each post's 8-grams that occur in the author's other posts, averaged: the author's own rate."""
    sets = [set(ngrams(words(t))) for t in texts]
    df = Counter(g for s in sets for g in s)
    rates = [sum(1 for g in s if df[g] > 1) / len(s) for s in sets if s]
    return sum(rates) / len(rates) if rates else 0.0


def gate(name: str, passed: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "passed": bool(passed), "detail": detail}


def copy_gate(g: GatesConfig, idx: CopyIndex | None, text: str) -> dict[str, Any]:
    if idx is None or not idx.docs:
        return gate("copy", True, "no posts of the author to compare with")
    r = idx.check(text)
    ok = r["longest_run"] <= g.max_copy_run_words and r["share"] <= g.max_copy_8gram_share
    return gate("copy", ok, f"longest shared run {r['longest_run']} words (max {g.max_copy_run_words}), "
                            f"{r['share']:.0%} of 8-grams in past posts (max {g.max_copy_8gram_share:.0%})")


def repetition_gate(g: GatesConfig, text: str) -> dict[str, Any]:
    """Empty or garbage output, repeated 4-grams, repeated lines, one character hammered."""
    body = text.strip()
    if len(body) < g.min_chars:
        return gate("repetition", False, f"empty or almost empty ({len(body)} characters, min {g.min_chars})")
    letters = len(_LETTER.findall(body))
    nonspace = len(re.sub(r"\s", "", body)) or 1
    if letters / nonspace < 0.5:
        return gate("repetition", False, f"garbage: only {letters / nonspace:.0%} of the characters are letters")
    run = re.search(r"(.)\1{19,}", body)
    if run:
        return gate("repetition", False, f"a character repeated {len(run.group(0))} times")
    ws = words(body)
    grams = ngrams(ws, 4)
    rep = (len(grams) - len(set(grams))) / len(grams) if grams else 0.0
    lines = [ln.strip() for ln in body.split("\n") if len(ln.strip()) > 3]
    rep_lines = (len(lines) - len(set(lines))) / len(lines) if lines else 0.0
    worst = max(rep, rep_lines)
    return gate("repetition", worst <= g.max_repeat_share,
                f"repeated 4-grams {rep:.0%}, repeated lines {rep_lines:.0%} (max {g.max_repeat_share:.0%})")


def length_gate(g: GatesConfig, length_range: tuple[int, int] | None, text: str) -> dict[str, Any]:
    if not length_range:
        return gate("length", True, "author's length range unknown (too few posts)")
    lo, hi = int(length_range[0] * (1 - g.length_tolerance)), int(length_range[1] * (1 + g.length_tolerance))
    n = len(text.strip())
    return gate("length", lo <= n <= hi, f"{n} characters; author's range with tolerance {lo}–{hi}")


def keywords(text: str) -> set[str]:
    """Content words of a topic: nouns, names and foreign words (kiwipiepy for Korean), other words for English."""
    from bot.voice.style.features import EN_FUNCTION, kiwi, language

    if language(text) == "ko":
        out = {t.form.lower() for t in kiwi().tokenize(text)
               if t.tag in ("NNG", "NNP", "SL", "SH") and (len(t.form) > 1 or t.tag == "NNP")}
    else:
        out = {w for w in words(text) if w not in EN_FUNCTION and len(w) > 2 and not w.isdigit()}
    return out


def topic_overlap(topic: str, tags: list[str], text: str) -> float | None:
    """Share of the topic's keywords (topic text and tags) that the draft mentions; None without keywords."""
    kws = keywords(" ".join([topic or "", *[str(t) for t in tags or []]]))
    if not kws:
        return None
    low = text.lower()
    return sum(1 for k in kws if k in low) / len(kws)


def topic_gate(g: GatesConfig, topic: str, tags: list[str], text: str) -> dict[str, Any]:
    ov = topic_overlap(topic, tags, text)
    if ov is None:
        return gate("topic", True, "no topic keywords to check")
    return gate("topic", ov >= g.min_topic_overlap, f"{ov:.0%} of the topic's keywords appear "
                                                    f"(min {g.min_topic_overlap:.0%})")


def forbidden_gate(g: GatesConfig, text: str) -> dict[str, Any]:
    low = text.lower()
    hits = [w for w in g.forbidden_words if w and w.lower() in low]
    return gate("forbidden", not hits, ("contains: " + ", ".join(hits)) if hits else
                f"none of {len(g.forbidden_words)} forbidden words")
