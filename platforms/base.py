"""The two small protocols every platform implements (reading, publishing), exactly as the jobs call them; the
records they exchange live in bot.core.records. tests/test_architecture.py checks every registered platform."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bot.core.records import Draft, Post, PostRef, PublishResult

if TYPE_CHECKING:
    from platforms.http import Fetched


@runtime_checkable
class Reader(Protocol):
    """Reading side of one configured source: list the blog's posts (newest first) and fetch one."""

    def list_posts(self, full: bool = False) -> Iterator[PostRef]:
        """Newest first; `full` lists every post (a full crawl), else the reader may stop early."""
        ...

    def fetch(self, ref: PostRef) -> Post: ...

    def fetch_conditional(self, ref: PostRef, etag: str | None = None,
                          last_modified: str | None = None) -> Fetched:
        """`fetch` that may answer "not modified" from the validators of the last fetch."""
        ...


@runtime_checkable
class Publisher(Protocol):
    """Publishing side: publish a draft, find a post already published from it, check the saved login, keep the
    page of a failed step."""

    name: str

    def publish(self, draft: Draft, dry_run: bool = False) -> PublishResult: ...

    def find_published(self, draft: Draft) -> PublishResult | None: ...

    def check_session(self) -> str | None:
        """Raise AuthExpired unless the saved login works; the account name when known."""
        ...

    def artifacts(self, step: str) -> str:
        """Save the page (screenshot, HTML, trace) under the data dir; the folder, or "" when there is no page."""
        ...
