"""Velog: reading the author's posts (read.py) and publishing drafts (publish.py, selectors.py)."""

from __future__ import annotations

from typing import Any

from bot.core.records import PlatformSpec

name = "velog"
SPEC = PlatformSpec(
    name="velog", reads=True, publishes=True, login=True, source_key="username",
    login_url="https://velog.io/",
)


def reader(*args: Any, **kwargs: Any) -> Any:
    """The reading side for one configured source (see read.py)."""
    from platforms.velog.read import make_reader

    return make_reader(*args, **kwargs)


def publisher(*args: Any, **kwargs: Any) -> Any:
    """The publishing side (see publish.py)."""
    from platforms.velog.publish import make_publisher

    return make_publisher(*args, **kwargs)
