"""Webhook notifications (generic JSON, Slack, Discord, Telegram) on published / failed / needs_login / review;
retried with backoff, a lost one recorded under the data dir."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from loguru import logger

from bot.core.config import Config, Webhook
from bot.core.errors import BlogbotError
from bot.core.events import KINDS as EVENTS
from bot.core.events import Events

_ICONS = {"published": "✅", "failed": "❌", "needs_login": "🔑", "review": "📝"}


def payload(hook: Webhook, event: str, text: str, data: dict[str, Any]) -> dict[str, Any]:
    """The request body in the hook's format."""
    line = f"{_ICONS.get(event, '')} blogbot {event}: {text}".strip()
    if hook.format == "slack":
        return {"text": line}
    if hook.format == "discord":
        return {"content": line[:2000]}
    if hook.format == "telegram":
        return {"chat_id": hook.chat_id, "text": line[:4096], "disable_web_page_preview": True}
    return {"event": event, "text": text, "data": data, "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": "blogbot"}


def send(cfg: Config, event: str, text: str, data: dict[str, Any] | None = None) -> int:
    """Deliver one event to every webhook subscribed to it. Returns how many deliveries succeeded.

    Never raises: a missing secret, a timeout or an error status is logged (naming the hook by its secret's
    name, never by its URL, which is a secret) and the caller carries on."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; known: {', '.join(EVENTS)}")
    hooks = [h for h in cfg.webhooks if event in h.events]
    if not hooks:
        return 0
    import httpx

    delivered = 0
    for hook in hooks:
        name = f"webhook {hook.url_secret} ({hook.format})"
        try:
            url = cfg.secret(hook.url_secret)
        except BlogbotError as exc:
            logger.warning("{}: not sent: {}", name, exc)
            continue
        if not url:
            logger.warning("{}: not sent: the secret {} is not set (env BLOGBOT_{})", name, hook.url_secret,
                           hook.url_secret.upper())
            continue
        if hook.format == "telegram" and not hook.chat_id:
            logger.warning("{}: not sent: a telegram webhook needs `chat_id`", name)
            continue
        err, attempts = _deliver(httpx, url, hook, payload(hook, event, text, data or {}))
        if err:
            logger.warning("{}: delivery of {!r} failed after {} attempt(s): {}", name, event, attempts, err)
            _record_failure(cfg, name, event, text, err, attempts)
            continue
        delivered += 1
        logger.debug("{}: {!r} delivered", name, event)
    return delivered


# A delivery that may succeed later (network error, timeout, 429, 5xx) is tried ATTEMPTS times, waiting BACKOFF_S,
# then twice that, ... (at most MAX_BACKOFF_S) between tries; other answers (400, 401, 404) are final.
ATTEMPTS = 4
BACKOFF_S = 1.0
MAX_BACKOFF_S = 8.0
FAILED_LOG = "notifications_failed.jsonl"


def _deliver(httpx: Any, url: str, hook: Webhook, body: dict[str, Any]) -> tuple[str | None, int]:
    """POST with bounded retries and exponential backoff. Returns (None, attempts) or (the last error, attempts);
    the URL (a secret) never appears in the error."""
    err = None
    for attempt in range(1, ATTEMPTS + 1):
        try:
            resp = httpx.post(url, json=body, timeout=hook.timeout_s)
        except httpx.InvalidURL as exc:
            return f"{type(exc).__name__}: {str(exc).replace(url, '***')}", attempt
        except httpx.HTTPError as exc:
            err = f"{type(exc).__name__}: {str(exc).replace(url, '***')}"
        else:
            if resp.status_code < 400:
                return None, attempt
            err = f"HTTP {resp.status_code}"
            if resp.status_code != 429 and resp.status_code < 500:
                return err, attempt
        if attempt < ATTEMPTS:
            time.sleep(min(BACKOFF_S * 2 ** (attempt - 1), MAX_BACKOFF_S))  # named, bounded backoff
    return err, ATTEMPTS


def _record_failure(cfg: Config, name: str, event: str, text: str, err: str, attempts: int) -> None:
    """A lost notification, kept under <data_dir>/logs/notifications_failed.jsonl (no URL, no secret)."""
    try:
        path = cfg.data_path / "logs" / FAILED_LOG
        path.parent.mkdir(parents=True, exist_ok=True)
        line = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "hook": name, "event": event,
                "text": text[:500], "error": err, "attempts": attempts}
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    except OSError as exc:
        logger.warning("{}: the failed delivery could not be recorded: {}", name, exc)


def failed_deliveries(cfg: Config, limit: int = 20) -> list[dict[str, Any]]:
    """The latest notifications that could not be delivered (newest last)."""
    path = cfg.data_path / "logs" / FAILED_LOG
    if not path.exists():
        return []
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines()[-limit:] if ln.strip()]


def safe_send(cfg: Config, event: str, text: str, data: dict[str, Any] | None = None) -> int:
    """`send` for callers that must never fail because of notifications (the scheduler)."""
    try:
        return send(cfg, event, text, data)
    except Exception as exc:  # a bug in formatting must not stop a job
        logger.warning("notification {!r} not sent: {}: {}", event, type(exc).__name__, exc)
        return 0


def emitter(cfg: Config) -> Events:
    """The `events` callback the shell hands to every job: each announcement goes to the subscribed webhooks."""

    def emit(kind: str, text: str, **data: Any) -> None:
        safe_send(cfg, kind, text, data)

    return emit
