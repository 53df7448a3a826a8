"""The two small protocols every platform implements (reading, publishing); the records they exchange live in
bot.core.records."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.core.records import Draft, Post, PostRef, PublishResult


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
