"""Style features of a text: sentence endings, register, first person, emoticons, punctuation, layout; topic masking."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Sentence-final ending classes (Korean). Labels are ASCII so charts need no Hangul font.
ENDINGS = ("seumnida", "yo", "yong", "da", "dang", "eum", "banmal", "noun", "other")
ENDING_LABELS = {"seumnida": "-습니다", "yo": "-요", "yong": "-용", "da": "-다", "dang": "-당", "eum": "-음/-ㅁ",
                 "banmal": "반말 -어/-지/-네", "noun": "명사로 끝", "other": "기타"}
FORMAL, POLITE, CASUAL = {"seumnida"}, {"yo", "yong"}, {"da", "dang", "eum", "banmal"}
RATES = ("emoji", "kk", "hh", "tt", "ellipsis", "tilde", "excl", "question", "headings", "lists", "bold",
         "contractions")
CONTENT_TAGS = {"NNG": "N", "NNP": "N", "NR": "N", "SN": "0", "SL": "F", "SH": "F"}
_TRAIL_TAGS = {"SF", "SE", "SW", "W_EMOJI", "Z_CODA", "SSC", "SO", "SP"}
_EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF\u2B50\u2764\u2728\u2705\u2714\u203C\u2049]")
_PATTERNS = {
    "kk": re.compile(r"ㅋ{2,}"), "hh": re.compile(r"ㅎ{2,}"), "tt": re.compile(r"[ㅠㅜ]{2,}"),
    "ellipsis": re.compile(r"…|\.{3,}"), "tilde": re.compile(r"~+"), "excl": re.compile(r"!+"),
    "question": re.compile(r"\?+"), "headings": re.compile(r"^#{1,6}\s", re.M),
    "lists": re.compile(r"^\s*(?:[-*+✔•]|\d+[.)])\s", re.M), "bold": re.compile(r"\*\*[^*\n]+\*\*"),
    "contractions": re.compile(r"[A-Za-z]'(?:t|s|re|ve|ll|d|m)\b", re.I), "emoji": _EMOJI,
}
_HANGUL = re.compile(r"[가-힣ㄱ-ㅎㅏ-ㅣ]")
_LATIN = re.compile(r"[A-Za-z]")
_EN_SENT = re.compile(r"(?<=[.!?…])\s+")
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|\d+(?:[.,]\d+)*")
# English function words (kept by the topic mask); a short fixed list keeps results independent of libraries.
EN_FUNCTION = frozenset("""a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off
on once only or other our ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were what when where which while
who whom why will with would you your yours yourself yourselves also really still even much many never always often
may might must shall yet though although however like well just 's 't 're 've 'll 'd 'm don't can't i'm it's""".split())


# Marks a draft's decoding keeps at the author's own rate (generate.pace): question and exclamation marks, ellipses,
# tildes, ㅋㅋ/ㅎㅎ/ㅠㅠ and emoji. The torch road's drafts over-used the first three for every real author
# measured, and wrote emoji for authors who never do (one draft in ten for psmin1994 and joe2357, 8x hyunjinno's
# rate; b on the English corpus): bench/style/README.md, the generate.pace rows.
PACED = ("question", "excl", "ellipsis", "tilde", "kk", "hh", "tt", "emoji")
# A mark is let through while one more keeps the draft at or under the author's rate over what it has written plus
# this many characters, and held down after: at one "?" per 1,000 characters, the first may come after 800
# characters, the second after 1,800.
PACE_AHEAD = 200
# What finds the tokens that write each paced mark: a token writes the mark when its text holds a match.
PACE_SIGNS = {"question": re.compile(r"\?"), "excl": re.compile("!"), "ellipsis": re.compile(r"…|\.\.\."),
              "tilde": re.compile("~"), "kk": re.compile("ㅋ"), "hh": re.compile("ㅎ"), "tt": re.compile("[ㅠㅜ]"),
              "emoji": _EMOJI}


def held_marks(rates: dict[str, float], text: str, ahead: int = PACE_AHEAD) -> set[str]:
    """The paced marks one more of which would put `text` above the author's `rates` (paced_rates) over its
    characters plus `ahead`: what a draft's decoding holds down next (generate.pace). A mark the rates do not name
    (an adapter tuned before it was paced) is not held."""
    return {k for k in PACED if k in rates
            and len(_PATTERNS[k].findall(text)) + 1 > rates[k] * (len(text) + ahead) / 1000}


def paced_rates(texts: list[str]) -> dict[str, float]:
    """How often the author writes each PACED mark: runs per 1,000 characters over all the texts (the same count
    and rate as `features`), {} without text."""
    chars = sum(len(t) for t in texts)
    if not chars:
        return {}
    return {k: round(1000 * sum(len(_PATTERNS[k].findall(t)) for t in texts) / chars, 4) for k in PACED}


@functools.lru_cache(maxsize=1)
def kiwi() -> Any:
    """The Korean morphological analyser (loaded once; its model ships in the kiwipiepy-model package)."""
    from kiwipiepy import Kiwi

    return Kiwi()


NOUN_TAGS = ("NNG", "NNP", "SL", "SH")  # common and proper nouns, foreign words and hanja


def nouns(text: str, merge_compounds: bool = False) -> list[str]:
    """The nouns of a Korean text (kiwipiepy), in order; `merge_compounds` joins a compound written as one word
    (소금+빵 → 소금빵)."""
    out: list[str] = []
    end = -1
    for t in kiwi().tokenize(text):
        if t.tag not in NOUN_TAGS:
            end = -1
            continue
        if merge_compounds and t.start == end and out:
            out[-1] += t.form
        else:
            out.append(t.form)
        end = t.start + t.len
    return out


def language(text: str) -> str:
    """'ko' when Hangul dominates the letters, 'en' when Latin does, 'other' for no letters at all."""
    h, lat = len(_HANGUL.findall(text)), len(_LATIN.findall(text))
    if h + lat == 0:
        return "other"
    return "ko" if h >= 0.3 * (h + lat) else "en"


@dataclass
class Analysis:
    """Counts of one text (summable across texts) and its topic-masked form."""

    counts: Counter = field(default_factory=Counter)
    masked: str = ""
    lang: str = "ko"


def _ending_class(tokens: list, i: int, text: str) -> str:
    """Class of the sentence whose last word token is tokens[i]."""
    t = tokens[i]
    coda = i + 1 < len(tokens) and tokens[i + 1].tag == "Z_CODA"
    if t.tag == "EF":
        f = t.form
        if f in ("음", "ᆷ", "ㅁ"):
            return "eum"
        if f.endswith(("니다", "니까")):
            return "seumnida"
        if f.endswith(("요", "죠")):
            return "yong" if coda else "yo"
        if f.endswith("다"):
            return "dang" if coda else "da"
        return "banmal"
    if t.tag == "ETN":
        return "eum"
    if t.tag.startswith("N") or t.tag in ("XSN", "SN"):
        return "noun"
    return "other"


def _korean(text: str, c: Counter) -> str:
    """Count endings and first person with kiwipiepy; return the topic-masked text."""
    toks = kiwi().tokenize(text)
    out, pos = [], 0
    last_word = None  # index of the last non-trailing token of the current sentence
    ended = False
    for i, t in enumerate(toks):
        gap = text[pos:t.start] if t.start >= pos else ""
        if last_word is not None and ("\n" in gap or (ended and t.tag not in _TRAIL_TAGS)):
            c["end_" + _ending_class(toks, last_word, text)] += 1
            c["sentences"] += 1
            last_word, ended = None, False
        if t.tag not in _TRAIL_TAGS and not t.tag.startswith("SS"):
            last_word = i
            ended = t.tag == "EF"
        elif t.tag == "SF" and last_word is not None:
            ended = True
        surface = text[t.start:t.start + t.len]
        if t.tag == "NP":
            if surface in ("나", "내", "난", "날") or t.form in ("나",) or surface.startswith("우리"):
                c["fp_plain"] += 1
            elif surface in ("저", "제", "전", "절") or t.form in ("저",) or surface.startswith("저희"):
                c["fp_humble"] += 1
        if t.start >= pos:
            out.append(gap)
            out.append(CONTENT_TAGS.get(t.tag, surface))
            pos = t.start + t.len
    if last_word is not None:
        c["end_" + _ending_class(toks, last_word, text)] += 1
        c["sentences"] += 1
    out.append(text[pos:])
    return "".join(out)


def _english(text: str, c: Counter) -> str:
    """Sentences and first person for non-Korean text; content words become N (+ a common suffix), numbers 0."""
    for para in text.split("\n"):
        c["sentences"] += sum(1 for s in _EN_SENT.split(para) if _WORD.search(s))
    for w in _WORD.findall(text):
        lw = w.lower()
        if lw in ("i", "me", "my", "mine", "myself"):
            c["fp_plain"] += 1

    def repl(m: re.Match) -> str:
        w = m.group(0)
        if w[0].isdigit():
            return "0"
        if w.lower() in EN_FUNCTION:
            return w
        suf = next((s for s in ("ing", "ed", "ly", "tion", "s") if w.lower().endswith(s) and len(w) > len(s) + 2), "")
        return ("N" if w[0].islower() else "P") + suf

    return _WORD.sub(repl, text)


def analyze(text: str) -> Analysis:
    """Count the style features of one text (Markdown) and produce its topic-masked form."""
    c: Counter = Counter()
    lang = language(text)
    c["posts"] = 1
    c["chars"] = len(text)
    c["words"] = len(text.split())
    c["hangul"] = len(_HANGUL.findall(text))
    c["latin"] = len(_LATIN.findall(text))
    c["paragraphs"] = sum(1 for p in re.split(r"\n\s*\n", text) if p.strip())
    for k, rx in _PATTERNS.items():
        c[k] = len(rx.findall(text))
    masked = _korean(text, c) if lang == "ko" else _english(text, c)
    return Analysis(c, masked, lang)


def features(c: Counter | dict) -> dict[str, float]:
    """Ratios from (summed) counts: ending shares, register shares, rates per 1000 characters, lengths."""
    chars = max(c.get("chars", 0), 1)
    ended = sum(c.get("end_" + e, 0) for e in ENDINGS)
    f: dict[str, float] = {}
    for e in ENDINGS:
        f["end_" + e] = c.get("end_" + e, 0) / ended if ended else 0.0
    f["formal"] = sum(f["end_" + e] for e in FORMAL)
    f["polite"] = sum(f["end_" + e] for e in POLITE)
    f["casual"] = sum(f["end_" + e] for e in CASUAL)
    fp = c.get("fp_plain", 0) + c.get("fp_humble", 0)
    f["fp_humble_share"] = c.get("fp_humble", 0) / fp if fp else 0.5
    f["fp_rate"] = 1000 * fp / chars
    for k in RATES:
        f[k] = 1000 * c.get(k, 0) / chars
    n = c.get("chars", 0)
    f["sentence_chars"] = n / max(c.get("sentences", 0), 1)
    f["paragraph_chars"] = n / max(c.get("paragraphs", 0), 1)
    f["post_chars"] = n / max(c.get("posts", 1), 1)
    letters = c.get("hangul", 0) + c.get("latin", 0)
    f["hangul_share"] = c.get("hangul", 0) / letters if letters else 0.0
    return f


def honorific_level(f: dict[str, float]) -> str:
    """The dominant register of sentence endings."""
    shares = {"formal (-습니다)": f["formal"], "polite (-요)": f["polite"], "casual (-다/반말)": f["casual"]}
    return max(shares, key=shares.get) if any(shares.values()) else "n/a"


# Post length is left out on purpose: it has its own gate, and a short draft should not look like another author.
VECTOR_KEYS = [*("end_" + e for e in ENDINGS), "fp_humble_share", "fp_rate", *RATES, "sentence_chars",
               "paragraph_chars", "hangul_share"]
_LOG_KEYS = {*RATES, "fp_rate", "sentence_chars", "paragraph_chars"}


def vector(f: dict[str, float]) -> list[float]:
    """The feature dict as a vector for distances (rates and lengths on a log scale)."""
    return [math.log1p(f[k]) if k in _LOG_KEYS else f[k] for k in VECTOR_KEYS]
