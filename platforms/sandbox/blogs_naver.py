"""Naver renderers of the simulated blogs: a post as a mobile PostView page (SE ONE / SE3 / SE2), the post-list API."""

from __future__ import annotations

import html as H
import json
import re
from urllib.parse import quote

from selectolax.lexbor import LexborHTMLParser, LexborNode

from platforms.sandbox.blogs import SimPost, md_html

STICKER = '<img src="https://storep-phinf.pstatic.net/sticker.png" alt="">'


def _top_nodes(html: str) -> list[LexborNode]:
    root = LexborHTMLParser(f"<div id='r'>{html}</div>").css_first("#r")
    return [n for n in root.iter() if n.tag != "-text" or (n.text() or "").strip()]


def _component(kind: str, inner: str, ver: str) -> str:
    if ver == "se3":
        return (f'<div class="se_component se_{kind}"><div class="se_sectionArea">'
                f'<div class="se_editArea">{inner}</div></div></div>')
    return (f'<div class="se-component se-{kind} se-l-default"><div class="se-component-content">'
            f'<div class="se-section se-section-{kind}">{inner}</div></div></div>')


def _para(inner: str, ver: str) -> str:
    if ver == "se3":
        return f'<p class="se_textarea"><!-- SE3-TEXT {{ -->{inner}<!-- }} SE3-TEXT --></p>'
    return f'<p class="se-text-paragraph"><span class="se-fs- se-ff-">{inner}</span></p>'


def _text_module(inner: str) -> str:
    return f'<div class="se-module se-module-text">{inner}</div>'


def _image(src: str, ver: str) -> str:
    link = json.dumps({"src": src}).replace("'", "&#39;")
    img = f'<img src="{src}?type=w80_blur" data-lazy-src="{src}" alt="">'
    return _component("image", f'<div class="se-module se-module-image"><a class="se-module-image-link '
                      f"__se_image_link\" data-linkdata='{link}'>{img}</a></div>", ver)


def _code(node: LexborNode, ver: str) -> str:
    code = node.css_first("code")
    lang = re.sub(r"^language-", "", (code.attributes.get("class") or "") if code else "")
    text = H.escape(node.text(deep=True))
    if ver == "se3":
        return _component("code", f'<pre class="se_code">{text}</pre>', ver)
    data = H.escape(json.dumps({"type": "v2_code", "data": {"language": lang}}))
    return _component("code", f'<div class="se-module se-module-code"><div class="se-code-source">'
                      f'<div class="__se_code_view language-{lang}">{text}</div></div></div>'
                      f'<script type="text/data" class="__se_module_data" data-module-v2="{data}"></script>', ver)


def _block(node: LexborNode, ver: str) -> str:
    """One top-level HTML element → the editor component that holds it."""
    tag, inner = node.tag, node.inner_html or ""
    if tag == "p" and node.css_first("img") is not None and not node.text(strip=True):
        return _image(H.escape(node.css_first("img").attributes.get("src") or ""), ver)
    if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
        return _component("sectionTitle", _text_module(_para(inner, ver)), ver)
    if tag == "pre":
        return _code(node, ver)
    if tag == "blockquote":
        paras = "".join(_para(p.inner_html or "", ver) for p in node.css("p"))
        return _component("quotation", f'<blockquote><div class="se-module se-module-text se-quote">{paras}</div>'
                          "</blockquote>", ver)
    if tag in ("ul", "ol"):
        if ver == "se3":
            return "".join(_component("paragraph", _para(li.inner_html or "", ver), ver) for li in node.css("li"))
        items = "".join(f'<li class="se-text-list-item">{_para(li.inner_html or "", ver)}</li>'
                        for li in node.css("li"))
        return _component("text", _text_module(f'<{tag} class="se-text-list">{items}</{tag}>'), ver)
    if tag == "hr":
        return _component("horizontalLine", '<hr class="se-hr">', ver)
    if tag == "table":
        rows = "".join("<tr>" + "".join(f'<td><div class="se-module-text">{_para(c.inner_html or "", ver)}</div></td>'
                                        for c in tr.css("td, th")) + "</tr>" for tr in node.css("tr"))
        return _component("table", f'<div class="se-table-content"><table>{rows}</table></div>', ver)
    if ver == "se3":
        return _component("paragraph", _para(inner, ver), ver)
    return _component("text", _text_module(_para(inner, ver)), ver)


def render_naver_post(p: SimPost, blog_id: str) -> str:
    """A mobile PostView page in the editor generation of the post (se4 / se3 / se2), with the usual chrome."""
    html = md_html(p.body_markdown)
    if p.editor == "se2":
        root = html
    else:
        comps = "".join(_block(n, p.editor) for n in _top_nodes(html)) + _component("sticker", STICKER, p.editor)
        root = (f'<div class="se_component_wrap sect_dsc __se_component_area">{comps}</div>' if p.editor == "se3"
                else f'<div class="se-viewer se-theme-default"><div class="se-main-container">{comps}</div></div>')
    t, ms = H.escape(p.title), int(p.published_at.timestamp() * 1000)
    tags = "".join(f'<a href="/PostTag.naver?tag={quote(x)}">#{H.escape(x)}</a>' for x in p.tags)
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><meta property="og:title" content="{t}"/>'
            f'<meta property="og:url" content="https://blog.naver.com/{blog_id}/{p.id}"/></head><body>'
            f'<div id="_post_property" style="display:none" addDate="{ms}" editorversion=\'{p.editor[-1]}\'></div>'
            f'<div id="_photo_view_property" blogId="{blog_id}" logNo="{p.id}" title="{t}"></div>'
            f'<div class="blog_category"><a href="#">- {H.escape(p.category or "")}</a></div>'
            f'<p class="blog_date">{p.published_at:%Y. %-m. %-d. %H:%M}</p><button>공유하기</button>'
            f'<div class="post_ct" id="viewTypeSelector">{root}</div><div class="post_tag">{tags}</div>'
            '<div class="btn_like">공감</div></body></html>')


def render_naver_list(posts: list[SimPost], page: int, count: int) -> dict:
    """The mobile post-list API answer; non-public posts carry notOpen like the real one."""
    items = [{"logNo": int(p.id), "titleWithInspectMessage": p.title, "addDate": int(p.published_at.timestamp() * 1000),
              "categoryName": p.category, "notOpen": p.visibility != "public", "postBlocked": False,
              "buddyOpen": False, "bothBuddyOpen": False} for p in posts[(page - 1) * count: page * count]]
    return {"isSuccess": True, "result": {"items": items, "totalCount": len(posts)}}
