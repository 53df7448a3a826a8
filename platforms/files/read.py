"""Local files as a source: Markdown with front matter, plain text, HTML and WordPress WXR exports."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from bot.core.errors import InputError
from bot.core.records import Post, normalize_text

name = "files"
KST = ZoneInfo("Asia/Seoul")
WXR_NS = {
    "content": "http://purl.org/rss/1.0/modules/content/",
    "wp": "http://wordpress.org/export/1.2/",
    "dc": "http://purl.org/dc/elements/1.1/",
}
FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
# `---` then `key: value` lines and no closing `---`: a front matter left open (not a thematic break)
UNCLOSED_FRONT_MATTER = re.compile(r"\A---[ \t]*\n\s*[A-Za-z_][\w-]*:(?:[ \t]|$)", re.M)


# --- decoding ------------------------------------------------------------------------------------------------


def decode(data: bytes, path: Path) -> str:
    """Text of a file: UTF-8 (with or without BOM), UTF-16 with BOM, or CP949/EUC-KR; else a clear error."""
    if not data.strip():
        raise InputError(f"{path}: empty file")
    if data.startswith(b"\xef\xbb\xbf"):
        return _strict(data[3:], "utf-8", path)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _strict(data, "utf-16", path)
    if b"\x00" in data[:8192]:
        raise InputError(f"{path}: binary file (not text)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp949")  # a superset of EUC-KR, what old Korean exports use
    except UnicodeDecodeError:
        text = None
    if text is not None and _mostly_text(text):
        return text
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and best.encoding and _mostly_text(str(best)) and best.percent_chaos < 0.2:
        return str(best)
    raise InputError(f"{path}: undecodable text (not UTF-8, UTF-16 or CP949/EUC-KR)")


def _strict(data: bytes, encoding: str, path: Path) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: invalid {encoding} at byte {exc.start}") from None


def _mostly_text(text: str) -> bool:
    bad = sum(1 for c in text if (ord(c) < 32 and c not in "\n\r\t") or 0xE000 <= ord(c) <= 0xF8FF)
    return bad <= max(1, len(text) // 200)


# --- field parsing -------------------------------------------------------------------------------------------


def parse_date(value: object, where: str) -> datetime | None:
    """A front-matter or export date as an aware datetime (KST when no zone is given)."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, time(0, 0))
    else:
        s = str(value).strip().replace("/", "-").replace(".", "-").rstrip("-")
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            raise InputError(f"{where}: date: cannot read {value!r} (use YYYY-MM-DD or ISO 8601)") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=KST)


def parse_tags(value: object, where: str) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [t.strip().lstrip("#") for t in re.split(r"[,#]", value) if t.strip()]
    if isinstance(value, list):
        return [str(t).strip() for t in value if str(t).strip()]
    raise InputError(f"{where}: tags: expected a list or a comma-separated string")


def html_to_markdown(html: str) -> str:
    """The one HTML → Markdown converter of every route (platforms/markdown.py), so an .html file and a crawled page
    with the same body give the same content hash."""
    from platforms.markdown import to_markdown

    return normalize_text(to_markdown(html))


# A saved post page of a platform that reads (Naver PostView, Tistory, velog.io) is parsed by that platform's reader:
# the editor's widgets (lazy images, link cards, code tables, videos) come out exactly as the crawl gives them.
SAVED_PAGE_MARKERS = (  # (platform, host of its og:url, markup only its editor writes)
    ("naver", "blog.naver.com", ("se-main-container", "se_component_wrap", 'id="postViewArea"')),
    ("tistory", "tistory.com", ("tt_article_useless_p_margin",)),
    ("velog", "velog.io", ("window.__APOLLO_STATE__=",)),
)
OG_URL = re.compile(r'<meta[^>]+property="og:url"[^>]+content="([^"]+)"')


def saved_platform_page(text: str, path: Path) -> Post | None:
    """The Post of a saved Naver / Tistory / Velog post page (as the crawl would store it), or None for other HTML."""
    import importlib
    from urllib.parse import urlsplit

    from bot.core.errors import ParseError
    from platforms.http import PostGone

    head = text[:300_000]
    m = OG_URL.search(head)
    url = m.group(1) if m else ""
    host = urlsplit(url).netloc.lower()
    for platform, site, markers in SAVED_PAGE_MARKERS:
        if not (host == site or host.endswith("." + site) or any(k in head for k in markers)):
            continue
        try:
            post = importlib.import_module(f"platforms.{platform}.read").parse_page(
                text, url or path.resolve().as_uri())
        except (ParseError, PostGone):
            continue  # not that platform's post page after all: the generic reading below
        return Post(platform=name, source_id=str(path.resolve()), title=post.title, body_markdown=post.body_markdown,
                    url=post.url, published_at=post.published_at, tags=post.tags, category=post.category,
                    origin=str(path))
    return None


# --- readers per kind ----------------------------------------------------------------------------------------


def read_markdown(text: str, path: Path) -> Post:
    meta: dict = {}
    body = text
    m = FRONT_MATTER.match(text)
    if m:
        try:
            meta = yaml.safe_load(m.group(1) or "") or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 2}" if mark else ""
            raise InputError(f"{path}{line}: malformed front matter: {getattr(exc, 'problem', exc)}") from None
        if not isinstance(meta, dict):
            raise InputError(f"{path}:2: front matter must be a mapping (title:, date:, tags:, category:)")
        body = text[m.end():]
    elif UNCLOSED_FRONT_MATTER.match(text):
        raise InputError(f"{path}:1: the front matter opened here is never closed; add a line `---` after its "
                         "last field (title:, date:, tags:, category:)")
    body = normalize_text(body)
    title = str(meta.get("title") or "").strip()
    if not title:
        h = re.match(r"#\s+(.+)\n?", body)
        if h:
            title, body = h.group(1).strip(), normalize_text(body[h.end():])
        else:
            title = path.stem
    return Post(platform=name, source_id=str(path.resolve()), title=title, body_markdown=body,
                published_at=parse_date(meta.get("date"), f"{path}"), tags=parse_tags(meta.get("tags"), f"{path}"),
                category=str(meta["category"]) if meta.get("category") else None, origin=str(path))


def read_text(text: str, path: Path) -> Post:
    text = normalize_text(text)
    first, _, rest = text.partition("\n")
    if len(first) <= 100 and rest.strip():
        title, body = first.strip().lstrip("# ").strip(), normalize_text(rest)
    else:
        title, body = path.stem, text
    return Post(platform=name, source_id=str(path.resolve()), title=title, body_markdown=body, origin=str(path))


def read_html(text: str, path: Path) -> Post:
    from selectolax.lexbor import LexborHTMLParser as HTMLParser

    saved = saved_platform_page(text, path)
    if saved is not None:
        return saved
    tree = HTMLParser(text)
    title_node = tree.css_first("meta[property='og:title']")
    title = (title_node.attributes.get("content") if title_node else None) or ""
    if not title:
        node = tree.css_first("h1") or tree.css_first("title")
        title = node.text(strip=True) if node else path.stem
    for node in tree.css("script, style, noscript, template"):
        node.decompose()
    root = tree.css_first("article") or tree.css_first("main") or tree.body
    if root is None:
        raise InputError(f"{path}: HTML without a body")
    h1 = root.css_first("h1")
    if h1 is not None and h1.text(strip=True) == title:
        h1.decompose()
    body = html_to_markdown(root.html or "")
    return Post(platform=name, source_id=str(path.resolve()), title=title.strip(), body_markdown=body,
                origin=str(path))


def read_wxr(text: str, path: Path) -> list[Post]:
    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else 0
        raise InputError(f"{path}:{line}: not a valid XML file ({exc.msg if hasattr(exc, 'msg') else exc})") from None
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise InputError(f"{path}: not a WordPress export (WXR): no <rss><channel>")
    posts = []
    for item in channel.findall("item"):
        kind = item.findtext("wp:post_type", default="post", namespaces=WXR_NS)
        status = item.findtext("wp:status", default="publish", namespaces=WXR_NS)
        if kind != "post" or status not in ("publish", "private"):
            continue
        post_id = item.findtext("wp:post_id", default="", namespaces=WXR_NS) or item.findtext("guid", "")
        html = item.findtext("content:encoded", default="", namespaces=WXR_NS)
        body = html_to_markdown(html.replace("\n\n", "<br><br>") if "<p" not in html else html)
        if not body:
            continue
        tags = [c.text.strip() for c in item.findall("category") if c.get("domain") == "post_tag" and c.text]
        cats = [c.text.strip() for c in item.findall("category") if c.get("domain") == "category" and c.text]
        date_s = item.findtext("wp:post_date", default="", namespaces=WXR_NS)
        posts.append(Post(
            platform=name, source_id=f"{path.resolve()}#{post_id}", title=(item.findtext("title") or "").strip(),
            body_markdown=body, url=item.findtext("link"),
            published_at=parse_date(date_s if date_s and not date_s.startswith("0000") else None, str(path)),
            tags=tags, category=cats[0] if cats else None, origin=str(path),
            status="live" if status == "publish" else "private",
        ))
    return posts


def read_file(path: Path, max_bytes: int = 2_000_000) -> list[Post]:
    """Every post in one file. Raises InputError naming the file (and line) when it cannot be used."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError(f"{path}: no such file or folder") from None
    if size > max_bytes:
        raise InputError(f"{path}: file too large ({size:,} bytes > ingest.max_file_bytes {max_bytes:,})")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    text = decode(data, path)
    ext = path.suffix.lower()
    if ext in (".md", ".markdown"):
        posts = [read_markdown(text, path)]
    elif ext == ".txt":
        posts = [read_text(text, path)]
    elif ext in (".html", ".htm"):
        posts = [read_html(text, path)]
    elif ext == ".xml":
        posts = read_wxr(text, path)
    else:
        raise InputError(f"{path}: unsupported file type {ext or '(none)'} (use .md, .txt, .html or a WXR .xml)")
    for p in posts:
        if not p.body_markdown.strip():
            raise InputError(f"{path}: the post has no body text")
    return posts


def find_files(paths: list[Path], extensions: list[str]) -> Iterator[Path]:
    """Files named directly, and files with a known extension inside named folders (sorted, hidden skipped)."""
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in extensions and not any(
                        part.startswith(".") for part in f.relative_to(p).parts):
                    yield f
        elif p.exists():
            yield p
        else:
            raise InputError(f"{p}: no such file or folder")
