"""What the three publish drivers share: Markdown → HTML with the draft's key, matching a post to a draft,
waiting for a selector of the table (SelectorNotFound + artifacts), public read-back, crash checkpoints."""

from __future__ import annotations

import html as htmllib
import os
import re
import signal
from typing import Any

from loguru import logger

from bot.core.config import Config, PlatformPublish
from bot.core.errors import AuthExpired, PublishRejected, SelectorNotFound, TransientError
from bot.core.records import Draft, PublishResult, normalize_text

PROBE_CHARS = 40


def checkpoint(name: str) -> None:
    """A named point around the publish action where tests inject a crash.

    BLOGBOT_CRASH_AT=<name> kills this process there (SIGKILL, no cleanup, like a power cut);
    BLOGBOT_CRASH_MODE=raise raises SimulatedCrash instead (in-process tests)."""
    if os.environ.get("BLOGBOT_CRASH_AT") != name:
        return
    if os.environ.get("BLOGBOT_CRASH_MODE") == "raise":
        raise SimulatedCrash(name)
    logger.warning("crash injected at {}", name)
    os.kill(os.getpid(), signal.SIGKILL)


class SimulatedCrash(BaseException):
    """Stands for a killed process in in-process tests: nothing catches it except the test."""


def key_marker(key: str) -> str:
    return f"blogbot:{key}"


def to_html(markdown: str, key: str = "") -> str:
    """The draft's Markdown as HTML (Tistory, Naver), with the key as an invisible comment at the end."""
    from markdown_it import MarkdownIt

    out = MarkdownIt("commonmark", {"html": False}).enable("table").enable("strikethrough").render(markdown)
    return out + (f"<!-- {key_marker(key)} -->" if key else "")


def to_markdown(markdown: str, key: str = "") -> str:
    """The Markdown Velog takes, with the key as an HTML comment (invisible once rendered)."""
    return markdown.rstrip() + (f"\n\n<!-- {key_marker(key)} -->\n" if key else "\n")


def plain_text(html_or_md: str) -> str:
    text = re.sub(r"<!--.*?-->", " ", html_or_md, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    text = htmllib.unescape(text)
    text = re.sub(r"[#*_`>\[\]()!|~-]", " ", text)
    return re.sub(r"\s+", " ", normalize_text(text)).strip()


def probe(draft: Draft) -> str:
    """The first words of the draft body as plain text: found in the live post when the body really saved."""
    return plain_text(to_html(draft.body_markdown))[:PROBE_CHARS]


def check_draft(platform: str, draft: Draft) -> None:
    if not draft.title.strip() or not plain_text(draft.body_markdown):
        raise PublishRejected(f"{platform}: draft {draft.id} has an empty title or body; not publishing it")


def same_title(a: str, b: str) -> bool:
    return re.sub(r"\s+", " ", normalize_text(a or "")).strip() == re.sub(r"\s+", " ", normalize_text(b or "")).strip()


KEY_RE = re.compile(r"blogbot:([A-Za-z0-9_.:-]+)")


def matches(draft: Draft, title: str, body: str) -> str | None:
    """Is this live post the draft? "key": same title and the draft's own key in the body (it is the draft's post);
    "possible": same title and opening words but no blogbot key at all (a person must decide); None otherwise —
    a post carrying another draft's key never matches, whatever its title and opening."""
    if not same_title(draft.title, title):
        return None
    keys = {k.rstrip("-.:") for k in KEY_RE.findall(body or "")}
    if keys:
        return "key" if draft.key and draft.key in keys else None
    p = probe(draft)
    return "possible" if p and p in plain_text(body) else None


def found(kind: str | None, url: str, remote_id: str | None) -> PublishResult | None:
    """What find_published returns for a match: verified only when the post carries the draft's key."""
    return PublishResult(url=url, remote_id=remote_id, verified=kind == "key") if kind else None


def body_saved(draft: Draft, title: str, body: str) -> None:
    """Raise PublishRejected unless the live post has the draft's title and body."""
    if not same_title(draft.title, title):
        raise PublishRejected(f"live post has title {title!r}, expected {draft.title!r}")
    if probe(draft) not in plain_text(body):
        raise PublishRejected("live post body is empty or not the draft's body (the editor did not save it)")


def http_get(url: str, cfg: Config, accept: str = "text/html") -> tuple[int, str]:
    """A cookieless GET (what any reader sees): status and text. Network errors are TransientError."""
    import httpx

    try:
        r = httpx.get(url, timeout=cfg.browser.timeout_ms / 1000, follow_redirects=True,
                      headers={"accept": accept, "accept-language": "ko-KR,ko;q=0.9",
                               "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120 Safari/537.36"})
    except httpx.HTTPError as exc:
        raise TransientError(f"GET {url}: {exc}") from None
    return r.status_code, r.text


def http_post_json(url: str, cfg: Config, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    """A cookieless JSON POST (public GraphQL reads); returns the decoded JSON. Network errors are TransientError."""
    import httpx

    try:
        r = httpx.post(url, json=payload, timeout=cfg.browser.timeout_ms / 1000, headers=headers or {})
        r.raise_for_status()
        return r.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise TransientError(f"POST {url}: {exc}") from None


def fill_urls(table: dict[str, str], overrides: dict[str, str], **kw: str) -> dict[str, str]:
    """The driver's URL table with the settings' overrides (publish.<platform>.urls), filled in."""
    return {k: v.format(**kw) for k, v in {**table, **overrides}.items()}


class Driver:
    """Base of the three publishers: the table lookups, waits, login detection and failure artifacts."""

    name = ""
    account_required = True  # False: the driver learns the account from the session (Velog's currentUser)
    selectors: dict[str, str] = {}
    login_markers: tuple[str, ...] = ()

    def __init__(self, cfg: Config, ctx: Any, settings: PlatformPublish, urls: dict[str, str]) -> None:
        """`settings`: publish.<platform> (account, mode, URL overrides ...); `urls`: the real site's URL table."""
        self.cfg, self.ctx, self.pcfg = cfg, ctx, settings
        self.account = settings.account
        if not self.account and self.account_required:
            from bot.core.errors import ConfigError

            raise ConfigError(f"publish.{self.name}.account: needed to publish to {self.name}")
        self.urls = fill_urls(urls, settings.urls, blog=self.account or "")
        self.page: Any = None

    # -- pages and steps --------------------------------------------------------------------------------------
    def new_page(self) -> Any:
        from platforms.browser import new_chunk

        if self.page is None or self.page.is_closed():
            self.page = self.ctx.new_page()
        new_chunk(self.ctx)
        return self.page

    def artifacts(self, step: str) -> str:
        from platforms.browser import save_artifacts

        if self.page is None or self.page.is_closed():
            return ""
        return save_artifacts(self.cfg, self.name, step, self.page)

    def find(self, step: str, key: str | None = None, frame: Any = None, state: str = "visible") -> Any:
        """The one element of selector `key` (default: `step`) of the table, waited for; else SelectorNotFound."""
        from playwright.sync_api import Error as PwError

        sel = self.selectors[key or step]
        loc = (frame or self.page).locator(sel)
        try:
            loc.first.wait_for(state=state)
        except PwError:
            self.check_login(step)
            raise SelectorNotFound(self.name, step, sel, self.artifacts(step)) from None
        return loc.first

    def present(self, key: str, timeout_ms: int | None = None, frame: Any = None) -> Any | None:
        """An optional element (popups): the locator if it shows up within browser.overlay_wait_ms, else None."""
        from playwright.sync_api import Error as PwError

        loc = (frame or self.page).locator(self.selectors[key]).first
        wait = self.cfg.browser.overlay_wait_ms if timeout_ms is None else timeout_ms
        if wait <= 0:  # Playwright reads 0 as "no timeout"
            return loc if loc.is_visible() else None
        try:
            loc.wait_for(state="visible", timeout=wait)
        except PwError:
            return None
        return loc

    def is_login_page(self) -> bool:
        url = self.page.url
        if any(m in url for m in self.login_markers):
            return True
        sel = self.selectors.get("login_or_captcha")
        return bool(sel) and self.page.locator(sel).count() > 0

    def check_login(self, step: str) -> None:
        if self.page is not None and not self.page.is_closed() and self.is_login_page():
            captcha = self.selectors.get("captcha")
            what = "captcha shown" if captcha and self.page.locator(captcha).count() else "login page shown"
            raise AuthExpired(self.name, f"{what} at step {step}")
