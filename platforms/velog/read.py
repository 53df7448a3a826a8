"""Velog reading through GraphQL: `posts(username, cursor, limit)` for listing, `post(username, url_slug)` for the
author's raw Markdown."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from zoneinfo import ZoneInfo

from bot.core.config import Config, Source
from bot.core.errors import ParseError
from bot.core.records import Post, PostRef, normalize_text
from platforms.http import Fetched, PoliteClient, PostGone

name = "velog"
GRAPHQL = "https://v2.velog.io/graphql"
SITE = "https://velog.io"
PAGE_SIZE = 20  # the server's default; at most 100

POSTS_QUERY = """query Posts($cursor: ID, $username: String, $limit: Int) {
  posts(cursor: $cursor, username: $username, limit: $limit) {
    id title url_slug released_at updated_at tags is_private
  }
}"""
POST_QUERY = """query ReadPost($username: String, $url_slug: String) {
  post(username: $username, url_slug: $url_slug) {
    id title released_at updated_at tags body short_description is_markdown is_private is_temp url_slug
    user { id username }
    series { id name }
  }
}"""


def _answer(raw: str | dict, url: str, field: str) -> Any:
    """The `data.<field>` of a GraphQL answer; malformed JSON and error payloads raise ParseError naming the URL."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise ParseError(f"{url}: malformed GraphQL JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ParseError(f"{url}: GraphQL answer is not an object")
    if raw.get("errors"):
        msgs = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in raw["errors"])
        raise ParseError(f"{url}: GraphQL error: {msgs}")
    data = raw.get("data")
    if not isinstance(data, dict) or field not in data:
        raise ParseError(f"{url}: GraphQL answer has no data.{field}")
    return data[field]


def _when(value: str | None, tz: ZoneInfo) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=ZoneInfo("UTC"))).astimezone(tz)


def slug_of(url: str) -> tuple[str | None, str]:
    """(username, url_slug) of a post URL `https://velog.io/@user/slug`, the slug URI-decoded."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    user = next((p[1:] for p in parts if p.startswith("@")), None)
    return (unquote(user) if user else None), unquote(parts[-1]) if parts else ""


APOLLO = "window.__APOLLO_STATE__="


def _page_post(html: str, url: str) -> dict:
    """The `post` of a saved velog.io page: the author's Markdown from the page's Apollo state, else the rendered
    body (converted by the shared converter) with the meta tags."""
    at = html.find(APOLLO)
    if at >= 0:
        try:
            state, _ = json.JSONDecoder().raw_decode(html, at + len(APOLLO))
        except ValueError:
            state = {}
        for key, value in state.items() if isinstance(state, dict) else ():
            if key.startswith("Post:") and isinstance(value, dict) and value.get("body") is not None:
                post = dict(value)
                tags = post.get("tags")
                post["tags"] = tags.get("json") if isinstance(tags, dict) else tags
                user = state.get((post.get("user") or {}).get("id", "")) if isinstance(post.get("user"), dict) else None
                post["user"] = {"username": (user or {}).get("username") or slug_of(url)[0]}
                series = post.get("series")
                post["series"] = state.get(series.get("id")) if isinstance(series, dict) and "id" in series else None
                return post
    from selectolax.lexbor import LexborHTMLParser

    from platforms.markdown import to_markdown

    doc = LexborHTMLParser(html)
    body = doc.css_first("div.atom-one, [class*='atom-one']")
    if body is None:
        raise ParseError(f"{url}: a velog page without the post (no Apollo state, no rendered body)")
    meta = {m.attributes.get("property") or m.attributes.get("name"): m.attributes.get("content") or ""
            for m in doc.css("meta")}
    return {"title": meta.get("og:title") or "", "body": to_markdown(body), "url_slug": slug_of(url)[1],
            "tags": [a.text(strip=True) for a in doc.css("a[href^='/tags/']")]}


def parse_page(raw: str | dict, url: str, tz: str = "Asia/Seoul") -> Post:
    """A GraphQL `post(...)` answer (text or decoded), or a saved velog.io post page → Post with the author's raw
    Markdown body."""
    if isinstance(raw, str) and raw.lstrip()[:1] == "<":
        canonical = re.search(r'<link[^>]+rel="canonical"[^>]+href="([^"]+)"', raw)
        url = canonical.group(1) if canonical and not url.startswith("http") else url
        raw = {"data": {"post": _page_post(raw, url)}}
    post = _answer(raw, url, "post")
    if post is None:
        raise PostGone(url, "deleted", "GraphQL post is null")
    if post.get("is_private"):
        raise PostGone(url, "private")
    body = normalize_text(post.get("body") or "")
    if not body:
        raise ParseError(f"{url}: the post has an empty body")
    zone = ZoneInfo(tz)
    user = (post.get("user") or {}).get("username") or slug_of(url)[0]
    slug = post.get("url_slug") or slug_of(url)[1]
    series = post.get("series") or {}
    return Post(platform="velog", source_id=str(post.get("id") or slug), title=(post.get("title") or "").strip(),
                body_markdown=body, url=f"{SITE}/@{user}/{quote(slug)}",
                published_at=_when(post.get("released_at"), zone), tags=list(post.get("tags") or []),
                category=series.get("name") if isinstance(series, dict) else None, origin="crawl")


class VelogReader:
    """One Velog account through the public GraphQL API (no login)."""

    name = "velog"

    def __init__(self, source: Source, cfg: Config, client: PoliteClient | None = None) -> None:
        self.username = str(source.username).lstrip("@")
        base = (source.base_url or "").rstrip("/")
        self.endpoint = f"{base}/graphql" if base else GRAPHQL
        self.site = base or SITE
        self.tz = cfg.crawl.timezone
        self.client = client or PoliteClient(cfg.crawl)

    def list_posts(self, since: datetime | None = None, full: bool = False) -> Iterator[PostRef]:
        """Every public post, newest first, following the cursor (the id of the last post of a page)."""
        cursor = None
        zone = ZoneInfo(self.tz)
        while True:
            page = self.client.post_json(self.endpoint, {"query": POSTS_QUERY, "variables": {
                "username": self.username, "cursor": cursor, "limit": PAGE_SIZE}})
            posts = _answer(page.text, self.endpoint, "posts") or []
            for p in posts:
                released = _when(p.get("released_at"), zone)
                if since and released and released < since:
                    return
                if p.get("is_private"):
                    continue
                yield PostRef(source_id=str(p["id"]), url=f"{self.site}/@{self.username}/{quote(p['url_slug'])}",
                              title=p.get("title"), published_at=released, updated_hint=p.get("updated_at"))
            if len(posts) < PAGE_SIZE:
                return
            cursor = posts[-1]["id"]

    def fetch_conditional(self, ref: PostRef, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        _, slug = slug_of(ref.url)
        page = self.client.post_json(self.endpoint, {"query": POST_QUERY, "variables": {
            "username": self.username, "url_slug": slug}})
        return Fetched(post=parse_page(page.text, ref.url, self.tz))

    def fetch(self, ref: PostRef) -> Post:
        return self.fetch_conditional(ref).post


def make_reader(source: Source, cfg: Config, client: PoliteClient | None = None) -> VelogReader:
    return VelogReader(source, cfg, client)


def read_url(url: str, cfg: Config, client: PoliteClient | None = None) -> Post:
    """Fetch one post by its page URL `https://velog.io/@user/slug` through GraphQL."""
    user, slug = slug_of(url)
    if not user or not slug:
        raise ParseError(f"{url}: not a Velog post URL (https://velog.io/@user/slug)")
    reader = VelogReader(Source(platform="velog", username=user), cfg, client)
    return reader.fetch(PostRef(source_id=slug, url=url))
