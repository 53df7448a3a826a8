"""Tistory publishing through the new-post editor: title, body through TinyMCE's own API plus a real keystroke,
tags, category, visibility, the publish layer; the post is then read back from its public page."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from loguru import logger

from bot.core.config import Config, PlatformPublish
from bot.core.errors import AuthExpired, PublishRejected, TransientError
from bot.core.records import Draft, PublishResult
from platforms.publishkit import (
    Driver,
    body_saved,
    check_draft,
    checkpoint,
    found,
    http_get,
    matches,
    same_title,
    to_html,
)
from platforms.tistory import selectors as S

name = "tistory"


class TistoryPublisher(Driver):
    name = "tistory"
    selectors = S.SELECTORS
    login_markers = S.LOGIN_MARKERS

    def __init__(self, cfg: Config, ctx: Any, settings: PlatformPublish) -> None:
        super().__init__(cfg, ctx, settings, S.URLS)
        self.mode = self.pcfg.mode or "ui"

    def _on_dialog(self, dialog: Any) -> None:
        if S.RESTORE_DIALOG in dialog.message:
            logger.info("tistory: dismissing the 'continue writing' prompt")
            dialog.dismiss()
        else:
            dialog.accept()

    def _open_editor(self) -> Any:
        page = self.new_page()
        if getattr(self, "_dialog_page", None) is not page:
            page.on("dialog", self._on_dialog)
            self._dialog_page = page
        page.goto(self.urls["blog"] + S.NEWPOST, wait_until="domcontentloaded")
        self.check_login("open editor")
        return page

    def check_session(self) -> str | None:
        """Raise AuthExpired unless the saved session opens the editor."""
        self._open_editor()
        self.find("title")
        return None

    def publish(self, draft: Draft, dry_run: bool = False) -> PublishResult:
        check_draft(self.name, draft)
        if self.mode == "api":
            return self._publish_api(draft, dry_run)
        page = self._open_editor()
        self.find("title").fill(draft.title)
        frame = page.frame_locator(S.SELECTORS["editor_frame"])
        body = self.find("body", frame=frame)
        page.wait_for_function("() => window.tinymce && window.tinymce.get('editor-tistory')")
        page.evaluate("html => window.tinymce.get('editor-tistory').setContent(html)",
                      to_html(draft.body_markdown, draft.key))
        body.click()
        body.press("End")  # a real keystroke in the frame: the editor's state follows the DOM only on input events
        tags = self.find("tags")
        for tag in draft.tags:
            tags.fill(tag)
            tags.press("Enter")
        if draft.category:
            self._category(draft.category)
        self.find("publish_layer").click()
        self.find("visibility_private" if draft.visibility == "private" else "visibility_public").check()
        button = self.find("publish")
        if dry_run:
            logger.info("tistory: dry run: editor filled, not clicking {!r}", button.inner_text())
            return PublishResult(url="", verified=False)
        checkpoint("before_click")
        answer: dict[str, Any] = {}

        def capture(route: Any) -> None:  # keep the answer: the editor navigates away as soon as it arrives
            try:
                resp = route.fetch()
            except Exception as exc:
                answer["error"] = str(exc)
                route.abort()
                return
            answer["status"], answer["text"] = resp.status, resp.text()
            route.fulfill(response=resp)

        page.route("**" + S.POST_JSON, capture)
        try:
            with page.expect_request_finished(lambda r: r.url.split("?")[0].endswith(S.POST_JSON)):
                button.click()
        except Exception as exc:  # the request may have reached the server: the outcome is unknown
            raise TransientError(f"tistory: no answer to the publish request ({exc}); "
                                 "the next run looks for the post before publishing again") from None
        finally:
            page.unroute("**" + S.POST_JSON, capture)
        if "status" not in answer:
            raise TransientError(f"tistory: publish request failed ({answer.get('error')}); outcome unknown, "
                                 "reconciled next run")
        return self._answered(draft, answer["status"], answer["text"])

    def _answered(self, draft: Draft, status: int, text: str) -> PublishResult:
        """The answer of manage/post.json → the post read back, or the error that says what is known."""
        if status >= 500:
            raise TransientError(f"tistory: publish answered HTTP {status}; outcome unknown, reconciled next run")
        try:
            entry = json.loads(text)["entryUrl"]
        except (ValueError, KeyError, TypeError):
            if any(m in text for m in ("loginId", "accounts.kakao.com", "captcha")):
                raise AuthExpired(self.name, "the publish request met the login page") from None
            raise PublishRejected(f"tistory: publish answered HTTP {status} without entryUrl: {text[:200]}") from None
        remote_id = entry.rstrip("/").rsplit("/", 1)[-1]
        url = f"{self.urls['blog']}/{remote_id}"
        return self.verify(draft, url, remote_id)

    def _publish_api(self, draft: Draft, dry_run: bool) -> PublishResult:
        """The editor's own JSON endpoint with the context's cookies (body shaped as the real capture)."""
        self._owner_list(draft.title)  # raises AuthExpired on an expired session, before anything is sent
        body = {"id": "0", "title": draft.title, "content": to_html(draft.body_markdown, draft.key), "slogan": "",
                "visibility": 0 if draft.visibility == "private" else 20, "category": 0, "tag": ",".join(draft.tags),
                "published": 1, "password": "", "uselessMarginForEntry": 1, "cclCommercial": 0, "cclDerive": 0,
                "type": "post", "attachments": [], "recaptchaValue": "", "draftSequence": None,
                "totalWritingTimeMs": 0}
        if dry_run:
            logger.info("tistory: dry run: session valid, not posting manage/post.json")
            return PublishResult(url="", verified=False)
        checkpoint("before_click")
        try:
            resp = self.ctx.request.post(self.urls["blog"] + S.POST_JSON, data=json.dumps(body),
                                         headers={"content-type": "application/json"}, fail_on_status_code=False)
            status, text = resp.status, resp.text()
        except Exception as exc:
            raise TransientError(f"tistory: no answer from manage/post.json ({exc}); outcome unknown") from None
        return self._answered(draft, status, text)

    def _category(self, category: str) -> None:
        self.find("category_button").click()
        item = self.page.locator(S.SELECTORS["category_item"]).filter(has_text=category)
        if item.count() == 0:
            logger.warning("tistory: category {!r} not on the blog; publishing without a category", category)
            self.page.keyboard.press("Escape")
            return
        item.first.click()

    def verify(self, draft: Draft, url: str, remote_id: str | None) -> PublishResult:
        """Read the post back: public page for public posts, the owner's listing for private ones."""
        if draft.visibility == "private":
            found = self._owner_list(draft.title)
            if not any(str(it.get("id")) == str(remote_id) for it in found):
                raise PublishRejected(f"tistory: post {remote_id} not in the owner's post list after publishing")
            return PublishResult(url=url, remote_id=remote_id, verified=True)
        status, text = http_get(url, self.cfg)
        if status != 200:
            raise PublishRejected(f"tistory: {url} answers HTTP {status} after publishing (nothing published?)")
        title, body = self._parse_post(text)
        body_saved(draft, title, body)
        return PublishResult(url=url, remote_id=remote_id, verified=True)

    def _parse_post(self, text: str) -> tuple[str, str]:
        from selectolax.lexbor import LexborHTMLParser

        doc = LexborHTMLParser(text)
        meta = doc.css_first("meta[property='og:title']")
        node = doc.css_first(S.SELECTORS["post_body"])
        return ((meta.attributes.get("content") or "") if meta else ""), ((node.html or "") if node else "")

    def _owner_list(self, title: str) -> list[dict[str, Any]]:
        url = self.urls["blog"] + S.OWNER_LIST.format(q=quote(title))
        resp = self.ctx.request.get(url)
        try:
            return list(resp.json().get("items") or [])
        except Exception:
            if any(m in resp.text() for m in ("loginId", "accounts.kakao.com", "captcha")) or resp.status == 401:
                raise AuthExpired(self.name, "the owner's post list met the login page") from None
            raise TransientError(f"tistory: owner post list answered HTTP {resp.status}") from None

    def find_published(self, draft: Draft) -> PublishResult | None:
        """The post of this draft if it is on the blog (same title and its key: verified), else a post that may be it
        (same title and opening, no key: not verified), else None."""
        maybe = None
        for it in self._owner_list(draft.title):
            if not same_title(it.get("title", ""), draft.title):
                continue
            url = f"{self.urls['blog']}/{it['id']}"
            if it.get("visibility") != "PUBLIC":
                maybe = maybe or found("possible", url, str(it["id"]))  # private: title only, a person decides
                continue
            status, text = http_get(url, self.cfg)
            kind = matches(draft, *self._parse_post(text)) if status == 200 else None
            if kind == "key":
                return found(kind, url, str(it["id"]))
            maybe = maybe or found(kind, url, str(it["id"]))
        return maybe


def make_publisher(cfg: Config, browser_ctx: Any, settings: PlatformPublish) -> TistoryPublisher:
    return TistoryPublisher(cfg, browser_ctx, settings)
