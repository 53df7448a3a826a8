"""Naver editor components (structure, not one file): SE ONE code/formula/quote/oglink/table, SE3 and SE2 bodies."""

from __future__ import annotations

import json

from platforms.naver.read import parse_page


def _page(body: str, version: int, log_no: str = "223000000001") -> str:
    return (f'<!DOCTYPE html><html><head><meta property="og:title" content="글"/>'
            f'<meta property="og:url" content="https://blog.naver.com/me/{log_no}"/></head><body>'
            f'<div id="_post_property" addDate="1700000000000" editorversion=\'{version}\'></div>'
            f'<div class="blog_category"><a>- 개발</a></div><div id="viewTypeSelector">{body}</div>'
            f'<div class="post_tag"><a href="/PostTag.naver?tag=a">#파이썬</a></div></body></html>')


def _module(data: dict) -> str:
    return f"<script type=\"text/data\" class=\"__se_module_data\" data-module='{json.dumps(data)}'></script>"


def test_se_one_components() -> None:
    comps = "".join([
        '<div class="se-component se-documentTitle"><div class="se-title-text"><p>글</p></div></div>',
        '<div class="se-component se-sectionTitle"><div class="se-module se-module-text"><p>소제목</p></div></div>',
        '<div class="se-component se-code"><div class="se-code-source"><div class="__se_code_view language-python">'
        "def f():\n    return 1</div></div></div>",
        '<div class="se-component se-code"><div class="se-code-source"><pre><code>A<br>B</code></pre></div></div>',
        '<div class="se-component se-formula">' + _module({"type": "v2_formula", "data": {
            "html": '<span class="mq-selectable">$a_i \\le b$</span>'}}) + "</div>",
        '<div class="se-component se-quotation"><blockquote class="se-quotation-container">'
        '<div class="se-module se-module-text se-quote"><p class="se-text-paragraph">인용</p></div>'
        '<div class="se-module se-cite"><p>출처</p></div></blockquote></div>',
        '<div class="se-component se-oglink"><a class="se-oglink-info" href="https://x.test/a"></a>'
        '<strong class="se-oglink-title">기사</strong><p class="se-oglink-summary">요약</p></div>',
        '<div class="se-component se-table"><table><tr><td><p>a</p></td><td><p>b</p></td></tr>'
        "<tr><td><p>1</p></td><td><p>2</p></td></tr></table></div>",
        '<div class="se-component se-sticker"><img src="https://storep-phinf.pstatic.net/s.png"></div>',
        '<div class="se-component se-text"><div class="se-module se-module-text">'
        '<p class="se-text-paragraph"><span><b>굵게</b> 그리고 <a href="https://y.test">링크</a></span></p></div></div>',
    ])
    post = parse_page(_page(f'<div class="se-main-container">{comps}</div>', 4), "https://m.blog.naver.com/x")
    assert post.body_markdown == (
        "## 소제목\n\n```python\ndef f():\n    return 1\n```\n\n```\nA\nB\n```\n\n$$\na_i \\le b\n$$\n\n> 인용\n\n"
        "[기사](https://x.test/a)\n\n요약\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n\n**굵게** 그리고 [링크](https://y.test)")
    assert post.tags == ["파이썬"] and post.category == "개발" and post.source_id == "223000000001"
    assert post.published_at.isoformat() == "2023-11-15T07:13:20+09:00"


def test_se3_components() -> None:
    body = ('<div class="se_component_wrap sect_dsc __se_component_area">'
            '<div class="se_component se_paragraph"><p class="se_textarea"><!-- SE3-TEXT { -->첫 줄<br>둘째 줄'
            "<!-- } SE3-TEXT --></p></div>"
            '<div class="se_component se_quotation"><div class="se_textarea">인용문</div></div>'
            '<div class="se_component se_image"><img src="x" data-lazy-src="https://postfiles.pstatic.net/a/b.jpg?type=w2">'
            "</div><div class=\"se_component se_horizontalLine\"><hr></div></div>")
    post = parse_page(_page(body, 3), "https://m.blog.naver.com/x")
    assert post.body_markdown == ("첫 줄\n둘째 줄\n\n> 인용문\n\n![](https://postfiles.pstatic.net/a/b.jpg?type=w800)\n\n"
                                  "---")


def test_se2_free_html() -> None:
    body = '<p>문단 <b>하나</b></p><pre>code\n  kept</pre><ul><li>가</li><li>나</li></ul><p>&nbsp;</p>'
    post = parse_page(_page(body, 2), "https://m.blog.naver.com/x")
    assert post.body_markdown == "문단 **하나**\n\n```\ncode\n  kept\n```\n\n- 가\n- 나"
