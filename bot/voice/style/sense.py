"""The sense gate: does a text read as sensible prose? Cheap offline signals, calibrated on the author's own posts.

Each signal is measured on a text (`measure`) and compared with the spread of the same signal over reference posts
(the author's own, else the built-in invented authors): `SenseProfile.check` fails a text when any signal lies beyond
the reference spread plus a margin. The signals and what they catch:

- oov: share of content morphemes kiwipiepy cannot find in its dictionary (invented words: word salad);
- morph: mean log-probability kiwipiepy gives each morpheme of its best analysis (broken grammar scores low);
- unended: share of sentences that stop on a connective or a particle instead of a sentence ending;
- flow: how much more neighbouring sentences share (character bigrams of their words) than any two sentences of
  the text do; shuffled sentences and text that jumps from thing to thing score near or below 0;
- drift: the lowest similarity of one paragraph to the rest of the text (a paragraph about something else);
- hashtags, symbols: share of words that are hashtags, share of characters that are neither letters, digits nor
  spaces (hashtag runs, "- - - ... -" degeneration);
- dup_lines, dup_chars: share of lines (of 2+ characters; code blocks, tables and display math aside) that occur
  earlier in the text, characters in such lines (repeated list items and short lines, repeated paragraphs);
- broken: replacement characters and lone jamo or broken syllables;
- lm_order (bot.voice.style.lmorder, when `gates.sense_lm` is on and the cheap signals passed): how much better the
  base model reads the text's sentences in their given order than shuffled (shuffled sentences score about 0).
  When `order` is the only cheap signal that failed, the base model gives the second opinion and its verdict stands.

Every signal reads the prose: code blocks, tables, HTML lines and display math are left out (`prose_lines`).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bot.voice.style import lmorder
from bot.voice.style.features import EN_FUNCTION, kiwi, language
from bot.voice.style.order import OrderModel, sentence_list, shuffle_sentences  # noqa: F401 (re-exported)

# signal -> (direction, absolute slack added to the reference bound); direction +1: higher is worse, -1: lower is
SIGNALS: dict[str, tuple[int, float]] = {
    "oov": (1, 0.02), "morph": (-1, 0.4), "unended": (1, 0.08), "flow": (-1, 0.02), "drift": (-1, 0.03),
    "hashtags": (1, 0.03), "symbols": (1, 0.03), "dup_lines": (1, 0.1), "dup_chars": (1, 10.0), "order": (-1, 0.2),
    "sentences": (-1, 0.0),
}
QUANTILE = {"order": 0, "sentences": 0}  # lower-is-worse signals bounded by a low percentile, not the minimum
MIN_ORDER_SEPARATION = 0.8  # below this the sentence-order signal is left out for the author (measured at calibration)
MIN_REFERENCE = 8  # fewer reference posts than this: the built-in authors are the reference
_BROKEN = re.compile("[\ufffd\ufffc\u1100-\u11ff]")  # replacement characters, conjoining jamo (half a syllable)
_SYLLABLE = re.compile("[\uac00-\ud7a3]")
_MD = re.compile(r"!\[[^\]]*\]\([^)]*\)|\[([^\]]*)\]\([^)]*\)"
                 r"|^\s{0,3}(?:#{1,6}\s+|[-*+•✔]\s+|\d+[.)]\s+|>\s*)|\*\*|__|`", re.M)
_HASHTAG = re.compile(r"(?:^|\s)#[^\s#]+")
_EN_SENT = re.compile(r"(?<=[.!?…])\s+")
_WORDISH = re.compile(r"[\w가-힣]+")
_CONTENT = {"NNG", "NNP", "VV", "VA", "XR", "SL", "MAG"}
_ENDED = {"EF", "ETN", "SF", "SE", "SW", "W_EMOJI", "NNG", "NNP", "NNB", "NR", "SN", "SL", "SH", "XSN", "Z_CODA",
          "SO", "SSC", "W_URL", "W_HASHTAG", "VCP", "MAG", "IC", "XR"}


def plain(text: str) -> str:
    """Markdown markers and link targets removed; hashtags kept."""
    return _MD.sub(lambda m: m.group(1) or "", text)


def rare_syllables(text: str) -> set[str]:
    """Hangul syllables outside KS X 1001's 2,350 common ones (e.g. 긕): in drafts these are byte-level tokens
    decoded one at a time, almost never real words."""
    # Python's euc-kr codec writes the other syllables as 8-byte jamo sequences: 2 bytes = one of the 2,350
    return {ch for ch in set(_SYLLABLE.findall(text)) if len(ch.encode("euc-kr", errors="replace")) != 2}


def broken(text: str, allowed: set[str] | frozenset[str] = frozenset()) -> int:
    """Replacement characters, conjoining jamo and rare syllables (those in `allowed`, the author's own, excepted)."""
    return len(_BROKEN.findall(text)) + sum(text.count(ch) for ch in rare_syllables(text) - set(allowed))


_TRAIL = {"SF", "SE", "SW", "W_EMOJI", "Z_CODA", "SSC", "SO", "SP"}


def _sentences(text: str, lang: str) -> list[tuple[str, list]]:
    """(sentence, kiwi tokens or []) per sentence; line breaks are sentence boundaries. Korean text is analysed
    once (kiwipiepy) and cut after sentence-final punctuation or a sentence ending followed by a new word."""
    out: list[tuple[str, list]] = []
    if lang != "ko":
        for line in text.split("\n"):
            out += [(s, []) for s in _EN_SENT.split(line.strip()) if _WORDISH.search(s)]
        return out
    cur: list = []
    ended = False

    def flush() -> None:
        if cur:
            sent = text[cur[0].start:cur[-1].start + cur[-1].len]
            if _WORDISH.search(sent):
                out.append((sent, list(cur)))
            cur.clear()

    prev_end = 0
    for t in kiwi().tokenize(text):
        gap = text[prev_end:t.start] if t.start >= prev_end else ""
        if cur and ("\n" in gap or (ended and t.tag not in _TRAIL)):
            flush()
            ended = False
        cur.append(t)
        if t.tag == "SF" or t.tag == "EF":
            ended = True
        elif t.tag not in _TRAIL:
            ended = False
        prev_end = max(prev_end, t.start + t.len)
    flush()
    return out


def _units(sent: str, toks: list) -> set[str]:
    """Character bigrams of the sentence's content words (morphology-tolerant overlap between sentences)."""
    if toks:
        ws = [t.form for t in toks if t.tag in _CONTENT and len(t.form) > 1 or t.tag == "NNP"]
    else:
        ws = [w for w in (x.lower() for x in _WORDISH.findall(sent)) if w not in EN_FUNCTION and len(w) > 2]
        ws = [w[:5] for w in ws]  # a crude stem: run / running / runner share "runn"
    out: set[str] = set()
    for w in ws:
        out |= {w[i:i + 2] for i in range(len(w) - 1)} if len(w) > 1 else {w}
    return out


def _sim(a: set[str], b: set[str]) -> float:
    return len(a & b) / math.sqrt(len(a) * len(b)) if a and b else 0.0


def measure(text: str) -> dict[str, Any]:
    """Every signal of one text (Markdown body). Values are floats; `flow`/`drift` are None when the text is too
    short to tell (fewer than 4 sentences / 2 paragraphs)."""
    body = text.strip()
    lang = language(body)
    txt = plain("\n".join(prose_lines(body, markup=True)))  # code blocks, tables and HTML are not prose
    sents = _sentences(txt, lang)
    f: dict[str, Any] = {"lang": lang, "sentences": len(sents), "broken": broken(body)}
    toks = [t for _, ts in sents for t in ts if not t.tag.startswith(("S", "W_", "Z_"))]
    content = [t for t in toks if t.tag in ("NNG", "NNP", "VV", "VA", "XR")]
    f["oov"] = sum(1 for t in content if t.oov) / len(content) if content else 0.0
    f["morph"] = float(np.mean([t.score for t in toks])) if toks else 0.0
    if lang == "ko" and sents:
        def ended(ts: list) -> bool:
            last = [t for t in ts if t.tag not in ("SF", "SE", "SW", "W_EMOJI", "Z_CODA", "SSC", "SO", "SP", "SSO")]
            return not last or last[-1].tag in _ENDED or last[-1].tag.startswith("SS")
        f["unended"] = sum(1 for _, ts in sents if not ended(ts)) / len(sents)
    else:
        f["unended"] = sum(1 for s, _ in sents if not re.search(r"[.!?…:;)\"'”]\s*$", s)) / len(sents) if sents else 0.0
    units = [_units(s, ts) for s, ts in sents]
    units = [u for u in units if u]
    if len(units) >= 4:
        adj = np.mean([_sim(units[i], units[i + 1]) for i in range(len(units) - 1)])
        pairs = [_sim(units[i], units[j]) for i in range(len(units)) for j in range(i + 2, len(units))]
        f["flow"] = float(adj - np.mean(pairs)) if pairs else None
    else:
        f["flow"] = None
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S(?:.|\n(?!\s*\n))*", txt) if len(m.group(0)) >= 40]
    if len(spans) >= 2:
        pu = []
        for a, b in spans:
            if lang == "ko":
                ts = [t for _, sts in sents for t in sts if a <= t.start < b]
                pu.append(_units(txt[a:b], ts) if ts else set())
            else:
                pu.append(_units(txt[a:b], []))
        sims = []
        for i, u in enumerate(pu):
            rest = set().union(*(pu[:i] + pu[i + 1:]))
            sims.append(len(u & rest) / len(u) if u else 0.0)
        f["drift"] = float(min(sims))
    else:
        f["drift"] = None
    ws = body.split()
    f["hashtags"] = len(_HASHTAG.findall(txt)) / len(ws) if ws else 0.0
    nonspace = re.sub(r"\s", "", txt)
    f["symbols"] = (sum(1 for ch in nonspace if not (ch.isalnum() or ch in ".,!?~'\"")) / len(nonspace)
                    if nonspace else 0.0)
    # compared with their markup: a heading that repeats an item of the post's own contents list is not a repeat
    lines = [re.sub(r"\s+", " ", ln) for ln in prose_lines(body, markup=True) if len(ln) >= 2]
    f["dup_lines"] = (len(lines) - len(set(lines))) / len(lines) if lines else 0.0
    seen: set[str] = set()
    f["dup_chars"] = 0.0
    for ln in lines:
        if ln in seen and len(ln) >= 15:
            f["dup_chars"] += len(ln)
        seen.add(ln)
    return f


def prose_lines(body: str, markup: bool = False) -> list[str]:
    """The text's lines without code blocks, tables, HTML markup and display math (whose lines repeat in real
    posts: `}`, `| :--: |`, `<br>`, a helper written out twice), stripped; Markdown markers removed unless `markup`.
    A block opened and never closed is not code (a draft that opens a fence and runs on is judged as it reads)."""
    out, fence, math_, opened = [], False, False, 0
    lines = body.split("\n")
    for i, ln in enumerate(lines):
        s = ln.strip()
        if s.startswith(("```", "~~~")):
            fence, opened = not fence, i
        elif s == "$$":
            math_, opened = not math_, i
        elif not (fence or math_ or s.startswith(("|", "<"))):  # tables, HTML markup
            out.append(s if markup else plain(s).strip())
    if fence or math_:
        rest = [ln.strip() for ln in lines[opened + 1:]]
        out += [s if markup else plain(s).strip() for s in rest if not s.startswith(("|", "<"))]
    return out


@dataclass
class SenseProfile:
    """Bounds of each signal: the reference posts' extreme value plus a slack (half the interquartile range and a
    fixed amount); `source` says what the reference was."""

    bounds: dict[str, float] = field(default_factory=dict)
    source: str = ""
    n: int = 0
    lang: str = "ko"
    order: OrderModel | None = None
    allowed_rare: frozenset[str] = frozenset()
    order_separation: float | None = None  # share of own posts scoring above their own shuffled sentences

    def measure(self, text: str) -> dict[str, Any]:
        f = measure(text)
        f["order"] = self.order.score(text) if self.order is not None else None
        f["broken"] = broken(text, self.allowed_rare)
        return f

    def check(self, text: str, measured: dict[str, Any] | None = None,
              lm: Callable[[str], dict[str, Any]] | None = None) -> dict[str, Any]:
        """Every cheap signal against its bound; then, when `lm` is given (bot.voice.style.lmorder.gap bound to a
        config) and the text passed them, the sentence order under the base model (`lm_order`)."""
        f = measured or self.measure(text)
        fails = []
        for k, (direction, _) in SIGNALS.items():
            v, b = f.get(k), self.bounds.get(k)
            if v is None or b is None:
                continue
            if (v - b) * direction > 0:
                fails.append(k)
        if f["broken"]:
            fails.append("broken")
        if f["sentences"] < 2 and "sentences" not in fails:
            fails.append("sentences")
        bounds = dict(self.bounds)
        lm_note, cheap = None, list(fails)
        second_opinion = lm is not None and fails == ["order"] and lmorder.BOUNDS.get(f["lang"]) is not None
        if second_opinion:  # the cheap order model is a first screen; the base model has the last word on order
            fails = []
        if lm is None:
            lm_note = "not checked (gates.sense_lm is off)"
        elif fails:
            lm_note = "not needed (the text already failed)"
        else:
            bound = lmorder.BOUNDS.get(f["lang"])
            r = lm(text) if bound is not None else {"reason": f"no bound measured for language {f['lang']!r}"}
            f["lm_order"], f["lm_seconds"] = r.get(lmorder.STAT), r.get("seconds")
            if f["lm_order"] is None:
                lm_note = f"not checked: {r.get('reason', 'no figure')}"
                if second_opinion:  # no second opinion to be had: the cheap order model's verdict stands
                    fails.append("order")
            else:
                bounds["lm_order"] = bound
                if f["lm_order"] < bound:
                    fails.append("lm_order")
                elif second_opinion:
                    lm_note = "the base model reads the order as the author's, overruling the cheap order model"
        return {"passed": not fails, "failed": fails, "signals": f, "bounds": bounds, "lm_note": lm_note,
                "cheap_failed": cheap}


def calibrate(texts: list[str], source: str = "", order_texts: list[str] | None = None) -> SenseProfile:
    """Bounds from reference texts (the author's posts): beyond every reference post by a slack (for `order` and
    `sentences`, beyond a low percentile). `order_texts` (default `texts`) fit the sentence-order model; give it
    the author's and the background's posts."""
    texts = [t for t in texts if t.strip()]
    prof = SenseProfile(source=source, n=len(texts), order=OrderModel.fit(order_texts or texts),
                        allowed_rare=frozenset().union(*(rare_syllables(t) for t in texts)) if texts else frozenset())
    ms = [prof.measure(t) for t in texts]
    if prof.order is not None and len(texts) >= 10:  # out-of-fold: a model never scores posts it was fitted on
        pool = order_texts or texts
        folds = 5
        rng = random.Random(0)
        wins = []
        for k in range(folds):
            part = set(texts[k::folds])
            m = OrderModel.fit([t for t in pool if t not in part])
            for i in range(k, len(texts), folds):
                ms[i]["order"] = m.score(texts[i]) if m is not None else None
                mixed = m.score(shuffle_sentences(texts[i], rng)) if m is not None else None
                if ms[i]["order"] is not None and mixed is not None:
                    wins.append(ms[i]["order"] > mixed)
        # the order signal is used only where it tells this author's posts from their own shuffled sentences
        prof.order_separation = float(np.mean(wins)) if wins else None
        if prof.order_separation is None or prof.order_separation < MIN_ORDER_SEPARATION:
            prof.order = None
            for m_ in ms:
                m_["order"] = None
    for k, (direction, slack) in SIGNALS.items():
        vals = np.array([m[k] for m in ms if m.get(k) is not None], dtype=float)
        if len(vals) < 3:
            continue
        q1, q3 = np.percentile(vals, [25, 75])
        spread = 0.5 * (q3 - q1) + slack
        if k in QUANTILE:
            prof.bounds[k] = float(np.percentile(vals, QUANTILE[k]) * (0.5 if k == "sentences" else 1) - slack)
        else:
            prof.bounds[k] = float(vals.max() + spread) if direction > 0 else float(vals.min() - spread)
    langs = [m["lang"] for m in ms]
    prof.lang = max(set(langs), key=langs.count) if langs else "ko"
    return prof


def describe(result: dict[str, Any]) -> str:
    """One line for the gate: which signals are out of the author's range, with figure and bound."""
    f, b = result["signals"], result["bounds"]
    names = {"oov": "unknown words", "morph": "morpheme log-prob", "unended": "unfinished sentences",
             "flow": "sentence-to-sentence flow", "drift": "paragraph-to-text overlap", "hashtags": "hashtag share",
             "symbols": "symbol share", "dup_lines": "repeated lines",
             "dup_chars": "characters in repeated lines", "order": "sentence order", "sentences": "sentences",
             "lm_order": f"sentence order under the base model ({lmorder.STAT})"}
    lm = (f"; sentence order under the base model: {lmorder.STAT} {f['lm_order']:.2f} ≥ {b['lm_order']:.2f}"
          if f.get("lm_order") is not None and "lm_order" in b else
          f"; sentence order under the base model {result['lm_note']}" if result.get("lm_note") else "")
    if not result["failed"]:
        return f"reads as prose ({f['sentences']} sentences; every signal within the reference range{lm})"
    parts = []
    for k in result["failed"]:
        if k == "broken":
            parts.append(f"{f['broken']} broken characters")
        elif k == "sentences" and "sentences" not in b:
            parts.append(f"only {f['sentences']} sentence(s)")
        else:
            op = ">" if SIGNALS.get(k, (-1, 0.0))[0] > 0 else "<"  # lm_order: lower is worse
            parts.append(f"{names[k]} {f[k]:.3f} {op} {b[k]:.3f}")
    return "; ".join(parts) + ("" if "lm_order" in result["failed"] else lm)
