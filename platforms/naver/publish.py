"""Naver Blog publishing through SmartEditor ONE: close the help panel and the draft-restore popup, title, body
pasted as HTML through the clipboard, then the publish layer (category, tags, visibility, confirm); read back."""

from __future__ import annotations

import re
from typing import Any

from loguru import logger

from bot.core.config import Config, PlatformPublish
from bot.core.errors import PublishRejected, TransientError
from bot.core.records import Draft, PublishResult
from platforms.naver import selectors as S
from platforms.publishkit import (
    Driver,
    body_saved,
    check_draft,
    checkpoint,
    found,
    http_get,
    matches,
    plain_text,
    probe,
    same_title,
    to_html,
)

name = "naver"

PASTE_JS = """async ({html, text}) => {
  await navigator.clipboard.write([new ClipboardItem({
    'text/html': new Blob([html], {type: 'text/html'}), 'text/plain': new Blob([text], {type: 'text/plain'})})]);
}"""
# Fallback when the system clipboard is not available: the same paste event, dispatched on the body paragraph.
PASTE_EVENT_JS = """([sel, html, text]) => {
  const el = document.querySelector(sel); const dt = new DataTransfer();
  dt.setData('text/html', html); dt.setData('text/plain', text);
  el.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
}"""
HAS_TEXT_JS = """([sel, want]) => Array.from(document.querySelectorAll(sel)).map(e => e.textContent).join('')
  .replace(/[^\\p{L}\\p{N}]+/gu, '').includes(want)"""


class NaverPublisher(Driver):
    name = "naver"
    selectors = S.SELECTORS
    login_markers = S.LOGIN_MARKERS

    def __init__(self, cfg: Config, ctx: Any, settings: PlatformPublish) -> None:
        super().__init__(cfg, ctx, settings, S.URLS)

    def check_session(self) -> str | None:
        """Raise AuthExpired unless the saved session opens the write page."""
        self.new_page().goto(self.urls["write"], wait_until="domcontentloaded")
        self.check_login("open editor")
        self.find("title", state="attached")
        return None

    def publish(self, draft: Draft, dry_run: bool = False) -> PublishResult:
        check_draft(self.name, draft)
        page = self.new_page()
        page.goto(self.urls["write"], wait_until="domcontentloaded")
        self.check_login("open editor")
        self.find("title", state="attached")
        for key in ("restore_cancel", "help_close"):  # overlays that intercept clicks until closed (popup on top)
            btn = self.present(key)
            if btn is not None:
                logger.info("naver: closing {}", key)
                btn.click()
        title = self.find("title")
        title.click()
        title.fill(draft.title)
        self._paste_body(draft)
        self.find("publish_open").click()
        if draft.category:
            self._category(draft.category)
        tags = self.find("tags")
        for tag in draft.tags:
            tags.fill(tag)
            tags.press("Enter")
        self.find("visibility_private" if draft.visibility == "private" else "visibility_public").click()
        button = self.find("publish")
        if dry_run:
            logger.info("naver: dry run: editor filled, not clicking publish")
            return PublishResult(url="", verified=False)
        checkpoint("before_click")
        pattern = re.compile(S.PUBLISHED_URL.format(blog=re.escape(self.account)))
        button.click()
        try:
            page.wait_for_url(pattern)
        except Exception:
            self.check_login("publish")
            raise TransientError("naver: the editor did not leave the write page after publishing; outcome "
                                 f"unknown, the next run looks for the post first (page: {self.artifacts('publish')})"
                                 ) from None
        m = pattern.search(page.url)
        no = next(g for g in m.groups() if g) if m else ""
        return self.verify(draft, no)

    def _paste_body(self, draft: Draft) -> None:
        html = to_html(draft.body_markdown, draft.key)
        text = plain_text(html)
        want = re.sub(r"[\W_]+", "", probe(draft))[:12]
        body = self.find("body")
        body.click()
        try:
            self.page.evaluate(PASTE_JS, {"html": html, "text": text})
            self.page.keyboard.press("ControlOrMeta+V")
            self.page.wait_for_function(HAS_TEXT_JS, arg=[S.SELECTORS["body"], want], timeout=5000)
            return
        except Exception as exc:
            logger.info("naver: clipboard paste did not reach the editor ({}); dispatching the paste event", exc)
        self.page.evaluate(PASTE_EVENT_JS, [S.SELECTORS["body"], html, text])
        try:
            self.page.wait_for_function(HAS_TEXT_JS, arg=[S.SELECTORS["body"], want], timeout=5000)
        except Exception:
            raise PublishRejected(f"naver: the pasted body did not reach the editor (page: {self.artifacts('body')})"
                                  ) from None

    def _category(self, category: str) -> None:
        self.find("category_button").click()
        item = self.page.locator(S.SELECTORS["category_item"]).filter(has_text=category)
        if item.count() == 0:
            logger.warning("naver: category {!r} not on the blog; publishing without one", category)
            self.find("category_button").click()
            return
        item.first.click()

    def _list(self) -> list[dict[str, Any]]:
        resp = self.ctx.request.get(self.urls["read_list"])
        try:
            return list((resp.json().get("result") or {}).get("items") or [])
        except Exception:
            raise TransientError(f"naver: post list answered HTTP {resp.status}") from None

    def _read(self, no: str) -> tuple[int, str, str]:
        from selectolax.lexbor import LexborHTMLParser

        status, text = http_get(self.urls["read_post"].format(no=no), self.cfg)
        doc = LexborHTMLParser(text)
        meta, node = doc.css_first(S.SELECTORS["post_title"]), doc.css_first(S.SELECTORS["post_body"])
        return status, ((meta.attributes.get("content") or "") if meta else ""), ((node.html or "") if node else "")

    def verify(self, draft: Draft, no: str) -> PublishResult:
        url = self.urls["post"].format(no=no)
        if draft.visibility == "private":
            if not any(str(it.get("logNo")) == no and same_title(it.get("titleWithInspectMessage", ""), draft.title)
                       for it in self._list()):
                raise PublishRejected(f"naver: post {no} not in the blog's post list after publishing")
            return PublishResult(url=url, remote_id=no, verified=True)
        status, title, body = self._read(no)
        if status != 200 or not body:
            raise PublishRejected(f"naver: {url} is not readable after publishing (HTTP {status})")
        body_saved(draft, title, body)
        return PublishResult(url=url, remote_id=no, verified=True)

    def find_published(self, draft: Draft) -> PublishResult | None:
        """The draft's post (its key: verified), else one that may be it (title and opening, no key), else None."""
        maybe = None
        for it in self._list():
            if not same_title(it.get("titleWithInspectMessage", ""), draft.title):
                continue
            no = str(it["logNo"])
            url = self.urls["post"].format(no=no)
            if it.get("notOpen"):
                maybe = maybe or found("possible", url, no)  # private: title only, a person decides
                continue
            status, title, body = self._read(no)
            kind = matches(draft, title, body) if status == 200 else None
            if kind == "key":
                return found(kind, url, no)
            maybe = maybe or found(kind, url, no)
        return maybe


def make_publisher(cfg: Config, browser_ctx: Any, settings: PlatformPublish) -> NaverPublisher:
    return NaverPublisher(cfg, browser_ctx, settings)
