"""Naver post bodies of the three editor generations (SE ONE `se-`, SE3 `se_`, SE2 free HTML) → semantic HTML blocks."""

from __future__ import annotations

import html as htmlmod
import json
import re
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from platforms.markdown import Raw, image_src, inline_markdown


def attr(node: LexborNode | None, key: str) -> str | None:
    if node is None:
        return None
    for k, v in node.attributes.items():
        if k.lower() == key.lower():
            return v
    return None


def _img(src: str, alt: str) -> str:
    return f'<p><img src="{htmlmod.escape(src)}" alt="{htmlmod.escape(alt)}"></p>'


def _link(href: str, text: str) -> str:
    return f'<p><a href="{htmlmod.escape(href)}">{htmlmod.escape(text)}</a></p>'


def naver_image(src: str) -> str:
    """Naver thumbnails: one stable rendition (type=w800) instead of blurred/lazy sizes."""
    parts = urlsplit(src)
    if parts.netloc in ("mblogthumb-phinf.pstatic.net", "postfiles.pstatic.net"):
        return f"{parts.scheme}://{parts.netloc}{parts.path}?type=w800"
    return src


def _img_html(node: LexborNode) -> list[str]:
    out: list[str] = []
    for link in _css(node, "a.__se_image_link, a.se-module-image-link"):
        try:
            data = json.loads(attr(link, "data-linkdata") or "{}")
        except ValueError:
            data = {}
        if data.get("src"):
            img = link.css_first("img")
            out.append(_img(naver_image(data["src"]), (attr(img, "alt") or "") if img else ""))
    if out:
        return out
    for img in node.css("img"):
        src = image_src(img)
        if src and "sticker" not in src:
            out.append(_img(naver_image(src), attr(img, "alt") or ""))
    return out


def _module_data(comp: LexborNode) -> dict:
    s = comp.css_first("script.__se_module_data")
    raw = (attr(s, "data-module-v2") or attr(s, "data-module") or "{}") if s else "{}"
    try:
        return json.loads(raw)
    except ValueError:
        return {}


def _css(node: LexborNode, sel: str) -> list[LexborNode]:
    """node.css(sel) without the repeats a comma selector gives for elements matching several parts."""
    seen: set[int] = set()
    return [n for n in node.css(sel) if not (n.mem_id in seen or seen.add(n.mem_id))]


def _paragraphs(node: LexborNode, sel: str) -> list[str]:
    return [f"<p>{p.inner_html or ''}</p>" for p in _css(node, sel)]


def _table_html(node: LexborNode) -> str:
    rows = []
    for tr in node.css("tr"):
        cells = [inline_markdown(" ".join(p.inner_html or "" for p in td.css("p")) or (td.inner_html or ""))
                 for td in _css(tr, "td, th")]
        rows.append("<tr>" + "".join(f"<td>{htmlmod.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table>{''.join(rows)}</table>" if rows else ""


def code_text(node: LexborNode | None) -> str:
    """The text of a code view; <br> (older SE ONE code) counts as a line break."""
    if node is None:
        return ""
    html = re.sub(r"<br\s*/?>", "\n", node.inner_html or "", flags=re.I)
    return LexborHTMLParser(f"<pre>{html}</pre>").css_first("pre").text(deep=True)


def formula(comp: LexborNode, data: dict) -> str:
    """LaTeX of a formula component: `latex` in the module data, else each `$...$` line of its rendered html."""
    if data.get("latex"):
        return str(data["latex"]).strip().strip("$")
    lines = [m.strip().strip("$") for m in re.findall(r'class="mq-selectable">([^<]*)<', data.get("html") or "")]
    return "\n".join(htmlmod.unescape(x) for x in lines if x) or comp.text(strip=True)


def _code_block(code: str, lang: str) -> Raw:
    code = code.strip("\n")
    fence = "````" if "```" in code else "```"
    return Raw(f"{fence}{lang}\n{code}\n{fence}")


def se4_blocks(root: LexborNode) -> list[str]:
    blocks: list[str] = []
    for comp in root.css(".se-component"):
        cls = set((attr(comp, "class") or "").split())
        if "se-documentTitle" in cls or comp.parent is None:
            continue
        if "se-text" in cls:
            for el in comp.css("p.se-text-paragraph"):  # list items flattened, as the reference exports do
                blocks.append(f"<p>{el.inner_html or ''}</p>")
        elif "se-sectionTitle" in cls:
            text_node = comp.css_first(".se-module-text") or comp
            blocks.append(f"<h2>{htmlmod.escape(text_node.text(strip=True))}</h2>")
        elif "se-quotation" in cls:
            inner = "".join(_paragraphs(comp, ".se-quote p.se-text-paragraph, .se-quote p")
                            or _paragraphs(comp, "blockquote p"))
            blocks.append(f"<blockquote>{inner}</blockquote>")
        elif "se-code" in cls:
            src = comp.css_first(".__se_code_view") or comp.css_first(".se-code-source")
            lang = (_module_data(comp).get("data") or {}).get("language") or ""
            m = re.search(r"language-([\w+#-]+)", attr(src, "class") or "") if src else None
            code = code_text(src)
            if code.strip():
                blocks.append(_code_block(code, (m.group(1) if m else lang).lower()))
        elif "se-horizontalLine" in cls:
            blocks.append("<hr>")
        elif cls & {"se-image", "se-imageGroup", "se-imageStrip", "se-imageStrip2", "se-imageStrip3"}:
            blocks.extend(_img_html(comp))
        elif "se-oglink" in cls:
            a = comp.css_first("a.se-oglink-info, a.se-oglink-thumbnail, a")
            title = comp.css_first(".se-oglink-title")
            desc = comp.css_first(".se-oglink-summary")
            if a is not None and title is not None:
                blocks.append(_link(attr(a, "href") or "", title.text(strip=True)))
            if desc is not None and desc.text(strip=True):
                blocks.append(f"<p>{htmlmod.escape(desc.text(strip=True))}</p>")
        elif "se-table" in cls:
            blocks.append(_table_html(comp))
        elif "se-formula" in cls:
            latex = formula(comp, _module_data(comp).get("data") or {})
            if latex:
                blocks.append(Raw(f"$$\n{latex}\n$$"))
        elif "se-sticker" in cls or "se-video" in cls or "se-oembed" in cls:
            title = comp.css_first(".se-video-title, .se-oembed-title")
            if title is not None and title.text(strip=True):
                blocks.append(f"<p>{htmlmod.escape(title.text(strip=True))}</p>")
        else:  # unknown component: keep its readable text
            blocks.extend(_paragraphs(comp, "p") or ([f"<p>{htmlmod.escape(comp.text(strip=True))}</p>"]
                                                     if comp.text(strip=True) else []))
    return blocks


def se3_blocks(root: LexborNode) -> list[str]:
    blocks: list[str] = []
    for comp in root.css(".se_component"):
        cls = set((attr(comp, "class") or "").split())
        if "se_documentTitle" in cls:
            continue
        if "se_paragraph" in cls:
            blocks.extend(_paragraphs(comp, ".se_textarea"))
        elif "se_sectionTitle" in cls:
            blocks.append(f"<h2>{comp.text(strip=True)}</h2>")
        elif "se_quotation" in cls:
            blocks.append("<blockquote>" + "".join(_paragraphs(comp, ".se_textarea")) + "</blockquote>")
        elif "se_code" in cls:
            src = comp.css_first(".se_code") or comp.css_first("pre") or comp
            blocks.append(_code_block(code_text(src), ""))
        elif "se_horizontalLine" in cls:
            blocks.append("<hr>")
        elif "se_image" in cls or "se_imageGroup" in cls or "se_imageStrip" in cls:
            blocks.extend(_img_html(comp))
        elif "se_table" in cls:
            blocks.append(_table_html(comp))
        elif "se_oglink" in cls:
            a, title = comp.css_first("a"), comp.css_first(".se_og_tit, .se_title, strong")
            if a is not None and title is not None:
                blocks.append(_link(attr(a, "href") or "", title.text(strip=True)))
        elif "se_sticker" not in cls:
            blocks.extend(_paragraphs(comp, ".se_textarea, p"))
    return blocks


def se2_blocks(root: LexborNode) -> list[str]:
    for sel in (".post_footer_contents", ".post-btn", ".btn_area", "._checkVisible"):
        for n in root.css(sel):
            n.decompose()
    for img in root.css("img"):
        src = image_src(img)
        img.attrs["src"] = naver_image(src) if src else ""
    return [root.inner_html or ""]
