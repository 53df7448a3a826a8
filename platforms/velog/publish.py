"""Velog publishing: the `writePost` GraphQL mutation sent with the browser session's cookies (a silent
`writePost: null` is a failure), or the /write page as the alternative; then read back through GraphQL."""

from __future__ import annotations

import json
from typing import Any

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
    http_post_json,
    matches,
    same_title,
    to_markdown,
)
from platforms.velog import selectors as S

name = "velog"


def url_slug(draft: Draft) -> str:
    """Always send a slug (a null one is silently dropped); the key makes it unique and findable."""
    from bot.core.records import slug

    return f"{slug(draft.title, 60)}-{(draft.key or str(draft.id)).removeprefix('bb-')[:8]}"


class VelogPublisher(Driver):
    name = "velog"
    account_required = False
    selectors = S.SELECTORS
    login_markers = S.LOGIN_MARKERS

    def __init__(self, cfg: Config, ctx: Any, settings: PlatformPublish) -> None:
        super().__init__(cfg, ctx, settings, S.URLS)
        self.mode = self.pcfg.mode or "api"
        site = self.urls["site"]
        self.headers = {"content-type": "application/json", "origin": site, "referer": site + "/"}

    def _gql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """A GraphQL call with the session's cookies (Set-Cookie refreshes land back in the context)."""
        resp = self.ctx.request.post(self.urls["graphql"], data=json.dumps({"query": query, "variables": variables}),
                                     headers=self.headers, fail_on_status_code=False)
        if resp.status >= 500:
            raise TransientError(f"velog: GraphQL answered HTTP {resp.status}")
        try:
            return resp.json().get("data") or {}
        except Exception:
            text = resp.text()
            if "captcha" in text or "password" in text:
                raise AuthExpired(self.name, "GraphQL answered with a login or captcha page") from None
            raise TransientError(f"velog: GraphQL answered HTTP {resp.status} without JSON") from None

    def whoami(self) -> str:
        user = self._gql(S.CURRENT_USER, {}).get("currentUser")
        if not user:
            raise AuthExpired(self.name, "currentUser is null")
        if self.account is None:
            self.account = str(user["username"])
        elif user.get("username") != self.account:
            logger.warning("velog: logged in as {} but publish.velog.account is {}", user.get("username"), self.account)
        return str(user["username"])

    def check_session(self) -> str | None:
        return self.whoami()

    def publish(self, draft: Draft, dry_run: bool = False) -> PublishResult:
        check_draft(self.name, draft)
        username = self.whoami()
        if self.mode == "ui":
            return self._publish_ui(draft, dry_run, username)
        variables = {"title": draft.title, "body": to_markdown(draft.body_markdown, draft.key), "tags": draft.tags,
                     "is_markdown": True, "is_temp": False, "is_private": draft.visibility == "private",
                     "url_slug": url_slug(draft), "thumbnail": None, "meta": {}, "series_id": None}
        if dry_run:
            logger.info("velog: dry run: session valid as {}, not sending writePost", username)
            return PublishResult(url="", verified=False)
        checkpoint("before_click")
        try:
            data = self._gql(S.WRITE_POST, variables)
        except TransientError as exc:
            raise TransientError(f"{exc}; outcome unknown, the next run looks for the post first") from None
        written = data.get("writePost")
        if not written:
            raise PublishRejected("velog: writePost answered null (velog's silent failure: nothing published)")
        return self.verify(draft, written["user"]["username"], written["url_slug"], str(written.get("id")))

    def _publish_ui(self, draft: Draft, dry_run: bool, username: str) -> PublishResult:
        page = self.new_page()
        page.goto(self.urls["write"], wait_until="domcontentloaded")
        self.check_login("open editor")
        self.find("title").fill(draft.title)
        self.find("body")
        page.evaluate("md => document.querySelector('.CodeMirror').CodeMirror.setValue(md)",
                      to_markdown(draft.body_markdown, draft.key))  # velog follows CodeMirror change events
        tags = self.find("tags")
        for tag in draft.tags:
            tags.fill(tag)
            tags.press("Enter")
        self.find("publish_open").click()
        self.find("visibility_private" if draft.visibility == "private" else "visibility_public").click()
        self.find("url_slug").fill(url_slug(draft))
        button = self.find("publish")
        if dry_run:
            return PublishResult(url="", verified=False)
        checkpoint("before_click")
        prefix = self.urls["post"].format(user=username, slug="")
        button.click()
        try:
            page.wait_for_url(lambda u: u.startswith(prefix))
        except Exception:
            raise TransientError("velog: the write page did not go to the new post; outcome unknown "
                                 f"(page: {self.artifacts('publish')})") from None
        from urllib.parse import unquote

        return self.verify(draft, username, unquote(page.url[len(prefix):]), None)

    def verify(self, draft: Draft, username: str, slug: str, remote_id: str | None) -> PublishResult:
        """Read the post back through GraphQL: without cookies for a public post (what readers see)."""
        variables = {"username": username, "url_slug": slug}
        if draft.visibility == "private":
            post = self._gql(S.READ_POST, variables).get("post")
        else:
            post = (http_post_json(self.urls["graphql"], self.cfg, {"query": S.READ_POST, "variables": variables},
                                   {"origin": self.urls["site"]}).get("data") or {}).get("post")
        url = self.urls["post"].format(user=username, slug=slug)
        if not post:
            raise PublishRejected(f"velog: {url} is not readable after publishing")
        if bool(post.get("is_private")) != (draft.visibility == "private"):
            raise PublishRejected(f"velog: {url} visibility is not {draft.visibility}")
        body_saved(draft, post.get("title", ""), post.get("body", ""))
        return PublishResult(url=url, remote_id=remote_id or str(post.get("id")), verified=True)

    def find_published(self, draft: Draft) -> PublishResult | None:
        """By the draft's slug first, then by title among the latest posts; confirmed by key or opening words."""
        candidates = [url_slug(draft)]
        if self.account is None:
            self.whoami()
        posts = self._gql(S.LIST_POSTS, {"username": self.account, "limit": 50, "cursor": None}).get("posts") or []
        candidates += [p["url_slug"] for p in posts if same_title(p.get("title", ""), draft.title)]
        maybe = None
        for slug in dict.fromkeys(candidates):
            post = self._gql(S.READ_POST, {"username": self.account, "url_slug": slug}).get("post")
            kind = matches(draft, post.get("title", ""), post.get("body", "")) if post else None
            if kind:
                hit = found(kind, self.urls["post"].format(user=self.account, slug=post["url_slug"]),
                            str(post.get("id")))
                if kind == "key":
                    return hit
                maybe = maybe or hit
        return maybe


def make_publisher(cfg: Config, browser_ctx: Any, settings: PlatformPublish) -> VelogPublisher:
    return VelogPublisher(cfg, browser_ctx, settings)
