"""The error hierarchy: the type of an error decides what the caller does (stop, retry, ask a person)."""

from __future__ import annotations

import errno
import os
import sqlite3


class BlogbotError(Exception):
    """Base of every error blogbot raises on purpose; the CLI prints it without a traceback."""

    exit_code = 1


class ConfigError(BlogbotError):
    """The configuration or the topics file is invalid; names the file, line and key path."""

    exit_code = 2


class InputError(BlogbotError):
    """A file or argument given by the user cannot be used; names the file or field."""

    exit_code = 2


class ModelError(BlogbotError):
    """The model or an adapter cannot be loaded or trained."""


class AuthExpired(BlogbotError):
    """A person must log in again (login page, expired session, captcha). Never retried automatically."""

    def __init__(self, platform: str, detail: str = "") -> None:
        self.platform = platform
        why = detail or "login page met"
        msg = f"{platform}: the saved login is missing or expired ({why}); run `blogbot login {platform}`"
        super().__init__(msg)


class SelectorNotFound(BlogbotError):
    """A page no longer has an element the driver needs: the UI changed. Not retried."""

    def __init__(self, platform: str, step: str, selector: str, artifacts: str = "") -> None:
        self.platform, self.step, self.selector, self.artifacts = platform, step, selector, artifacts
        extra = f"; page saved under {artifacts}" if artifacts else ""
        super().__init__(f"{platform}: step {step!r}: selector {selector!r} matched nothing{extra}")


class TransientError(BlogbotError):
    """Timeouts, 5xx, 429: worth a bounded retry with backoff."""


class PublishRejected(BlogbotError):
    """The platform answered but did not publish (validation error, silent no-op)."""


class ParseError(BlogbotError):
    """A fetched page does not hold a post body we can read."""


def disk_full(exc: BaseException) -> bool:
    """A full, read-only or failing disk under the data dir (OSError or SQLite's own words for it)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)
    low = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("disk" in low or "readonly" in low)


def describe(exc: BaseException, data_dir: os.PathLike | str) -> str:
    """A one-line error for the run log; a full disk or unwritable data dir says so plainly."""
    text = f"{type(exc).__name__}: {exc}"
    if disk_full(exc):
        return (f"the data dir {data_dir} is full or not writable ({text}); the job was abandoned and its "
                "changes rolled back; free some space, it runs again at its next time")
    return text
