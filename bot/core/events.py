"""What a job announces as it goes (a post published, a draft waiting for review, a login needed, a failure): the
job decides what to announce, the caller decides where it goes (webhooks in the CLI and the scheduler, a list in
tests). A job takes `events=` and calls it as `events(kind, text, **data)`."""

from __future__ import annotations

from typing import Any, Protocol

KINDS = ("published", "failed", "needs_login", "review")


class Events(Protocol):
    def __call__(self, kind: str, text: str, **data: Any) -> None: ...


def ignore(kind: str, text: str, **data: Any) -> None:
    """The default: announcements go nowhere (library use, tests that do not look at them)."""
