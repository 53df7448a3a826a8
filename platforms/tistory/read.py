"""Tistory reading: RSS / sitemap / paged lists for listing; the editor-made body and meta tags of each post page."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from html import escape as esc
from urllib.parse import unquote, urljoin, urlsplit
from zoneinfo import ZoneInfo

from selectolax.lexbor import LexborHTMLParser, LexborNode

from bot.core.config import Config, Source
from bot.core.errors import ParseError
from bot.core.records import Post, PostRef
from platforms.http import Fetched, PoliteClient, PostGone
from platforms.markdown import blocks_to_markdown, clean, escape_link_text, image_src, looks_truncated, video_link

name = "tistory"
MAX_LIST_PAGES = 2000

# Every selector the reader uses, with its fallbacks, in one table.
SELECTORS = {
    # the editor's body wrapper (class-contains: old posts carry only one of the two classes), then skin fallbacks
    "body": ["[class*='tt_article_useless_p_margin']", "[class*='contents_style']", ".entry-content",
             ".article-view", "div.article_view", ".article-content", "#article", "article.post"],
    "noise": ".another_category, .container_postbtn, [data-tistory-react-app], [class*='adfit'], "
             "[class*='kakao_ad'], ins.adsbygoogle, .revenue_unit_wrap, .article-footer, a.btn-toggle-moreless",
    "tags": "a[rel='tag']",
    "category": ".another_category h4 a",
}
XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")  # the text is decoded already; its declared encoding is moot
POST_PATH = re.compile(r"^/(?:m/)?(\d+|entry/[^/?#]+)/?$")
BLOCKED = [("비공개 글입니다", "private"), ("보호되어 있는 글", "private"), ("비공개된 글", "private"),
           ("accounts.kakao.com/login", "login"), ("tistory.com/auth/login", "login"), ("captcha", "captcha")]


def _meta(doc: LexborHTMLParser) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in doc.css("meta"):
        key = m.attributes.get("property") or m.attributes.get("name")
        if key and key not in out and m.attributes.get("content") is not None:
            out[key] = m.attributes.get("content") or ""
    return out


def _body_node(doc: LexborHTMLParser) -> LexborNode | None:
    for sel in SELECTORS["body"]:
        node = doc.css_first(sel)
        if node is not None:
            return node
    return None


def _swap(node: LexborNode, html: str) -> None:
    """Replace an editor widget by plain semantic HTML (or drop it when there is nothing to keep)."""
    if html:
        node.replace_with(LexborHTMLParser(f"<div>{html}</div>").body.child)
    else:
        node.decompose()


def _img(src: str, alt: str) -> str:
    return f'<p><img src="{esc(src)}" alt="{esc(alt)}"></p>'


def _normalize_body(node: LexborNode) -> str:
    """The editor body without ads and buttons; link cards, image blocks and file blocks as plain HTML."""
    for n in node.css(SELECTORS["noise"]):
        n.decompose()
    clean(node)
    for pre in node.css("pre[class]"):  # the editor writes the chosen language bare: <pre class="sql">
        tokens = (pre.attributes.get("class") or "").split()
        bare = len(tokens) == 1 and re.fullmatch(r"[a-z][a-z0-9+#]*", tokens[0])
        if bare and not pre.attributes.get("data-ke-language"):
            pre.attrs["data-ke-language"] = tokens[0]
    for fig in node.css("figure[data-ke-type='opengraph']"):
        url = fig.attributes.get("data-og-url") or ""
        title = fig.attributes.get("data-og-title") or url
        desc = (fig.attributes.get("data-og-description") or "").strip()
        card = f'<p><a href="{esc(url)}">{esc(title)}</a></p>' + (f"<p>{esc(desc)}</p>" if desc else "")
        _swap(fig, card if url else "")
    for fig in node.css("figure.imageblock, figure.imagegridblock"):
        parts = [_img(src, img.attributes.get("alt") or "") for img in fig.css("img") if (src := image_src(img))]
        cap = fig.css_first("figcaption")
        if cap is not None and cap.text(strip=True):
            parts.append(f"<p>{esc(cap.text(strip=True))}</p>")
        _swap(fig, "".join(parts))
    for fig in node.css("figure.fileblock"):
        a = fig.css_first("a")
        href = (a.attributes.get("href") or "") if a is not None else ""
        name = fig.css_first(".name, .filename")
        label = name.text(strip=True) if name is not None else fig.text(separator=" ", strip=True)
        _swap(fig, f'<p><a href="{esc(href)}">{esc(label or href)}</a></p>' if href else "")
    for fig in node.css("figure[data-ke-type='video'], figure[data-video-url]"):
        url = (fig.attributes.get("data-video-url") or "").strip()
        title = (fig.attributes.get("data-video-title") or "").strip() or "Video"
        iframe = fig.css_first("iframe")
        if url:
            _swap(fig, f'<p><a href="{esc(url)}">{esc(escape_link_text(title))}</a></p>')
        elif iframe is not None and video_link(iframe):
            iframe.attrs["title"] = title  # the converter links the embed itself
        else:
            fig.decompose()
    return node.inner_html or ""


def _blocked(text: str) -> str | None:
    low = text.lower()
    return next((outcome for marker, outcome in BLOCKED if marker.lower() in low), None)


def _entry_id(text: str, url: str) -> str | None:
    m = re.search(r'"entryId"\s*:\s*"?(\d+)', text) or re.search(r'article:txid" content="\d+_(\d+)"', text)
    if m:
        return m.group(1)
    m = POST_PATH.match(urlsplit(url).path)
    return unquote(m.group(1).removeprefix("entry/")) if m else None


def parse_page(html: str, url: str, tz: str = "Asia/Seoul") -> Post:
    """A Tistory post page (any skin) → Post. Raises PostGone / ParseError naming the URL."""
    if looks_truncated(html):
        raise ParseError(f"{url}: the page is truncated (no closing </html>); not stored")
    doc = LexborHTMLParser(html)
    node = _body_node(doc)
    if node is None:
        outcome = _blocked(html)
        if outcome in ("private", "deleted"):
            raise PostGone(url, outcome, "Tistory says so in the page")
        if outcome:
            raise ParseError(f"{url}: a {outcome} page was served instead of the post")
        raise ParseError(f"{url}: no post body container ({SELECTORS['body'][0]} or a skin fallback)")
    body = blocks_to_markdown([_normalize_body(node)])
    if not body.strip():
        raise ParseError(f"{url}: the post body container is empty")
    meta = _meta(doc)
    title = (meta.get("og:title") or meta.get("title") or "").strip()
    if not title:
        t = doc.css_first("title")
        title = t.text(strip=True).split(" :: ")[0] if t is not None else ""
    published = None
    raw = meta.get("article:published_time")
    if raw:
        try:
            published = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if published.tzinfo is None:
                published = published.replace(tzinfo=ZoneInfo(tz))
        except ValueError:
            published = None
    category = None
    m = re.search(r'"categoryLabel"\s*:\s*("(?:[^"\\]|\\.)*")', html)
    if m:
        category = json.loads(m.group(1)) or None
    elif (c := doc.css_first(SELECTORS["category"])) is not None:
        category = c.text(strip=True) or None
    tags = [a.text(strip=True) for a in doc.css(SELECTORS["tags"]) if a.text(strip=True)]
    canonical = meta.get("og:url") or url
    source_id = _entry_id(html, canonical) or _entry_id("", url)
    if not source_id:
        raise ParseError(f"{url}: no post id (entryId) in the page or the URL")
    return Post(platform="tistory", source_id=source_id, title=title, body_markdown=body, url=canonical,
                published_at=published, tags=list(dict.fromkeys(tags)), category=category, origin="crawl")


class TistoryReader:
    """One Tistory blog: RSS for what is new, then the sitemap or the paged lists for the whole archive."""

    name = "tistory"

    def __init__(self, source: Source, cfg: Config, client: PoliteClient | None = None) -> None:
        self.blog = str(source.blog)
        self.base = (source.base_url or f"https://{self.blog}.tistory.com").rstrip("/")
        self.tz = cfg.crawl.timezone
        self.client = client or PoliteClient(cfg.crawl)

    def _ref(self, href: str, published: datetime | None = None, hint: str | None = None) -> PostRef | None:
        url = urljoin(self.base + "/", href.strip())
        parts, prefix = urlsplit(url), urlsplit(self.base).path.rstrip("/")
        if parts.netloc != urlsplit(self.base).netloc or not parts.path.startswith(prefix + "/"):
            return None
        path = parts.path[len(prefix):]  # a base URL with a path (the local simulated blog) is a prefix
        m = POST_PATH.match(path)
        if not m:
            return None
        key = unquote(m.group(1).removeprefix("entry/"))
        path = path.replace("/m/", "/", 1) if path.startswith("/m/") else path
        return PostRef(source_id=key, url=f"{self.base}{path}", published_at=published, updated_hint=hint)

    def _rss(self) -> list[PostRef]:
        try:
            page = self.client.get(f"{self.base}/rss")
            root = ET.fromstring(XML_DECL.sub("", page.text, count=1))
        except PostGone:
            return []
        except ET.ParseError as exc:
            raise ParseError(f"{self.base}/rss: malformed RSS ({exc})") from None
        out = []
        for item in root.iter("item"):
            date = item.findtext("pubDate")
            try:
                pub = parsedate_to_datetime(date) if date else None
            except (TypeError, ValueError):
                pub = None
            ref = self._ref(item.findtext("link") or "", pub)
            if ref:
                out.append(ref)
        return out

    def _sitemap(self) -> list[PostRef]:
        try:
            page = self.client.get(f"{self.base}/sitemap.xml")
            root = ET.fromstring(XML_DECL.sub("", page.text, count=1))
        except (PostGone, ET.ParseError):
            return []
        ns = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
        out = []
        for u in root.iter(f"{ns}url"):
            ref = self._ref(u.findtext(f"{ns}loc") or "", hint=u.findtext(f"{ns}lastmod"))
            if ref:
                out.append(ref)
        return out

    def _pages(self) -> Iterator[PostRef]:
        seen: set[str] = set()
        for n in range(1, MAX_LIST_PAGES + 1):
            doc = LexborHTMLParser(self.client.get(f"{self.base}/", params={"page": n}).text)
            fresh = []
            for a in doc.css("a[href]"):
                ref = self._ref(a.attributes.get("href") or "")
                if ref and ref.url not in seen:
                    seen.add(ref.url)
                    fresh.append(ref)
            if not fresh:  # the page repeats what we have: past the last page
                return
            yield from fresh

    def list_posts(self, since: datetime | None = None, full: bool = False) -> Iterator[PostRef]:
        """Newest first when incremental (RSS, then the archive); the whole archive on a full crawl."""
        seen: set[str] = set()
        if not full:
            for ref in self._rss():
                if since and ref.published_at and ref.published_at < since:
                    return
                seen.add(ref.url)
                yield ref
        archive = self._sitemap()
        for ref in archive or self._pages():
            if ref.url not in seen:
                seen.add(ref.url)
                yield ref

    def fetch_conditional(self, ref: PostRef, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        page = self.client.get(ref.url, etag=etag, last_modified=last_modified)
        if page.not_modified:
            return Fetched(not_modified=True, etag=etag, last_modified=last_modified)
        return Fetched(post=parse_page(page.text, page.url, self.tz), etag=page.etag, last_modified=page.last_modified)

    def fetch(self, ref: PostRef) -> Post:
        return self.fetch_conditional(ref).post


def make_reader(source: Source, cfg: Config, client: PoliteClient | None = None) -> TistoryReader:
    return TistoryReader(source, cfg, client)


def read_url(url: str, cfg: Config, client: PoliteClient | None = None) -> Post:
    """Fetch and parse one post page (numeric or slug permalink)."""
    page = (client or PoliteClient(cfg.crawl)).get(url)
    return parse_page(page.text, page.url, cfg.crawl.timezone)
