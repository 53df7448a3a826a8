"""The two small protocols every platform module implements, and the records they exchange."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

FENCE = re.compile(r"^(```|~~~)")


def normalize_text(text: str) -> str:
    """NFC, unified newlines, no trailing spaces, no runs of blank lines, no zero-width characters.
    Inside fenced code blocks only newlines and trailing spaces are touched: blank lines there are content."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    out: list[str] = []
    in_code = False
    for ln in text.split("\n"):
        if FENCE.match(ln.lstrip()):
            in_code = not in_code
        elif not in_code:
            ln = re.sub(r"[\u200b\u200c\u200d\ufeff\u00ad]", "", ln).replace("\u00a0", " ")
            if not ln.strip() and out and not out[-1].strip():
                continue  # a second blank line in a row
        out.append(ln.rstrip())
    return "\n".join(out).strip("\n").strip()



def content_hash(title: str, body: str) -> str:
    """Hash of the normalized text, insensitive to whitespace layout: the dedupe key of a post."""
    norm = re.sub(r"\s+", " ", normalize_text(title) + "\n" + normalize_text(body)).strip()
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()


@dataclass
class Post:
    """One post, normalized: what every reader produces and the store keeps."""

    platform: str
    source_id: str
    title: str
    body_markdown: str
    url: str | None = None
    published_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    category: str | None = None
    origin: str | None = None
    status: str = "live"  # live | deleted | private

    @property
    def content_hash(self) -> str:
        return content_hash(self.title, self.body_markdown)


@dataclass
class PostRef:
    """An entry of a listing: enough to decide whether to fetch the post."""

    source_id: str
    url: str
    title: str | None = None
    published_at: datetime | None = None
    updated_hint: str | None = None  # anything that changes when the post is edited (date, hash, etag)


@dataclass
class Draft:
    """What a publisher receives: a draft ready to go out."""

    id: int
    title: str
    body_markdown: str
    tags: list[str] = field(default_factory=list)
    category: str | None = None
    visibility: str = "public"
    key: str = ""  # a short marker stored with the draft, used to find the post again when reconciling


@dataclass
class PublishResult:
    url: str
    remote_id: str | None = None
    verified: bool = False


@runtime_checkable
class Reader(Protocol):
    """Reading side: list a blog's posts (newest first) and fetch one."""

    name: str

    def list_posts(self, since: datetime | None = None) -> Iterator[PostRef]: ...

    def fetch(self, ref: PostRef) -> Post: ...


@runtime_checkable
class Publisher(Protocol):
    """Publishing side: publish a draft, and find a post already published from a draft."""

    name: str

    def publish(self, draft: Draft, dry_run: bool = False) -> PublishResult: ...

    def find_published(self, draft: Draft) -> PublishResult | None: ...
