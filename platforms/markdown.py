"""HTML → Markdown for blog bodies (shared by every reader): semantic HTML in, clean Markdown out.

A direct walk over selectolax (lexbor) nodes: headings, paragraphs, bold/italic/strike, quotes, nested lists, fenced
code with its language, tables (inline formatting kept in cells), links, images as ![alt](src), rules, video embeds
as [title](url), code-highlighter tables (Color Scripter) as fenced code. Text is escaped the way markdownify does
(`*`, `_`); whitespace collapses outside code. The one converter of every route: crawl and ingest alike, so the same
post hashes the same whichever way it came in. About 10x faster than markdownify over BeautifulSoup (bench/parse.py).
"""

from __future__ import annotations

import re
from html import escape as html_escape

from selectolax.lexbor import LexborHTMLParser, LexborNode

from bot.core.records import normalize_text
from platforms.markdown_code import code_language, escape_link_text, fence, gist_link, highlighter_code, video_link

# Elements that never carry the author's text: scripts, editor chrome, ads, share/like widgets.
NOISE = ("script", "style", "noscript", "button", "form", "input", "select", "textarea", "template",
         "object", "embed", "svg")
BLOCK = {"iframe", "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "pre", "table", "hr",
         "figure", "section", "article", "header", "footer", "main", "aside", "nav", "center", "dl", "figcaption",
         "address", "li", "tbody", "thead", "tr"}
SKIP = {"-comment", "head", "title", "meta", "link", *NOISE}
ZERO_WIDTH = re.compile(r"^[\s\u200b\u200c\u200d\ufeff\u00a0]*$")
EMPTY_LINE = re.compile(r"#{1,6}\s*|(?:\*\*\s*)+")  # an empty heading, bold markers around nothing
HARD_BREAK_BEFORE_BLANK = re.compile(r"[ \t]+\n(?=\n)")
EMPTY_MARKS = re.compile(r"(?<=[^\s*\\])\*\*\*\*(?=[^\s*])")
INVISIBLE = " \t\r\n\f\u200b\u200c\u200d\ufeff\u00a0"
WS = re.compile(r"[ \t\r\n\f]+")
ESCAPE = re.compile(r"([*_])")
# The invisible mark blogbot leaves in what it publishes (platforms/publishkit.py key_marker): kept as a comment line,
# so a crawled copy of the bot's own post is known as such whatever the ledger remembers (bot/core/posts.py).
BOT_MARK = re.compile(r"<!--\s*(blogbot:[^\s<>]+)\s*-->")
RULE_LIKE = re.compile(r"^([-=_*])(?=(?:\s*\1){2,}\s*$)")  # a paragraph of ---- would read as a rule or heading


def image_src(el: LexborNode) -> str:
    """The real image URL of an <img>: lazy-load attributes first (Naver `data-lazy-src`), then src."""
    for attr in ("data-lazy-src", "data-src", "data-original", "data-url", "src"):
        v = el.attributes.get(attr) or ""
        if v and not v.startswith("data:"):
            return v.strip()
    return ""


def clean(root: LexborNode) -> LexborNode:
    """Drop noise elements in place (and every iframe that is not an embedded video)."""
    for n in root.css("script[src*='gist.github.com']"):  # an embedded gist: a link to it, before scripts go
        n.replace_with(LexborHTMLParser(f"<p><a href=\"{html_escape(gist_link(n)[7:-1])}\">gist</a></p>").body.child)
    for sel in NOISE:
        for n in root.css(sel):
            n.decompose()
    for n in root.css("iframe"):
        if not video_link(n):
            n.decompose()
    return root


def _wrap(inner: str, mark: str) -> str:
    core = inner.strip(INVISIBLE)
    if not core:  # nothing visible inside: no `****`, only the space it may have held
        return " " if any(c.isspace() for c in inner) else ""
    lead, trail = inner[: len(inner) - len(inner.lstrip(INVISIBLE))], inner[len(inner.rstrip(INVISIBLE)):]
    return f"{lead}{mark}{core}{mark}{trail}"


def _inline(node: LexborNode) -> str:
    """Inline Markdown of a node's children."""
    return "".join(_inline_node(c) for c in node.iter(include_text=True))


def bot_mark(c: LexborNode) -> str:
    """`<!-- blogbot:KEY -->` of a comment node that is blogbot's mark, else ""."""
    m = BOT_MARK.fullmatch((c.html or "").strip())
    return f"<!-- {m.group(1)} -->" if m else ""


def _inline_node(c: LexborNode) -> str:
    """Inline Markdown of one node (itself included)."""
    tag = c.tag
    if tag == "-comment":
        mark = bot_mark(c)
        return f"\n\n{mark}\n\n" if mark else ""
    if tag == "script":
        return gist_link(c)
    if tag == "-text":
        text = c.text_content or ""
        if "\n" in text or "\t" in text or "\r" in text or "\f" in text or "  " in text:
            text = WS.sub(" ", text)
        return ESCAPE.sub(r"\\\1", text) if "*" in text or "_" in text else text
    if tag in SKIP:
        return ""
    if tag == "br":
        return "  \n"
    if tag in ("strong", "b"):
        return _wrap(_inline(c), "**")
    if tag in ("em", "i"):
        return _wrap(_inline(c), "*")
    if tag in ("del", "s", "strike"):
        return _wrap(_inline(c), "~~")
    if tag in ("code", "kbd", "samp"):
        text = c.text(deep=True)
        return f"`{text}`" if text.strip() else text
    if tag == "a":
        text, href = _inline(c), (c.attributes.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:")):
            return text
        return f"[{text.strip()}]({href.replace(' ', '%20')})" if text.strip() else ""
    if tag == "img":
        src = image_src(c)
        if not src:
            return ""
        alt = (c.attributes.get("alt") or "").replace("]", "\\]").strip()
        return f"![{alt}]({src.replace(' ', '%20').replace(')', '%29')})"
    if tag == "hr":
        return "\n\n---\n\n"
    if tag == "iframe":
        return video_link(c)
    if tag == "video":  # an uploaded video file: a link to it
        src = (c.attributes.get("src") or "").strip()
        if not src:
            source = c.css_first("source[src]")
            src = (source.attributes.get("src") or "").strip() if source is not None else ""
        title = (c.attributes.get("title") or "").strip() or "Video"
        return f"[{escape_link_text(title)}]({src.replace(' ', '%20')})" if src.startswith(("http", "//")) else ""
    return _inline(c)


def _cell(node: LexborNode) -> str:
    return WS.sub(" ", _inline(node).replace("  \n", " ")).strip().replace("|", "\\|")


def _table(node: LexborNode) -> str:
    hl = highlighter_code(node)
    if hl is not None:
        return fence(*hl) if hl[0].strip() else ""
    rows = [[_cell(td) for td in tr.iter() if td.tag in ("td", "th")] for tr in node.css("tr")]
    rows = [r for r in rows if r]
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "| " + " | ".join(["---"] * width) + " |"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]])


def _list(node: LexborNode, ordered: bool) -> str:
    items, n = [], int(node.attributes.get("start") or 1) if ordered else 1
    for li in node.iter():
        if li.tag != "li":
            continue
        marker = f"{n}. " if ordered else "- "
        parts = _blocks(li)
        body = "".join((("\n" if re.match(r"(?:[-*]|\d+\.) ", b) else "\n\n") if i else "") + b
                       for i, b in enumerate(parts))  # a nested list stays tight under its item
        lines = body.split("\n")
        pad = " " * len(marker)
        items.append(marker + lines[0] + "".join("\n" + (pad + ln if ln else "") for ln in lines[1:]))
        n += 1
    return "\n".join(items)


def _blocks(node: LexborNode) -> list[str]:
    """The Markdown blocks of a container: runs of inline content become paragraphs."""
    blocks: list[str] = []
    run: list[str] = []

    def flush() -> None:
        text = "".join(run).strip()
        run.clear()
        if text:
            blocks.append(text)

    for c in node.iter(include_text=True):
        tag = c.tag
        if tag == "-comment" and bot_mark(c):
            flush()
            blocks.append(bot_mark(c))
            continue
        if tag == "script" and gist_link(c):
            flush()
            blocks.append(gist_link(c))
            continue
        if tag in SKIP:
            continue
        if tag not in BLOCK:
            run.append(_inline_node(c))
            continue
        flush()
        if tag == "p":
            text = _inline(c).strip()
            if text:
                blocks.append(RULE_LIKE.sub(r"\\\1", text))
        elif tag[0] == "h" and tag[1:].isdigit():
            text = WS.sub(" ", _inline(c).replace("  \n", " ")).strip()
            if text:
                blocks.append("#" * int(tag[1]) + " " + text)
        elif tag == "blockquote":
            inner = "\n\n".join(_blocks(c))
            if inner.strip():
                blocks.append("\n".join(("> " + ln) if ln else ">" for ln in inner.split("\n")))
        elif tag in ("ul", "ol"):
            text = _list(c, tag == "ol")
            if text:
                blocks.append(text)
        elif tag == "pre":
            table = c.css_first("table")
            hl = highlighter_code(table) if table is not None else None
            blocks.append(fence(hl[0] if hl else c.text(deep=True), code_language(c) or (hl[1] if hl else "")))
        elif tag == "iframe":
            link = video_link(c)
            if link:
                blocks.append(link)
        elif tag == "table":
            text = _table(c)
            if text:
                blocks.append(text)
        elif tag == "hr":
            blocks.append("---")
        else:
            blocks.extend(_blocks(c))
    flush()
    return blocks


def tidy(md: str) -> str:
    """Normalize Markdown text: drop blank-only lines of zero-width characters, empty headings, runs of blank lines."""
    lines = []
    in_code = False
    for ln in md.replace("\r\n", "\n").split("\n"):
        if "`" in ln or "~" in ln:
            if ln.lstrip().startswith(("```", "~~~")):
                in_code = not in_code
        if not in_code:
            if "****" in ln:
                ln = EMPTY_MARKS.sub("", ln)  # `**a****b**` → `**ab**`: adjacent bold runs
            if len(ln) < 40 and (ZERO_WIDTH.match(ln) or EMPTY_LINE.fullmatch(ln)):
                ln = ""  # longer lines hold text: no need to look
        lines.append(ln)
    text = "\n".join(lines)
    text = HARD_BREAK_BEFORE_BLANK.sub("\n", text)  # a hard break right before a blank line is no break
    return normalize_text(text)


def to_markdown(html: str | LexborNode) -> str:
    """Semantic HTML (a fragment or a node) → normalized Markdown."""
    node = html if isinstance(html, LexborNode) else (LexborHTMLParser(html).body)
    return tidy("\n\n".join(_blocks(node))) if node is not None else ""


class Raw(str):
    """A block that is already Markdown (a formula, a code block): passed through untouched."""


def blocks_to_markdown(blocks: list[str]) -> str:
    """Join HTML blocks and Raw Markdown blocks into one document, parsing the HTML in a single pass."""
    raws: list[str] = []
    parts = []
    for b in blocks:
        if isinstance(b, Raw):
            parts.append(f"<p>BLOGBOTRAW{len(raws)}X</p>")
            raws.append(str(b))
        else:
            parts.append(b)
    body = LexborHTMLParser("\n".join(parts)).body
    md = "\n\n".join(_blocks(body)) if body is not None else ""
    if raws:
        md = re.sub(r"BLOGBOTRAW(\d+)X", lambda m: raws[int(m.group(1))], md)
    return tidy(md)  # once, over the whole document


def looks_truncated(html: str) -> bool:
    """A full HTML document that never closes: the transfer was cut (real post pages always end in </html>)."""
    head = html[:2000].lower()
    tail = html[-4000:].lower()
    return ("<html" in head or "<!doctype" in head) and "</html>" not in tail and "</body>" not in tail
