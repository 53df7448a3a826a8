"""The records every layer exchanges: a post as read from a blog, a listing entry, a draft ready to publish, a
publish result; and the text normalisation and hash that make a post's identity."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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


@dataclass(frozen=True)
class PlatformSpec:
    """What the registry knows of one platform (platforms/<name>/__init__.py's SPEC): what it can do, the
    `sources:` field naming a blog on it, where a person signs in, and its `publish.<name>` defaults."""

    name: str
    reads: bool = False  # a reader for `sources:` (crawl)
    publishes: bool = False  # a publisher (`publish.<name>`)
    login: bool = False  # a person signs in once (`blogbot login <name>`); the session is saved
    source_key: str = "blog"  # the `sources:` field naming the blog (blog_id, blog, username)
    login_url: str | None = None  # where `blogbot login` opens the browser (publish.<name>.urls.login overrides)
    local: bool = False  # a local imitation (the sandbox): never a default target once a real platform is on
    publish_defaults: dict[str, Any] = field(default_factory=dict)  # publish.<name> defaults that differ


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


@dataclass
class Generation:
    """What a generation backend hands to the draft job. `params` holds the backend's settings and, for backends
    that report it, `usage` (prompt and completion tokens, `cost` when known); the draft job stores them."""

    title: str
    body_markdown: str
    tags: list[str]
    adapter_version: str | None
    base_model: str
    params: dict[str, Any]
    duration_s: float
    new_tokens: int

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def usage(self) -> dict[str, Any]:
        """Token usage (and cost) as the backend reported it; {} for backends that report none."""
        return dict(self.params.get("usage") or {})


def slug(text: str, limit: int = 40) -> str:
    s = re.sub(r"[^\w가-힣]+", "-", text, flags=re.UNICODE).strip("-").lower()
    return s[:limit].strip("-") or "draft"
