"""Naver post bodies of the three editor generations (SE ONE `se-`, SE3 `se_`, SE2 free HTML) → semantic HTML blocks."""

from __future__ import annotations

import html as htmlmod
import json
import re
from urllib.parse import quote, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from platforms.markdown import Raw, escape_link_text, image_src, video_link


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


def _text(node: LexborNode | None) -> str:
    return re.sub(r"\s+", " ", node.text(deep=True) or "").strip() if node is not None else ""


def _para(text: str) -> str:
    return f"<p>{htmlmod.escape(text)}</p>" if text else ""


def _md_link(title: str, url: str) -> Raw:
    """A ready Markdown link (a video, an embed): [title](url)."""
    return Raw(f"[{escape_link_text(title or 'Video')}]({url.replace(' ', '%20')})")


def place_url(name: str) -> str:
    """The Naver Map search page of a place, as the map blocks link it."""
    return "https://map.naver.com/p/search/" + quote(name, safe="-_.!~*'()")


def _place(name: str, address: str) -> list[str]:
    """A place of a map block: its name linked to Naver Map, then its address."""
    return [_link(place_url(name), name), _para(address)] if name else []


def _link_card(href: str, title: str, desc: str, thumb: str = "") -> list[str]:
    """A link card (og link): the thumbnail when there is one, the title as a link, the description under it."""
    out = [_img(thumb, "")] if thumb else []
    if href:
        out.append(_link(href, title or href))
    if desc:
        out.append(_para(desc))
    return out


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
    for img in node.css("img, video[data-gif-url]"):
        if img.tag == "video":  # an animated GIF the editor plays as a video: the GIF as it is served
            out.append(_img(attr(img, "data-gif-url") or "", ""))
            continue
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
    """An editor table as plain <table> HTML; each cell's paragraphs joined by line breaks, bold and links kept."""
    rows = []
    for tr in node.css("tr"):
        cells = ["<br>".join(p.inner_html or "" for p in td.css("p")) or (td.inner_html or "")
                 for td in _css(tr, "td, th")]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
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


def _se4_places(comp: LexborNode) -> list[str]:
    out: list[str] = []
    for spot in _css(comp, ".se-module-map-text, .se-map-info"):
        if spot.tag == "a" and spot.parent is not None and "se-module-map-text" in (attr(spot.parent, "class") or ""):
            continue
        try:
            data = json.loads(attr(spot.css_first("[data-linkdata]") or spot, "data-linkdata") or "{}")
        except ValueError:
            data = {}
        name = str(data.get("name") or _text(spot.css_first(".se-map-title"))).strip()
        out += _place(name, str(data.get("address") or _text(spot.css_first(".se-map-address"))).strip())
    return out


def _se4_video(comp: LexborNode, post_url: str) -> list[str]:
    """A Naver video (no public URL of its own: linked to the post) or an embed (YouTube...): [title](url)."""
    data = _module_data(comp).get("data") or {}
    if "se-oembed" in (attr(comp, "class") or ""):
        url = str(data.get("inputUrl") or "")
        if not url:
            m = re.search(r'src="([^"]+)"', htmlmod.unescape(str(data.get("html") or "")))
            url = m.group(1) if m else ""
        title = str(data.get("title") or _text(comp.css_first(".se-oembed-title")) or "")
        return [_md_link(title, url)] if url else ([_para(title)] if title else [])
    title = str((data.get("mediaMeta") or {}).get("title") or _text(comp.css_first(".se-video-title")) or "")
    iframe = comp.css_first("iframe")
    link = video_link(iframe) if iframe is not None else ""
    if link:
        return [Raw(link)]
    return [_md_link(title, post_url)] if post_url else ([_para(title)] if title else [])


def se4_blocks(root: LexborNode, post_url: str = "") -> list[str]:
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
            blocks.extend(_paragraphs(comp, ".se-caption p.se-text-paragraph, .se-caption p"))  # the caption
        elif "se-oglink" in cls:
            a = comp.css_first("a.se-oglink-info, a.se-oglink-thumbnail, a")
            title = _text(comp.css_first(".se-oglink-title"))
            if a is not None and title:
                blocks.extend(_link_card(attr(a, "href") or "", title, _text(comp.css_first(".se-oglink-summary"))))
        elif "se-table" in cls:
            blocks.append(_table_html(comp))
        elif "se-formula" in cls:
            latex = formula(comp, _module_data(comp).get("data") or {})
            if latex:
                blocks.append(Raw(f"$$\n{latex}\n$$"))
        elif "se-video" in cls or "se-oembed" in cls:
            blocks.extend(_se4_video(comp, post_url))
        elif cls & {"se-placesMap", "se-map", "se-placesmap"}:
            blocks.extend(_se4_places(comp))
        elif "se-file" in cls:  # an attachment: [name.ext](download link)
            a = comp.css_first("a.se-file-save-button, a[href*='download']")
            href = (attr(a, "href") if a is not None else "") or str((_module_data(comp).get("data") or {}).get("link")
                                                                     or "")
            name = _text(comp.css_first(".se-file-name")) + _text(comp.css_first(".se-file-extension"))
            if href:
                blocks.append(_link(href, name or href))
        elif "se-sticker" in cls:
            continue
        else:  # any other component (wrapped paragraph, book/product info...): its text, pictures and links
            blocks.extend(_generic(comp))
    return blocks


def _stable_src(img: LexborNode) -> str:
    """Point an <img> at its real picture in the stable size (lazy-load attributes resolved and removed)."""
    src = image_src(img)
    for lazy in ("data-lazy-src", "data-src", "data-original", "data-url"):
        if lazy in img.attributes:
            del img.attrs[lazy]
    if src:
        img.attrs["src"] = naver_image(src)
    return src


def _generic(comp: LexborNode) -> list[str]:
    """A component the table above does not name, as plain HTML for the converter: scripts out, images at their
    stable size. Nothing the author wrote is dropped because the editor added a new widget."""
    for n in comp.css("script, style, button"):
        n.decompose()
    for img in comp.css("img"):
        _stable_src(img)
    return [comp.html or ""] if comp.text(strip=True) or comp.css_first("img") is not None else []


def se3_blocks(root: LexborNode, post_url: str = "") -> list[str]:
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
            blocks.extend(_paragraphs(comp, ".se_mediaCaption .se_textarea, .se_caption .se_textarea"))
        elif "se_table" in cls:
            blocks.append(_table_html(comp))
        elif "se_oglink" in cls:
            a, title = comp.css_first("a"), _text(comp.css_first(".se_og_tit, .se_title, strong"))
            if a is not None and title:
                thumb = comp.css_first(".se_og_thumb img")
                blocks.extend(_link_card(attr(a, "href") or "", title, _text(comp.css_first(".se_og_desc")),
                                         image_src(thumb) if thumb is not None else ""))
        elif "se_video" in cls:
            title = _text(comp.css_first(".se_mediaCaption .se_textarea, .se_mediaCaption"))
            iframe = comp.css_first("iframe")
            link = video_link(iframe) if iframe is not None else ""
            if link:
                blocks.append(Raw(f"[{escape_link_text(title)}]{link[link.index('](') + 1:]}" if title else link))
            elif post_url or title:
                blocks.append(_md_link(title, post_url) if post_url else _para(title))
        elif "se_map" in cls:
            for art in comp.css(".se_map_article") or [comp]:
                blocks.extend(_place(_text(art.css_first(".se_title")), _text(art.css_first(".se_address"))))
        elif "se_file" in cls:
            for a in comp.css("a[href]"):
                name = _text(comp.css_first(".se_file_name, .se_name")) or _text(a)
                blocks.append(_link(attr(a, "href") or "", name))
                break
        elif "se_sticker" in cls:  # SE3 keeps a sticker as a picture in the text, as SE2 does
            blocks.extend(_img(image_src(img), attr(img, "alt") or "") for img in comp.css("img") if image_src(img))
        else:
            blocks.extend(_generic(comp))
    return blocks


def _swap(node: LexborNode, html: str) -> None:
    """Replace an editor widget by plain semantic HTML (or drop it when there is nothing to keep)."""
    if html:
        node.replace_with(LexborHTMLParser(f"<div>{html}</div>").body.child)
    else:
        node.decompose()


def se2_blocks(root: LexborNode, post_url: str = "") -> list[str]:
    """SmartEditor 2 (free HTML): lazy images, link cards and video spans made plain, then the HTML as it is."""
    for sel in (".post_footer_contents", ".post-btn", ".btn_area", "._checkVisible"):
        for n in root.css(sel):
            n.decompose()
    for span in root.css("span._img[thumburl], span[thumburl]"):  # lazy image: no <img> until scripts run
        if span.css_first("img") is None:
            img = LexborHTMLParser(f'<img src="{htmlmod.escape(naver_image(attr(span, "thumburl") or ""))}" alt="">')
            span.replace_with(img.body.child)  # inline, where the span was
    for card in root.css("div._oglink, div.og"):
        a = card.css_first(".txt a[href], a[href]")
        thumb = card.css_first(".thumb img")
        _swap(card, "".join(_link_card(attr(a, "href") or "" if a is not None else "", _text(card.css_first(".tit")),
                                       _text(card.css_first(".dsc")), image_src(thumb) if thumb is not None else "")))
    for img in root.css("img"):
        if not _stable_src(img):
            img.decompose()  # the editor's blank.gif spacers stay: they are <img>s of the page
    for video in root.css("video[data-gif-url]"):  # an animated GIF played as a video: the GIF as it is served
        gif = LexborHTMLParser(f'<img src="{htmlmod.escape(attr(video, "data-gif-url") or "")}" alt="">')
        video.replace_with(gif.body.child)
    return [root.inner_html or ""]
