"""The draft's title in the author's way: after the body is written, the same model (adapter included) completes a
few-shot prompt of the author's own (opening → title) pairs with this draft's opening, greedy, one short line; the
rule that picks a draft's title (its own `# title`, the model's, or the topic line as the fallback, with the reason).

Every backend calls `TitleStep` with its own `complete(prompt) -> (raw text, new tokens, prompt tokens)`."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bot.core.config import Config
from bot.core.errors import BlogbotError
from bot.core.records import Post
from bot.voice.text import HTML_TAG, ZW

MAX_NEW_TOKENS = 32  # a title is one short line; the step stops at its line end
OPENING_CHARS = 120  # characters of a body's opening shown for each pair
PAIRS = 5  # the author's (opening → title) pairs in the prompt
LABELS = {"ko": ("글", "제목"), "en": ("Post", "Title")}

Complete = Callable[[str], tuple[str, int, int]]
_QUOTES = "\"'“”‘’「」『』`«»"


def opening(body: str, n: int = OPENING_CHARS) -> str:
    """The first ~n characters of a body on one line: Markdown markers dropped, cut after a sentence end or a space."""
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", body)
    text = re.sub(r"^\s{0,3}(?:#{1,6}\s+|[-*+•]\s+|\d+[.)]\s+|>\s*)|\*\*|__|`", "", text, flags=re.M)
    text = " ".join(text.split())
    if len(text) <= n:
        return text
    cut = text[:n]
    end = max(cut.rfind(c) for c in ".!?~…")
    return cut[: end + 1] if end > n // 2 else cut[: cut.rfind(" ")] if " " in cut[n // 2:] else cut


def topic_line(title: str, tags: list[str] | None = None) -> str:
    """The topic line a user would queue for a post with this title: the title's nouns (Korean; compounds kept
    whole) or content words (English), else the tags, else the title. The API brief shows the author's posts as
    answers to these (so an answer's `# title` is never the request's topic copied); bench/title.py uses them."""
    from bot.voice.style.features import EN_FUNCTION, language, nouns

    if language(title) == "ko":
        ws = [w for w in nouns(title, merge_compounds=True) if not w.isdigit()]
    else:
        ws = [w for w in re.findall(r"[A-Za-z0-9']+", title) if w.lower() not in EN_FUNCTION and len(w) > 2]
    line = " ".join(dict.fromkeys(ws))
    if not line or _norm(line) == _norm(title):
        line = " ".join(tags or []) or title
    return line


def _norm(text: str) -> str:
    return re.sub(r"[\W_]", "", text.lower())


def lang_of(texts: list[str]) -> str:
    from bot.voice.style.features import language

    return "en" if language(" ".join(t[:300] for t in texts)) == "en" else "ko"


def pairs(examples: list[Post] | None, posts: list[Post], topic: str, tags: list[str] | None = None,
          k: int = PAIRS) -> list[tuple[str, str]]:
    """Up to k of the author's (opening, title) pairs: the related posts passed as examples first, then the
    author's posts most related to the topic."""
    from bot.voice.style.retrieve import related_posts

    ranked = list(examples or []) + related_posts(posts, topic, tags, k=min(len(posts), k * 2))
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for p in ranked:
        t = " ".join((p.title or "").split())
        if len(out) >= k or not t or t in seen or not p.body_markdown.strip():
            continue
        seen.add(t)
        out.append((opening(p.body_markdown), t))
    return out[::-1]  # the most related pair last: closest to the draft's own


def prompt(body: str, shots: list[tuple[str, str]], lang: str = "ko") -> str:
    """`글: opening\\n제목: title\\n\\n` per pair, then this draft's opening and `제목:` to complete."""
    post, title = LABELS.get(lang, LABELS["ko"])
    return "".join(f"{post}: {o}\n{title}: {t}\n\n" for o, t in shots) + f"{post}: {opening(body)}\n{title}:"


def clean(raw: str) -> str:
    """One clean line from a completion: its first non-empty line, without `#`, a `제목:` label, Markdown emphasis,
    surrounding quotes, zero-width or replacement characters."""
    text = HTML_TAG.sub("", raw.replace("\r", ""))
    text = re.sub(f"[{ZW}\ufffd]", "", text)
    line = next((ln for ln in text.split("\n") if ln.strip()), "")
    line = re.sub(r"^\s*(?:#+\s*)*(?:(?:제목|title)\s*[:：]\s*)?", "", line, flags=re.I)
    line = " ".join(line.replace("**", "").replace("__", "").split())
    while len(line) >= 2 and line[0] in _QUOTES and line[-1] in _QUOTES:
        line = line[1:-1].strip()
    if line.count(line[:1]) == 1 and line[:1] in _QUOTES:  # an opening quote never closed
        line = line[1:].strip()
    parts = re.split(r"(?<=[,·])\s*", line)  # a small model's loop: "3월의 봄, 3월의 봄, 3월의 봄, 3"
    for i in range(1, len(parts)):
        if parts[i].strip(" ,·") in {p.strip(" ,·") for p in parts[:i]}:
            line = " ".join(parts[:i])
            break
    return line.strip(" -|:·,")


def problem(title: str, topic: str, longest: int | None = None, allowed: set[str] | frozenset[str] = frozenset(),
            past: set[str] | frozenset[str] = frozenset()) -> str | None:
    """Why a title cannot be used (None: usable): empty, mostly symbols, the topic line copied, a word three times,
    a past title of the author's shown in the prompt copied, broken characters, or over twice the author's longest
    title."""
    from bot.voice.style.gates import title_copies_topic, title_letters
    from bot.voice.style.sense import broken

    if not title.strip():
        return "empty"
    if title_letters(title) < 0.5:
        return "mostly not letters"
    if title_copies_topic(title, topic):
        return "the topic line copied"
    if max(Counter(title.split()).values()) >= 3:
        return "repeats itself"
    if " ".join(title.split()) in past:
        return "a past title copied"
    if broken(title, allowed):
        return "broken characters"
    if longest and len(title) > 2 * longest:
        return f"{len(title)} characters, over twice the author's longest title ({longest})"
    return None


class TitleStep:
    """The title step of one backend: `complete` is that backend's own short greedy completion."""

    def __init__(self, cfg: Config, complete: Complete, posts: list[Post] | None = None) -> None:
        self.cfg, self.complete, self.posts = cfg, complete, posts

    def author_posts(self) -> list[Post]:
        """The author's posts from the store (read once per backend) unless given."""
        if self.posts is None:
            from bot.core.posts import live_posts
            from bot.core.store import open_db

            db = open_db(self.cfg.data_path)
            try:
                self.posts = [p for p in live_posts(db) if p.body_markdown.strip()]
            finally:
                db.close()
        return self.posts

    def write(self, body: str, topic: str, tags: list[str] | None = None,
              examples: list[Post] | None = None) -> tuple[str, dict[str, Any]]:
        """The model's title for a body and what it cost (new tokens, seconds, pairs shown)."""
        shots = pairs(examples, self.author_posts(), topic, tags)
        lang = lang_of([body] + [o for o, _ in shots])
        t0 = time.monotonic()
        try:
            raw, n, n_prompt = self.complete(prompt(body, shots, lang))
        except BlogbotError as exc:  # a server's title request failed: the body is kept, the title falls back
            return "", {"title_error": str(exc)[:300], "title_s": round(time.monotonic() - t0, 3)}
        info = {"title_tokens": int(n), "title_prompt_tokens": int(n_prompt),
                "title_s": round(time.monotonic() - t0, 3), "title_pairs": len(shots),
                "title_raw": raw[:200], "title_past": [t for _, t in shots]}
        return clean(raw), info

    def __call__(self, own: str | None, body: str, topic: str, tags: list[str] | None = None,
                 examples: list[Post] | None = None) -> tuple[str, dict[str, Any]]:
        """(title, params): the completion's own `# title` when usable (`draft`), else the model's (`model`), else
        the topic line (`topic`, with the reason)."""
        from bot.voice.style.sense import rare_syllables

        topic_line = " ".join(topic.split())
        own = clean(own) if own is not None else None
        shown = {" ".join(e.title.split()) for e in examples or []}  # the related posts in the prompt
        if own is not None and problem(own, topic, past=shown) is None:
            return own, {"title_source": "draft"}
        reasons = [f"the draft's own title: {problem(own, topic, past=shown)}"] if own is not None else []
        if not body.strip():
            return topic_line, {"title_source": "topic", "title_reason": "; ".join(reasons + ["empty body"])}
        if not self.cfg.generate.title_step:
            return topic_line, {"title_source": "topic", "title_reason": "; ".join(reasons + [
                "generate.title_step is off"])}
        title, info = self.write(body, topic, tags, examples)
        posts = self.author_posts()
        longest = max((len(p.title) for p in posts if p.title), default=None)
        allowed = rare_syllables(" ".join(p.title + p.body_markdown[:2000] for p in posts[-50:]))
        why = problem(title, topic, longest, allowed, set(info.pop("title_past", [])))
        if "title_error" in info:
            why = f"the request failed: {info['title_error']}"
        if why is None:
            return title, {"title_source": "model", **info}
        reasons.append(f"the model's title {title[:60]!r}: {why}")
        return topic_line, {"title_source": "topic", "title_reason": "; ".join(reasons), **info}
