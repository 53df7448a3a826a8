"""Quality gates of a draft: copying the author's posts, degeneration, length, topic and notes, the title, forbidden
words."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bot.core.config import GatesConfig

_TOKEN = re.compile(r"\w+", re.UNICODE)
_LETTER = re.compile(r"[가-힣A-Za-zㄱ-ㅎㅏ-ㅣ]")
N = 8  # the n of word n-grams (bench/style reports them beside the character windows)


def words(text: str) -> list[str]:
    """Lowercased word tokens (Markdown and punctuation dropped): the unit of the copy and repetition checks."""
    return [w.lower() for w in _TOKEN.findall(text)]


def ngrams(ws: list[str], n: int = N) -> list[tuple[str, ...]]:
    return [tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)]


COPY_WINDOW = 10  # characters (spaces and punctuation removed) per copy window: Korean words carry their particles,
# so word n-grams almost never repeat; 10 characters are 3-4 Korean words and give the author a real, non-zero rate


def copy_chars(text: str) -> str:
    """Letters and digits only, lowercased: the text the copy windows are cut from."""
    return re.sub(r"[\W_]", "", text.lower())


def _windows(text: str, k: int) -> list[int]:
    s = copy_chars(text)
    return [int.from_bytes(hashlib.blake2b(s[i:i + k].encode(), digest_size=8).digest(), "big")
            for i in range(len(s) - k + 1)]


def _share_and_run(hits: list[bool], k: int) -> tuple[float, int]:
    """Share of windows found, and the longest run of consecutive found windows in characters."""
    best = run = 0
    for h in hits:
        run = run + 1 if h else 0
        best = max(best, run)
    return (sum(hits) / len(hits) if hits else 0.0), (best + k - 1 if best else 0)


@dataclass
class CopyIndex:
    """Every character window of the author's training posts (hashed), and the author's own natural overlap:
    each post against the others (leave-one-out), which calibrates the gate."""

    hashes: set[int] = field(default_factory=set)
    docs: int = 0
    window: int = COPY_WINDOW
    natural_share: float = 0.0  # mean share of a post's windows found in the author's other posts
    natural_share_max: float = 0.0
    natural_run_max: int = 0  # longest run (characters) any post shares with the others

    @classmethod
    def build(cls, texts: list[str], window: int = COPY_WINDOW) -> CopyIndex:
        per_doc = [_windows(t, window) for t in texts]
        idx = cls(hashes={h for ws in per_doc for h in ws}, docs=len(texts), window=window)
        df = Counter(h for ws in per_doc for h in set(ws))
        shares, runs = [], []
        for ws in per_doc:
            if ws:
                share, run = _share_and_run([df[h] > 1 for h in ws], window)
                shares.append(share)
                runs.append(run)
        if shares:
            idx.natural_share = float(sum(shares) / len(shares))
            idx.natural_share_max, idx.natural_run_max = float(max(shares)), int(max(runs))
        return idx

    def check(self, text: str) -> dict[str, Any]:
        """Share of the text's character windows found in the posts, and the longest run (characters) shared."""
        share, run = _share_and_run([h in self.hashes for h in _windows(text, self.window)], self.window)
        return {"share": share, "longest_run": run}

    def bounds(self, g: GatesConfig) -> tuple[int, float]:
        """(max run in characters, max share): configured, else twice the author's own worst case with a floor
        (40 characters, 8 %) — a copied paragraph is far above both."""
        run = g.max_copy_run_chars if g.max_copy_run_chars is not None else max(40, 2 * self.natural_run_max)
        share = g.max_copy_share if g.max_copy_share is not None else max(0.08, 2 * self.natural_share_max)
        return run, share


def natural_copy_rate(texts: list[str], window: int = COPY_WINDOW) -> float:
    """The share of each post's character windows that occur in the author's other posts, averaged."""
    return CopyIndex.build(texts, window).natural_share


def gate(name: str, passed: bool, detail: str, figure: Any = None, threshold: Any = None) -> dict[str, Any]:
    """One gate's result: name, passed, a sentence, and (where there is one) the figure and its threshold."""
    return {"name": name, "passed": bool(passed), "detail": detail, "figure": figure, "threshold": threshold}


def copy_gate(g: GatesConfig, idx: CopyIndex | None, text: str) -> dict[str, Any]:
    if idx is None or not idx.docs:
        return gate("copy", True, "no posts of the author to compare with")
    r = idx.check(text)
    max_run, max_share = idx.bounds(g)
    ok = r["longest_run"] <= max_run and r["share"] <= max_share
    return gate("copy", ok, f"longest run shared with a past post {r['longest_run']} characters (max {max_run}); "
                            f"{r['share']:.1%} of {idx.window}-character windows found in past posts "
                            f"(max {max_share:.1%}; your own posts: {idx.natural_share:.1%} on average)",
                figure={"longest_run_chars": r["longest_run"], "share": round(r["share"], 4)},
                threshold={"longest_run_chars": max_run, "share": round(max_share, 4),
                           "natural_share": round(idx.natural_share, 4)})


_HASHTAG = re.compile(r"(?<![\w#\[(/&])#([^\s#]+)")  # not `[#1](…)`, `/#anchor`, `&#39;`
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•✔]|\d+[.)])\s+(.+?)\s*$", re.M)
_CHAR_RUN = re.compile(r"(\S)\1{19,}")  # one character hammered (spaces are layout, not degeneration)
LIST_REPEAT_SHARE = 1 / 3  # the largest share of a post's list items that may repeat an earlier one
_LABEL = re.compile(r"^(?:#{1,6}\s|[-*+•✔]\s|\d+[.)]\s|\*\*.*\*\*$|__.*__$)")
_RULE = re.compile(r"^\s*[-=_*]{3,}\s*$")  # a Markdown rule or setext underline drawn long


def hashtags(text: str) -> list[str]:
    """Hashtags of a text (`#태그`; Markdown headings `# Title`, inline code `#1` and link labels are not)."""
    return _HASHTAG.findall(_INLINE_CODE.sub(" ", text))


def repetition_gate(g: GatesConfig, text: str, max_hashtags: int | None = None,
                    allowed_rare: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """Empty or garbage output and every form of degeneration seen from small models: one character hammered,
    repeated 4-grams, repeated lines (short ones too), repeated list items, hashtag runs and hashtag families
    (#난리 #난리남 #난리할때는 …), broken characters. `max_hashtags`: the author's own most per post (the limit is half
    as much again; config overrides); `allowed_rare`: uncommon syllables the author uses. Code blocks, tables, HTML
    lines and display math are left out of every check but the broken characters: their lines repeat in real posts
    (`| :-----: |`, table padding, `<br>`, the same fence opened four times)."""
    from bot.voice.style.sense import broken, prose_lines

    body = text.strip()
    if len(body) < g.min_chars:
        return gate("repetition", False, f"empty or almost empty ({len(body)} characters, min {g.min_chars})",
                    len(body), g.min_chars)
    bad = broken(body, allowed_rare)
    if bad:
        return gate("repetition", False, f"{bad} broken characters (replacement characters or broken syllables)",
                    bad, 0)
    raw_lines = prose_lines(body, markup=True)
    prose = "\n".join(raw_lines)
    letters = len(_LETTER.findall(prose))
    nonspace = len(re.sub(r"\s", "", prose))
    if nonspace and letters / nonspace < 0.5:
        return gate("repetition", False, f"garbage: only {letters / nonspace:.0%} of the characters are letters",
                    round(letters / nonspace, 3), 0.5)
    run = _CHAR_RUN.search("\n".join(ln for ln in raw_lines if not _RULE.match(ln)))
    if run:
        return gate("repetition", False, f"a character repeated {len(run.group(0))} times", len(run.group(0)), 19)
    tags = hashtags(prose)
    limit = g.max_hashtags if g.max_hashtags is not None else max(5, math.ceil(1.5 * (max_hashtags or 0)))
    if len(tags) > limit:
        return gate("repetition", False, f"{len(tags)} hashtags (max {limit}: a hashtag run)", len(tags), limit)
    family = Counter(t[:2] for t in tags if len(t) >= 2).most_common(1)
    if family and family[0][1] >= 6:
        return gate("repetition", False, f"{family[0][1]} hashtags starting with #{family[0][0]} (a hashtag family)",
                    family[0][1], 5)
    items = [re.sub(r"\s+", " ", m.lower()) for m in _LIST_ITEM.findall(prose)]
    rep_items = len(items) - len(set(items))
    # real posts repeat a list item under parallel sections ("장점", "특징": up to a fifth of the items on five real
    # Korean bloggers, with other items between); degeneration cycles through one to three items (A B A B A)
    cycling = any(len(set(items[i:i + 5])) <= 2 for i in range(len(items) - 4)) or any(
        a == b for a, b in zip(items, items[1:], strict=False))
    if rep_items >= 2 and (rep_items / len(items) > LIST_REPEAT_SHARE or cycling):
        return gate("repetition", False, f"{rep_items} of {len(items)} list items repeat an earlier item"
                    + (" (cycling through a few)" if cycling else ""), round(rep_items / len(items), 3),
                    LIST_REPEAT_SHARE)
    ws = words(prose)
    grams = ngrams(ws, 4)
    rep = (len(grams) - len(set(grams))) / len(grams) if grams else 0.0
    lines = [re.sub(r"\s+", " ", ln) for ln in raw_lines if re.search(r"\w", ln)]
    rep_lines = (len(lines) - len(set(lines))) / len(lines) if lines else 0.0
    # section labels (headings, list items, bold lines: "#### 아이디어" 13 times in one real post) may repeat;
    # other short lines may not, and no line may cycle with one or two others (ㅋㅋ 진짜 / 좋아요 / ㅋㅋ 진짜 …)
    short = Counter(ln for ln in lines if len(ln) <= 20 and not _LABEL.match(ln)).most_common(1)
    if short and short[0][1] >= 3:
        return gate("repetition", False, f"a short line repeated {short[0][1]} times: {short[0][0][:20]!r}",
                    short[0][1], 2)
    cycle = next((lines[i] for i in range(len(lines) - 4) if len(set(lines[i:i + 5])) <= 2), None)
    if cycle is not None:
        return gate("repetition", False, f"lines cycling through two or fewer: {cycle[:20]!r}", 1, 0)
    worst = max(rep, rep_lines)
    return gate("repetition", worst <= g.max_repeat_share,
                f"repeated 4-grams {rep:.0%}, repeated lines {rep_lines:.0%} (max {g.max_repeat_share:.0%}); "
                f"{len(tags)} hashtags (max {limit})", round(worst, 4), g.max_repeat_share)


def length_gate(g: GatesConfig, length_range: tuple[int, int] | None, text: str) -> dict[str, Any]:
    n = len(text.strip())
    if not length_range:
        return gate("length", True, "author's length range unknown (too few posts)", n)
    lo, hi = int(length_range[0] * (1 - g.length_tolerance)), int(length_range[1] * (1 + g.length_tolerance))
    return gate("length", lo <= n <= hi, f"{n} characters; author's range with tolerance {lo}–{hi}", n, [lo, hi])


def keywords(text: str) -> set[str]:
    """Content words of a topic: nouns, names and foreign words (kiwipiepy for Korean), other words for English."""
    from bot.voice.style.features import EN_FUNCTION, language, nouns

    if language(text) == "ko":
        out = {w.lower() for w in nouns(text) if len(w) > 1}
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


# words that instruct the writer rather than name what to write about
NOTE_INSTRUCTIONS = frozenset("강조 위주 포함 언급 이야기 내용 결말 중심 설명 소개 마무리 정리 느낌 부분 얘기 "
                              "emphasis mention focus include story ending".split())


def note_points(notes: str | None) -> list[set[str]]:
    """The key points of a topic's notes: each sentence or clause (split at . ! ? ; , and line breaks) with at least
    one keyword (instruction words such as 강조, 위주 left out), as its set of keywords."""
    out = []
    for part in re.split(r"[.!?;,\n。]+", notes or ""):
        kws = (keywords(part) - NOTE_INSTRUCTIONS) if part.strip() else set()
        if kws:
            out.append(kws)
    return out


def notes_coverage(notes: str | None, text: str) -> tuple[int, int] | None:
    """(points covered, points): a point is covered when the draft mentions at least a third of its keywords."""
    points = note_points(notes)
    if not points:
        return None
    low = text.lower()
    covered = sum(1 for kws in points if sum(1 for k in kws if k in low) >= max(1, len(kws) / 3))
    return covered, len(points)


def topic_gate(g: GatesConfig, topic: str, tags: list[str], text: str, notes: str | None = None) -> dict[str, Any]:
    """The topic's keywords, and the key points of its notes, must appear in the draft."""
    ov = topic_overlap(topic, tags, text)
    cov = notes_coverage(notes, text)
    parts, ok = [], True
    if ov is None:
        parts.append("no topic keywords to check")
    else:
        ok = ov >= g.min_topic_overlap
        parts.append(f"{ov:.0%} of the topic's keywords appear (min {g.min_topic_overlap:.0%})")
    if cov is not None:
        share = cov[0] / cov[1]
        ok = ok and share >= g.min_notes_coverage
        parts.append(f"{cov[0]} of {cov[1]} points of the notes covered (min {g.min_notes_coverage:.0%})")
    figure = {"topic": None if ov is None else round(ov, 3),
              "notes": None if cov is None else round(cov[0] / cov[1], 3)}
    return gate("topic", ok, "; ".join(parts), figure,
                {"topic": g.min_topic_overlap, "notes": g.min_notes_coverage if cov is not None else None})


def forbidden_gate(g: GatesConfig, text: str) -> dict[str, Any]:
    low = text.lower()
    hits = [w for w in g.forbidden_words if w and w.lower() in low]
    return gate("forbidden", not hits, ("contains: " + ", ".join(hits)) if hits else
                f"none of {len(g.forbidden_words)} forbidden words", len(hits), 0)


def _norm_title(text: str) -> str:
    return re.sub(r"[\W_]", "", (text or "").lower())


def title_copies_topic(title: str, topic: str) -> bool:
    """The title is the topic line copied verbatim (spaces, punctuation and case aside)."""
    t = _norm_title(topic)
    return bool(t) and _norm_title(title) == t


def title_letters(title: str) -> float:
    """Share of a title's non-space characters that are letters or digits (`# # # - #` is not a title)."""
    chars = re.sub(r"\s", "", title)
    return sum(1 for c in chars if c.isalnum()) / len(chars) if chars else 0.0


def title_gate(g: GatesConfig, title: str, topic: str, lengths: dict[str, int] | None,
               allowed_rare: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """The title must be one line of words (not empty, at least half letters or digits), not the topic line
    copied, without broken characters, and not longer than the author's longest title by more than
    gates.title_tolerance of it. `lengths`: the author's title lengths ({"n", "min", "median", "max"}; None:
    unknown)."""
    from bot.voice.style.sense import broken

    t = title.strip()
    limit = int(lengths["max"] * (1 + g.title_tolerance)) if lengths and lengths.get("n") else None
    copied = title_copies_topic(t, topic)
    bad = broken(t, allowed_rare)
    figure = {"chars": len(t), "copied_topic": copied, "broken": bad}
    threshold = {"max_chars": limit, "copied_topic": False, "broken": 0}
    yours = (f"your titles {lengths['min']}–{lengths['max']} characters, median {lengths['median']}"
             if limit is not None else "your title lengths unknown")
    if not t:
        why = "empty title"
    elif "\n" in t:
        why = "the title runs over more than one line"
    elif title_letters(t) < 0.5:
        why = f"the title is mostly symbols ({title_letters(t):.0%} letters or digits)"
    elif copied:
        why = "the title is the topic line copied verbatim, not written your way"
    elif bad:
        why = f"{bad} broken characters in the title"
    elif limit is not None and len(t) > limit:
        why = f"title of {len(t)} characters, over your longest ({lengths['max']}) by more than " \
              f"{g.title_tolerance:.0%} (max {limit})"
    else:
        return gate("title", True, f"title of {len(t)} characters ({yours}); not the topic line", figure, threshold)
    return gate("title", False, f"{why} ({yours})", figure, threshold)
