"""Webhook notifications (generic JSON, Slack, Discord, Telegram) on published / failed / needs_login / review."""

from __future__ import annotations

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
        try:
            resp = httpx.post(url, json=payload(hook, event, text, data or {}), timeout=hook.timeout_s)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            detail = str(exc).replace(url, "***")  # the URL is a secret (it holds the token)
            logger.warning("{}: delivery of {!r} failed: {}: {}", name, event, type(exc).__name__, detail)
            continue
        if resp.status_code >= 400:
            logger.warning("{}: delivery of {!r} failed: HTTP {}", name, event, resp.status_code)
            continue
        delivered += 1
        logger.debug("{}: {!r} delivered", name, event)
    return delivered


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
