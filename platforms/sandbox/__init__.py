"""The sandbox: a local imitation of Tistory, Naver Blog and Velog (login pages, editors, publish endpoints,
public pages) for tests and the demo; and the `sandbox` publish target, which is a real driver run against it."""

from __future__ import annotations

from typing import Any

from bot.core.records import PlatformSpec

name = "sandbox"
SPEC = PlatformSpec(
    name="sandbox", publishes=True, local=True,
    publish_defaults={"enabled": True, "daily_cap": 10, "min_interval_minutes": 0, "jitter_minutes": 0,
                      "driver": "tistory"},
)


def make_app(*args: Any, **kwargs: Any) -> Any:
    """The Flask app (see app.py)."""
    from platforms.sandbox.app import make_app as _make

    return _make(*args, **kwargs)


def publisher(*args: Any, **kwargs: Any) -> Any:
    """The `sandbox` publish target (see target.py)."""
    from platforms.sandbox.target import make_publisher

    return make_publisher(*args, **kwargs)
