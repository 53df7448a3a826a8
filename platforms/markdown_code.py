"""What the HTML → Markdown converter recognises beyond plain HTML: a code block's language (every highlighter's
convention), code-highlighter tables (Color Scripter, highlight.js line numbers), embedded videos."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from selectolax.lexbor import LexborNode

# Hosts whose <iframe> is a video the author embedded: kept as a [title](url) link, every other iframe dropped.
VIDEO_HOSTS = ("youtube.com", "youtube-nocookie.com", "youtu.be", "vimeo.com", "rmcnmv.naver.com", "tv.naver.com",
               "nmv.naver.com", "tv.kakao.com", "play-tv.kakao.com", "v.daum.net", "tvpot.daum.net",
               "videofarm.daum.net", "dailymotion.com", "twitch.tv", "serviceapi.nmv.naver.com")
# Other embeds a blogger puts in a post on purpose (code playgrounds, maps, slides, music, posts): kept as links too.
EMBED_HOSTS = ("codepen.io", "jsfiddle.net", "codesandbox.io", "replit.com", "stackblitz.com", "maps.google.com",
               "map.kakao.com", "map.naver.com", "slideshare.net", "speakerdeck.com",
               "docs.google.com", "soundcloud.com", "open.spotify.com", "instagram.com", "twitter.com",
               "platform.twitter.com", "facebook.com", "tiktok.com", "melon.com", "figma.com", "notion.site")
# highlight.js language names, as Tistory's code block writes them bare on <pre class="...">.
HLJS_LANGUAGES = frozenset("""apache applescript arduino arm asciidoc aspectj autohotkey awk bash basic c clojure
cmake coffeescript cpp crystal cs csharp css d dart delphi diff django dockerfile dos elixir elm erlang fortran
fsharp go gradle graphql groovy haml handlebars haskell haxe http ini java javascript js json julia kotlin latex
less lisp livescript lua makefile markdown matlab nginx nix objectivec ocaml perl pgsql php plaintext powershell
prolog properties protobuf python r ruby rust scala scheme scss shell smalltalk sql swift tcl tex typescript ts
vbnet vbscript verilog vhdl vim wasm x86asm xml yaml zsh""".split())
LANG_CLASS = re.compile(r"(?:^|\s)(?:(?:language|lang)-|brush:\s*)([\w+#.\-]+)")  # brush: = SyntaxHighlighter


def code_language(el: LexborNode) -> str:
    """Language of a code block from data-ke-language / data-language / lang attributes or a language-x class."""
    for node in (el, el.css_first("code")):
        if node is None:
            continue
        for attr in ("data-ke-language", "data-language", "data-lang", "lang"):
            v = node.attributes.get(attr)
            if v and v.lower() not in ("text", "plain", "plaintext", "none"):
                return v.strip().lower()
        m = LANG_CLASS.search(node.attributes.get("class") or "")
        if m:
            return m.group(1).lower()
        # Tistory's editor (highlight.js) writes the bare language name: <pre class="sql">
        bare = [c for c in (node.attributes.get("class") or "").lower().split() if c in HLJS_LANGUAGES]
        if bare:
            return bare[0]
    return ""


def _on(host: str, hosts: tuple[str, ...]) -> bool:
    return any(host == h or host.endswith("." + h) for h in hosts)


def video_link(el: LexborNode) -> str:
    """`[title](url)` of an embedded video or embed <iframe> (YouTube, Naver, Kakao, Vimeo, CodePen, maps...);
    "" for any other iframe (ads, trackers, widgets)."""
    src = (el.attributes.get("src") or el.attributes.get("data-src") or "").strip()
    if src.startswith("//"):
        src = "https:" + src
    host = urlsplit(src).netloc.lower()
    if not src.startswith("http"):
        return ""
    title = (el.attributes.get("title") or el.attributes.get("data-video-title") or "").strip()
    if _on(host, VIDEO_HOSTS):
        return f"[{escape_link_text(title or 'Video')}]({src.replace(' ', '%20')})"
    if _on(host, EMBED_HOSTS) or (_on(host, ("google.com",)) and urlsplit(src).path.startswith("/maps")):
        return f"[{escape_link_text(title or host)}]({src.replace(' ', '%20')})"
    return ""


def gist_link(el: LexborNode) -> str:
    """`[gist](url)` of a GitHub gist embedded by a <script src=".../x.js">, else ""."""
    src = (el.attributes.get("src") or "").strip()
    if "gist.github.com/" not in src:
        return ""
    url = ("https:" + src if src.startswith("//") else src).removesuffix(".js")
    return f"[gist]({url})"


def escape_link_text(text: str) -> str:
    return text.replace("[", "\\[").replace("]", "\\]")


def _child_elements(node: LexborNode, tag: str | None = None) -> list[LexborNode]:
    return [c for c in node.iter() if tag is None or c.tag == tag]


def _line_text(node: LexborNode) -> str:
    return (node.text(deep=True) or "").replace("\u00a0", " ").rstrip("\r\n")


def highlighter_code(table: LexborNode) -> tuple[str, str] | None:
    """(code, language) of a code-highlighter table: Color Scripter (SE2, Tistory) or highlight.js line numbers."""
    cls = table.attributes.get("class") or ""
    if "colorscripter-code-table" in cls:
        tr = table.css_first("tr")
        tds = _child_elements(tr, "td") if tr is not None else []
        # cells: [line numbers], code (a box of one <div> per line, then the credit), ["cs" logo]
        code_i = next((i for i, td in enumerate(tds) if not re.fullmatch(r"[\d\s]*", td.text(deep=True) or "")), None)
        if code_i is None:
            return None
        box = next(iter(_child_elements(tds[code_i], "div")), None)
        lines = _child_elements(box, "div") if box is not None else []
        out: list[str] = []
        for d in lines:  # a line the viewer wrapped is a <div> indented by margin-left: it continues the line above
            tag_html = (d.html or "")[:400].split(">", 1)[0]  # the opening tag: style, or a saved copy's _foo
            if out and "margin-left" in tag_html:
                out[-1] = out[-1].rstrip() + " " + _line_text(d).lstrip()
            else:
                out.append(_line_text(d))
        code = "\n".join(out) if lines else _line_text(tds[code_i])
        # the last cell is Color Scripter's "cs" logo link, not a language: the table does not name the language
        return code, ""
    if "hljs-ln" in cls:
        return "\n".join(_line_text(td) for td in table.css("td.hljs-ln-code")), ""
    return None


def fence(code: str, lang: str) -> str:
    """A fenced code block; a longer fence when the code itself holds ```."""
    code = code.strip("\n")
    fence = "````" if "```" in code else "```"
    return f"{fence}{lang}\n{code}\n{fence}"
