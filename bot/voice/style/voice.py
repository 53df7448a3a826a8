"""The fitted voice of the author: corpus (own posts + background), profile, classifiers, distance, cache, scoring."""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils
from loguru import logger

from bot.core.config import Config
from bot.voice.style import classifier, distance, features, layout, sense
from bot.voice.style.gates import CopyIndex, hashtags

BUILTIN_BACKGROUND = Path(__file__).resolve().parents[1] / "data" / "background"
# the background shipped per language of the author's posts (features.language): invented Korean bloggers, and
# English essayists of the EBG corpus (3-Clause BSD; data/background-en/README.md); another language gets the Korean
BUILTIN_BACKGROUNDS = {"ko": BUILTIN_BACKGROUND, "en": BUILTIN_BACKGROUND.with_name("background-en")}
VERSION = "11"  # bump when the fitted model's contents change: invalidates caches
_MEMO: dict[str, Voice] = {}


def post_text(title: str, body: str) -> str:
    return f"{title.strip()}\n\n{body.strip()}".strip() if title else body.strip()


def author_texts(db: sqlite_utils.Database) -> list[str]:
    from bot.core.posts import live_posts

    return [post_text(p.title, p.body_markdown) for p in live_posts(db) if p.body_markdown.strip()]


def author_titles(db: sqlite_utils.Database) -> list[str]:
    """The titles of the posts author_texts reads (empty ones left out)."""
    from bot.core.posts import live_posts

    return [" ".join(p.title.split()) for p in live_posts(db) if p.body_markdown.strip() and p.title.strip()]


def title_lengths(titles: list[str]) -> dict[str, int] | None:
    """The spread of the author's title lengths in characters (None without titles)."""
    lens = sorted(len(t) for t in titles if t.strip())
    return {"n": len(lens), "min": lens[0], "median": lens[len(lens) // 2], "max": lens[-1]} if lens else None


def read_folder(folder: Path) -> dict[str, list[str]]:
    """Authors under a folder: each subfolder with posts is one author; posts directly inside make one author. A
    post without a title of its own (the reader names it after its file) is its body alone."""
    from platforms.files.read import read_file

    out: dict[str, list[str]] = {}
    subs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    for sub in subs or [folder]:
        texts = []
        for f in sorted(sub.iterdir()):
            if f.is_file() and f.suffix.lower() in (".md", ".markdown", ".txt") and not f.stem.upper() == "README":
                texts += [post_text("" if p.title == f.stem else p.title, p.body_markdown)
                          for p in read_file(f) if p.body_markdown.strip()]
        if texts:
            out[sub.name] = texts
    return out


def texts_language(texts: list[str]) -> str:
    """The language most of the texts are in ('ko', 'en'; 'ko' for none): which built-in background they get."""
    langs = Counter(features.language(t) for t in texts if t.strip())
    langs.pop("other", None)
    return langs.most_common(1)[0][0] if langs else "ko"


def background_texts(cfg: Config, lang: str = "ko") -> dict[str, list[str]]:
    """The style background: the built-in authors of the author's language `lang` (style.background_builtin; the
    Korean ones for a language blogbot ships none of) and the folders of style.background_dirs."""
    builtin = BUILTIN_BACKGROUNDS.get(lang, BUILTIN_BACKGROUND)
    folders = ([builtin] if cfg.style.background_builtin else []) + \
              [cfg.resolve(Path(d)) for d in cfg.style.background_dirs]
    out: dict[str, list[str]] = {}
    for folder in folders:
        if not folder.is_dir():
            from bot.core.errors import ConfigError

            raise ConfigError(f"style.background_dirs: {folder} is not a folder")
        for name, texts in read_folder(folder).items():
            out.setdefault(name, []).extend(texts)
    return out


def corpus_hash(author: list[str], background: dict[str, list[str]], cfg: Config) -> str:
    h = hashlib.sha256(f"v{VERSION}|{cfg.style.max_chars}|{cfg.style.cv_folds}".encode())
    for t in author:
        h.update(b"A" + hashlib.sha256(t.encode()).digest())
    for name in sorted(background):
        for t in background[name]:
            h.update(name.encode() + hashlib.sha256(t.encode()).digest())
    return h.hexdigest()


@dataclass
class Voice:
    """Everything fitted from one corpus; pickled under <data>/style/ keyed by the corpus hash."""

    key: str
    posts: int
    reliable: bool
    reason: str | None
    lang: str
    counts: Counter
    length_range: tuple[int, int] | None
    lengths: dict[str, int]
    copy_index: CopyIndex
    natural_copy: float
    expressions: list[tuple[str, float]] = field(default_factory=list)
    background_authors: dict[str, int] = field(default_factory=dict)
    plain: classifier.Calibrated | None = None
    masked: classifier.Calibrated | None = None
    dist: distance.Distance | None = None
    sense: sense.SenseProfile | None = None
    layout: layout.LayoutProfile | None = None
    max_hashtags: int = 0
    title_lengths: dict[str, int] | None = None  # the author's titles: n, min, median, max characters

    def profile(self) -> dict[str, Any]:
        f = features.features(self.counts)
        return {"posts": self.posts, "lang": self.lang, "features": f, "honorific": features.honorific_level(f),
                "lengths": self.lengths, "expressions": self.expressions, "natural_copy_rate": self.natural_copy,
                "copy_window_chars": self.copy_index.window, "title_lengths": self.title_lengths,
                "layout": ({"low": self.layout.low, "high": self.layout.high} if self.layout else None),
                "sense_reference": (f"{self.sense.source} ({self.sense.n} posts)" if self.sense else None)}

    def score(self, text: str, max_chars: int) -> dict[str, Any]:
        """The fidelity score of a text and its parts; fields are None where they cannot honestly be computed."""
        text = text.strip()
        truncated = len(text) > max_chars
        sample = text[:max_chars]
        out: dict[str, Any] = {"reliable": self.reliable, "reason": self.reason, "posts": self.posts,
                               "profile_lang": self.lang, "lang": features.language(sample) if sample else None,
                               "chars": len(text), "truncated": truncated, "fidelity": None, "fidelity_plain": None,
                               "p_masked": None, "p_plain": None, "attributed": None, "distance": None,
                               "closeness": None, "style": None, "style_source": None, "model": self.key[:12]}
        if not sample:
            out.update(reliable=False, reason="empty text")
            return out
        a = features.analyze(sample)
        if self.dist is not None:
            vec = features.vector(features.features(a.counts))
            d = self.dist.normalized(vec)
            out["distance"] = None if d is None else round(d, 3)
            if d is None:
                out["distance_note"] = "the profile features do not separate this author from the background"
            else:
                out["closeness"] = round(self.dist.closeness(vec), 3)
        if self.plain is not None and self.masked is not None:
            pp, pm = float(self.plain.proba([sample])[0]), float(self.masked.proba([a.masked])[0])
            out.update(p_plain=round(pp, 4), p_masked=round(pm, 4),
                       fidelity_plain=round(self.plain.calibrated(pp), 3),
                       fidelity=round(self.masked.calibrated(pm), 3),
                       attributed=pm >= classifier.ATTRIBUTION_THRESHOLD,
                       ceiling=round(self.masked.ceiling, 3), ceiling_plain=round(self.plain.ceiling, 3))
        # The headline "style" figure: closeness when the distance is usable (derived from the distance, so the two
        # cannot disagree), else the classifier's calibrated fidelity. Always within 0–1.
        if out["closeness"] is not None:
            out.update(style=out["closeness"], style_source="distance")
        elif out["fidelity"] is not None:
            out.update(style=out["fidelity"], style_source="classifier")
        if self.posts and out["lang"] != self.lang:
            out["warning"] = f"the text's language ({out['lang']}) is not the author's ({self.lang})"
        return out


def _expressions(author: list[str], background: dict[str, list[str]], top: int = 12) -> list[tuple[str, float]]:
    """Words and word pairs over-represented in the author's posts against the background (log-odds of doc freq)."""
    def units(t: str) -> set[str]:
        ws = [w for w in re.split(r"\s+", re.sub(r"[#*>\-\[\]()\"'`.,:;]", " ", t)) if w]
        return set(ws) | {f"{a} {b}" for a, b in zip(ws, ws[1:], strict=False)}

    bg = [t for ts in background.values() for t in ts]
    da, db_ = Counter(u for t in author for u in units(t)), Counter(u for t in bg for u in units(t))
    na, nb = len(author), max(len(bg), 1)
    need = max(3, math.ceil(0.2 * na))
    scored = [(u, math.log((c + 0.5) / (na + 1)) - math.log((db_[u] + 0.5) / (nb + 1)))
              for u, c in da.items() if c >= need]
    return [(u, round(s, 2)) for u, s in sorted(scored, key=lambda x: -x[1])[:top]]


def fit(author: list[str], background: dict[str, list[str]], cfg: Config, key: str,
        titles: list[str] | None = None) -> Voice:
    """Fit the profile, the copy index, the distance and both classifiers (the last two need enough posts);
    `titles`: the author's titles (their length spread)."""
    mc = cfg.style.max_chars
    author = [t[:mc] for t in author]
    own = set(author)
    background = {k: [t[:mc] for t in v if t[:mc] not in own] for k, v in background.items()}
    background = {k: v for k, v in background.items() if v}
    analyses = [features.analyze(t) for t in author]
    counts: Counter = sum((a.counts for a in analyses), Counter())
    lens = sorted(len(t) for t in author)
    langs = Counter(a.lang for a in analyses)
    n = len(author)
    reason = None
    if n < cfg.style.min_posts:
        reason = f"only {n} posts of the author (at least {cfg.style.min_posts} give a meaningful score)"
    elif not background:
        reason = "no background authors to compare with (style.background_builtin / style.background_dirs)"
    v = Voice(key=key, posts=n, reliable=reason is None, reason=reason, lang=langs.most_common(1)[0][0] if n else "ko",
              counts=counts, length_range=(lens[0], lens[-1]) if n >= 3 else None,
              lengths={"min": lens[0], "median": lens[n // 2], "max": lens[-1]} if n else {},
              copy_index=CopyIndex.build(author), natural_copy=0.0,
              background_authors={k: len(v) for k, v in background.items()},
              max_hashtags=max((len(hashtags(t)) for t in author), default=0), layout=layout.calibrate(author),
              title_lengths=title_lengths(titles or []))
    v.natural_copy = round(v.copy_index.natural_share, 4)
    bg_all = [t for ts in background.values() for t in ts]
    if n >= sense.MIN_REFERENCE:
        v.sense = sense.calibrate(author, source="your posts", order_texts=author + bg_all)
    elif bg_all:  # too few own posts: the built-in authors' spread, wider but honest
        v.sense = sense.calibrate(bg_all, source="the background authors", order_texts=author + bg_all)
    if not v.reliable:
        return v
    bg_an = {k: [features.analyze(t) for t in ts] for k, ts in background.items()}
    v.expressions = _expressions(author, background)
    v.dist = distance.fit([features.vector(features.features(a.counts)) for a in analyses],
                          {k: [features.vector(features.features(a.counts)) for a in ans] for k, ans in bg_an.items()})
    bg_texts = [t for ts in background.values() for t in ts]
    bg_masked = [a.masked for ans in bg_an.values() for a in ans]
    v.plain = classifier.fit("plain", author, bg_texts, cfg.style.cv_folds)
    v.masked = classifier.fit("masked", [a.masked for a in analyses], bg_masked, cfg.style.cv_folds)
    if v.masked.ceiling < 0.5:  # the classifier does not recognise the author's own held-out posts
        v.reliable = False
        v.reason = (f"the style classifier recognises only {v.masked.ceiling:.0%} of the author's own held-out posts "
                    "(more posts, or a background of more distinct authors, would help)")
    return v


def load(cfg: Config, db: sqlite_utils.Database) -> Voice:
    """The voice for the current corpus: from memory, from the cache file, or fitted now (and cached)."""
    author = author_texts(db)
    background = background_texts(cfg, texts_language(author))
    key = corpus_hash(author, background, cfg)
    if key in _MEMO:
        return _MEMO[key]
    folder = cfg.data_path / "style"
    path = folder / f"voice-{key[:16]}.pkl"
    voice = None
    if path.exists():
        try:
            with open(path, "rb") as fh:
                voice = pickle.load(fh)
        except Exception as exc:  # a damaged or outdated cache is refitted, never trusted
            logger.warning("style cache {} unreadable ({}); refitting", path, exc)
    if voice is None:
        logger.info("fitting the style model on {} posts and {} background authors", len(author), len(background))
        voice = fit(author, background, cfg, key, author_titles(db))
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("voice-*.pkl"):
            old.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(voice, fh)
        os.replace(tmp, path)
    while len(_MEMO) >= 4:  # a few corpora in memory (tests, several data dirs in one process)
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[key] = voice
    return voice
