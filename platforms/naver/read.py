"""Naver Blog reading: the mobile post-list API for listing, mobile PostView pages (SE ONE / SE3 / SE2) for posts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from selectolax.lexbor import LexborHTMLParser

from bot.core.config import Config, Source
from bot.core.errors import ParseError, TransientError
from bot.core.records import Post, PostRef
from platforms.http import Fetched, PoliteClient, PostGone
from platforms.markdown import blocks_to_markdown, looks_truncated
from platforms.naver.blocks import attr, se2_blocks, se3_blocks, se4_blocks

name = "naver"
MOBILE = "https://m.blog.naver.com"
PAGE_SIZE = 30

# Every selector the reader uses, with its fallbacks, in one table.
SELECTORS = {
    "se4_root": ".se-main-container",
    "se3_root": ".se_component_wrap.sect_dsc, .se_component_wrap.__se_component_area",
    "se2_root": "#postViewArea, #viewTypeSelector",
    "title": ".se-title-text, .se_title .se_textarea, h3.tit_h3, .pcol1.itemSubjectBoldfont",
    "date": ".blog_date, .se_date, .se_publishDate, ._postAddDate",
    "category": ".blog_category a, .tit_category a, .blog2_series a",
    "tags": ".post_tag a, .tag_area a, a[href*='PostTag']",
    "post_property": "#_post_property",
    "photo_property": "#_photo_view_property",
}
# Pages served instead of a post: (marker in the HTML, outcome).
BLOCKED = [
    ("nid.naver.com/nidlogin", "login"), ('id="frmNIDLogin"', "login"), ("captcha", "captcha"),
    ("비공개 글입니다", "private"), ("이웃에게만 공개", "private"), ("권한이 없", "private"),
    ("존재하지 않는 게시물", "deleted"), ("삭제되었거나 존재하지 않는", "deleted"),
]
DATE_TEXT = re.compile(r"(\d{4})\.\s*(\d{1,2})\.\s*(\d{1,2})\.?\s*(?:(\d{1,2}):(\d{2}))?")


def editor_version(doc: LexborHTMLParser, text: str) -> int:
    """4 = SmartEditor ONE (se-), 3 = SmartEditor 3 (se_), 2 = SmartEditor 2 (free HTML)."""
    v = attr(doc.css_first(SELECTORS["post_property"]), "editorversion")
    if v and v.strip().isdigit():
        return int(v)
    m = re.search(r"smartEditorVersion(?:&#034;|\")?\s*:\s*(\d)", text)
    if m:
        return int(m.group(1))
    if 'class="se-component' in text:
        return 4
    if 'class="se_component' in text:
        return 3
    return 2


def _blocked(text: str) -> str | None:
    low = text.lower()
    for marker, outcome in BLOCKED:
        if marker.lower() in low:
            return outcome
    return None


def _published(doc: LexborHTMLParser, tz: ZoneInfo) -> datetime | None:
    ms = attr(doc.css_first(SELECTORS["post_property"]), "addDate")
    if ms and ms.strip().isdigit():
        return datetime.fromtimestamp(int(ms) / 1000, tz).replace(microsecond=0)
    node = doc.css_first(SELECTORS["date"])
    m = DATE_TEXT.search(node.text()) if node is not None else None
    if m:
        y, mo, d, hh, mm = (int(x) if x else 0 for x in m.groups())
        return datetime(y, mo, d, hh, mm, tzinfo=tz)
    return None


def parse_page(html: str, url: str, tz: str = "Asia/Seoul") -> Post:
    """A mobile (or desktop iframe) PostView page → Post. Raises PostGone / ParseError with the URL."""
    if looks_truncated(html):
        raise ParseError(f"{url}: the page is truncated (no closing </html>); not stored")
    doc = LexborHTMLParser(html)
    version = editor_version(doc, html)
    root = doc.css_first(SELECTORS[f"se{min(max(version, 2), 4)}_root"])
    if root is None and version != 2:
        root = doc.css_first(SELECTORS["se2_root"])
    if root is None:
        outcome = _blocked(html)
        if outcome in ("deleted", "private"):
            raise PostGone(url, outcome, "Naver says so in the page")
        if outcome:
            raise ParseError(f"{url}: a {outcome} page was served instead of the post")
        raise ParseError(f"{url}: no post body container ({SELECTORS['se4_root']} / se3 / se2) in the page")
    og = {(attr(m, "property") or ""): (attr(m, "content") or "") for m in doc.css("meta[property^='og:']")}
    post_url = og.get("og:url") or (url if url.startswith("http") else "")
    blocks = {4: se4_blocks, 3: se3_blocks}.get(version, se2_blocks)(root, post_url)
    body = blocks_to_markdown(blocks)
    if not body.strip():
        raise ParseError(f"{url}: the post body container is empty")
    photo = doc.css_first(SELECTORS["photo_property"])
    title_node = doc.css_first(SELECTORS["title"])
    title = (attr(photo, "title") or og.get("og:title") or (title_node.text(strip=True) if title_node else "")).strip()
    q = parse_qs(urlsplit(url).query)
    log_no = attr(photo, "logNo") or (q.get("logNo") or [""])[0] or og.get("og:url", "").rstrip("/").rsplit("/", 1)[-1]
    if not log_no:
        raise ParseError(f"{url}: no logNo in the page or the URL")
    cat = doc.css_first(SELECTORS["category"])
    category = re.sub(r"^[-\s]+", "", cat.text(strip=True)) if cat is not None else None
    tags = [t.text(strip=True).lstrip("#") for t in doc.css(SELECTORS["tags"]) if t.text(strip=True)]
    return Post(platform="naver", source_id=str(log_no), title=title, body_markdown=body,
                url=og.get("og:url") or url, published_at=_published(doc, ZoneInfo(tz)),
                tags=list(dict.fromkeys(tags)), category=category or None, origin="crawl")


class NaverReader:
    """One Naver blog: list through the mobile JSON API, read each post's mobile PostView page."""

    name = "naver"

    def __init__(self, source: Source, cfg: Config, client: PoliteClient | None = None) -> None:
        self.blog_id = str(source.blog_id)
        self.base = (source.base_url or MOBILE).rstrip("/")
        self.tz = cfg.crawl.timezone
        self.client = client or PoliteClient(cfg.crawl)
        self.headers = {"Referer": f"{self.base}/PostList.naver?blogId={self.blog_id}&categoryNo=0&listStyle=style1"}

    def list_posts(self, since: datetime | None = None, full: bool = False) -> Iterator[PostRef]:
        """Every public post, newest first, 30 per API page."""
        tz = ZoneInfo(self.tz)
        page = 1
        while True:
            data = self.client.get(f"{self.base}/api/blogs/{self.blog_id}/post-list",
                                   params={"page": page, "itemCount": PAGE_SIZE, "categoryNo": 0},
                                   headers={**self.headers, "Accept": "application/json",
                                            "X-Requested-With": "XMLHttpRequest"}).json()
            result: Any = data.get("result") if isinstance(data, dict) else None
            if not isinstance(result, dict) or not data.get("isSuccess", True):
                raise TransientError(f"naver post-list page {page}: no result in the answer")
            items = result.get("items") or []
            for it in items:
                if any(it.get(k) for k in ("notOpen", "postBlocked", "buddyOpen", "bothBuddyOpen")):
                    continue
                added = datetime.fromtimestamp(int(it["addDate"]) / 1000, tz) if it.get("addDate") else None
                if since and added and added < since:
                    return
                log_no = str(it["logNo"])
                yield PostRef(source_id=log_no, title=it.get("titleWithInspectMessage"), published_at=added,
                              url=f"{self.base}/PostView.naver?blogId={self.blog_id}&logNo={log_no}")
            if len(items) < PAGE_SIZE:
                return
            page += 1

    def fetch_conditional(self, ref: PostRef, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        page = self.client.get(ref.url, headers=self.headers, etag=etag, last_modified=last_modified)
        if page.not_modified:
            return Fetched(not_modified=True, etag=etag, last_modified=last_modified)
        post = parse_page(page.text, page.url, self.tz)
        return Fetched(post=post, etag=page.etag, last_modified=page.last_modified)

    def fetch(self, ref: PostRef) -> Post:
        return self.fetch_conditional(ref).post


def make_reader(source: Source, cfg: Config, client: PoliteClient | None = None) -> NaverReader:
    return NaverReader(source, cfg, client)


def read_url(url: str, cfg: Config, client: PoliteClient | None = None) -> Post:
    """Fetch and parse one post from any of its URL forms (desktop, PostView, mobile)."""
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    segs = [s for s in parts.path.split("/") if s]
    blog_id = (q.get("blogId") or [segs[0] if segs else ""])[0]
    log_no = (q.get("logNo") or [segs[1] if len(segs) > 1 else ""])[0]
    if not blog_id or not log_no.isdigit():
        raise ParseError(f"{url}: not a Naver post URL (blog.naver.com/<blogId>/<logNo> or PostView?blogId=&logNo=)")
    reader = NaverReader(Source(platform="naver", blog_id=blog_id), cfg, client)
    return reader.fetch(PostRef(source_id=log_no, url=f"{MOBILE}/PostView.naver?blogId={blog_id}&logNo={log_no}"))
