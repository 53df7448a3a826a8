"""Draft text shared by every backend: cleaning, the tune's prompt with related posts and notes, the splitting of a
completion into its own title and body, streaming that never shows half a character, tag suggestions."""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.core.records import Post
from bot.voice import corpus

OnText = Callable[[str], None]
ZW = "\u200b\u200c\u200d\u2060\ufeff"
HTML_TAG = re.compile(r"</?(?:strong|u|b|i|em|span|div|p|br|font|center|mark|sup|sub|strike|s|a|img|h[1-6])\b[^>\n]*>?",
                      re.IGNORECASE)
PROMPT_LINE = re.compile(r"^(?:주제|태그|분량):.*$\n?", re.MULTILINE)
STOP_MARK = "\n" + corpus.PROMPT_TEMPLATE.split(":", 1)[0] + ":"  # the model starting a new prompt block


def clean_text(text: str) -> str:
    """Clean Markdown: no zero-width characters or lines, no leaked HTML tags, no runs of blank lines."""
    text = re.sub(r"<br\s*/?>", "\n", text, flags=re.IGNORECASE)
    text = HTML_TAG.sub("", text)
    text = re.sub(f"[{ZW}\ufffd]", "", text)  # zero-width characters and undecodable bytes
    lines = [ln.rstrip() for ln in text.replace("\r", "").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def trim_unfinished(text: str) -> str:
    """Cut a text that hit the token limit back to its last complete sentence or paragraph."""
    m = max(text.rfind(c) for c in (".", "!", "?", "~", "\n", "ㅎ", "ㅋ", "요", "다"))
    return text[: m + 1].rstrip() if m > len(text) * 0.5 else text


# Byte-fallback tokens of non-ASCII bytes: a small model strings them into syllables no one writes (긕) or into
# invalid UTF-8 (����); every common Hangul syllable has a token of its own.
HIGH_BYTE = re.compile(r"<0x[89A-F][0-9A-F]>")


class TextStream:
    """Hands only complete, final text to on_text: a token that ends inside a UTF-8 sequence (byte-fallback tokens
    of one Hangul syllable) is held back until the sequence completes; an undecodable byte is dropped; text whose
    decoding changes once more tokens arrive is never sent twice or sent misaligned."""

    def __init__(self, on_text: OnText | None) -> None:
        self.on_text, self.sent = on_text, ""

    def update(self, text: str, final: bool = False) -> None:
        """`text` is the whole decoded output so far."""
        if not final:
            text = text.rstrip("\ufffd")  # an unfinished multi-byte character at the end: wait for its bytes
        text = text.replace("\ufffd", "")
        if not text.startswith(self.sent):  # earlier text decoded differently now: resync without resending
            n = len(_common_prefix(text, self.sent))
            self.sent = self.sent[:n]
            if len(text) <= len(self.sent):
                return
        new = text[len(self.sent):]
        if new:
            self.sent = text
            if self.on_text:
                self.on_text(new)


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def with_context(prompt: str, examples: list[Post] | None = None, notes: str | None = None) -> str:
    """The tune's prompt preceded by the related posts and the topic's notes (both optional), framed in the
    language of the author's posts ([참고]/[메모] for Korean, [Example]/[Note] otherwise)."""
    from bot.voice.style.features import language

    sample = " ".join(e.body_markdown[:400] for e in examples or []) or prompt
    ex, note = ("[참고]", "[메모]") if language(sample) == "ko" else ("[Example]", "[Note]")
    refs = "".join(f"{ex} {e.title}\n{e.body_markdown.strip()[:400]}\n\n" for e in examples or [])
    if notes and notes.strip():
        refs += f"{note} {' '.join(notes.split())}\n\n"
    return refs + "---\n\n" + prompt if refs else prompt


def split_title(raw: str, ended: bool) -> tuple[str | None, str]:
    """(the completion's own title or None, body) from a completion of the tune's prompt or of the API brief: cut
    at a new prompt block, prompt lines dropped, cleaned, trimmed to the last whole sentence when the token limit
    cut it, a leading `# title` line taken as its title."""
    cut = raw.find(STOP_MARK, 1)
    raw = PROMPT_LINE.sub("", raw[:cut] if cut > 0 else raw)
    body = clean_text(raw if ended else trim_unfinished(raw))
    m = re.match(r"#\s+(.+)(?:\n+|$)", body)
    if m:
        return m.group(1).strip(), body[m.end():]
    return None, body


def finish(raw: str, ended: bool, topic: str) -> tuple[str, str]:
    """(title, body): split_title with the topic line as the title when the completion wrote none (the backends
    use the title step instead: bot/voice/title.py)."""
    own, body = split_title(raw, ended)
    return own or " ".join(topic.split()), body


def suggest_tags(topic: str, tags: list[str], body: str, examples: list[Post] | None = None, k: int = 5) -> list[str]:
    """The topic's tags, then the related posts' tags found in the text, then the topic's longer words."""
    out = list(dict.fromkeys(tags))
    for e in examples or []:
        out += [t for t in e.tags if t in body or t in topic]
    out += [w for w in _nouns(topic) if len(w) >= 2 and not w.isdigit()]
    return list(dict.fromkeys(out))[:k]


def _nouns(text: str) -> list[str]:
    """Nouns of a short text, compounds written as one word kept whole (the one noun helper, style.features)."""
    from bot.voice.style.features import nouns

    return nouns(text, merge_compounds=True)
