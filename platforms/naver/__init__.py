"""Naver: reading the author's posts (read.py) and publishing drafts (publish.py, selectors.py)."""

from __future__ import annotations

from typing import Any

from bot.core.records import PlatformSpec

name = "naver"
SPEC = PlatformSpec(
    name="naver", reads=True, publishes=True, login=True, source_key="blog_id",
    login_url="https://nid.naver.com/nidlogin.login?url=https%3A%2F%2Fblog.naver.com%2F",
)


def reader(*args: Any, **kwargs: Any) -> Any:
    """The reading side for one configured source (see read.py)."""
    from platforms.naver.read import make_reader

    return make_reader(*args, **kwargs)


def publisher(*args: Any, **kwargs: Any) -> Any:
    """The publishing side (see publish.py)."""
    from platforms.naver.publish import make_publisher

    return make_publisher(*args, **kwargs)
