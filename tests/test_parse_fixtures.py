"""Parsers against the real captured pages: faithful Markdown (one test per page with an expected.md), metadata."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from bot.core.errors import ParseError
from platforms.http import PostGone

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "platforms"
EXPECTED = sorted(FIXTURES.glob("*/*.expected.md")) if FIXTURES.is_dir() else []


def _ws(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _split_front_matter(text: str) -> tuple[dict, str]:
    import yaml

    m = re.match(r"\A---\n(.*?)\n---\n(.*)\Z", text, re.S)
    return (yaml.safe_load(m.group(1)), m.group(2)) if m else ({}, text)


def _parser(platform: str):
    import importlib

    return importlib.import_module(f"platforms.{platform}.read").parse_page


@pytest.mark.parametrize("expected", EXPECTED, ids=[f"{p.parent.name}/{p.name}" for p in EXPECTED])
def test_page_matches_expected_markdown(shared: Path, expected: Path) -> None:
    page = expected.with_name(expected.name.replace(".expected.md", ".html"))
    meta, body = _split_front_matter(expected.read_text(encoding="utf-8"))
    post = _parser(expected.parent.name)(page.read_text(encoding="utf-8"), str(meta.get("source") or page))
    assert _ws(post.body_markdown) == _ws(body)
    if meta.get("title"):
        assert post.title == meta["title"]
    if meta.get("publishedAt"):
        want = meta["publishedAt"]
        want = want if isinstance(want, datetime) else datetime.fromisoformat(str(want))
        assert post.published_at == want and post.published_at.utcoffset() is not None
    if meta.get("logNo"):
        assert post.source_id == str(meta["logNo"])
    if meta.get("category"):
        assert post.category == meta["category"]


def test_tistory_post_page_metadata_and_clean_body(shared: Path) -> None:
    from platforms.tistory.read import parse_page

    html = (shared / "fixtures/platforms/tistory/post-ramen4598-384.html").read_text(encoding="utf-8")
    post = parse_page(html, "https://ramen4598.tistory.com/384")
    assert post.title == "[알고리즘] 3986번: 좋은 단어"
    assert post.published_at.isoformat() == "2023-09-03T15:06:03+09:00"
    assert post.tags == ["c++", "분할 정복", "스택", "알고리즘"]
    assert post.source_id == "384" and post.url == "https://ramen4598.tistory.com/384"
    assert post.category == "소프트웨어 이론/Algorithm with C++"
    body = post.body_markdown
    assert body.startswith("# 0. 문제")
    assert "[3986번: 좋은 단어](https://www.acmicpc.net/problem/3986)" in body  # link card → link
    assert "```arduino\n// 백준 3986번: 좋은 단어" in body  # code block kept verbatim, the editor's language
    assert "![](https://blog.kakaocdn.net/dna/" in body
    for noise in ("공감", "adsbygoogle", "another_category", "카카오톡"):
        assert noise not in body


def test_tistory_slug_permalink_and_old_single_class_body() -> None:
    from platforms.tistory.read import parse_page

    html = ('<html><head><meta property="og:title" content="제목"/>'
            '<meta property="article:published_time" content="2021-02-03T04:05:06+09:00"/></head><body>'
            '<div class="skin_x"><div class="contents_style"><h2>소제목</h2><p><b>굵게</b> <i>기울임</i></p>'
            '<pre data-ke-language="python"><code>print(1)</code></pre>'
            '<blockquote><p>인용</p></blockquote><ul><li>하나</li><li>둘</li></ul>'
            '<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table></div></div>'
            '<a rel="tag" href="/tag/x">태그</a><script>var T={"entryId":77};</script></body></html>')
    post = parse_page(html, "https://me.tistory.com/entry/%ED%95%9C%EA%B8%80-%EC%A0%9C%EB%AA%A9")
    assert post.source_id == "77"
    assert post.body_markdown == ("## 소제목\n\n**굵게** *기울임*\n\n```python\nprint(1)\n```\n\n> 인용\n\n"
                                  "- 하나\n- 둘\n\n| a | b |\n| --- | --- |\n| 1 | 2 |")
    assert post.tags == ["태그"]


def test_tistory_missing_body_is_a_parse_error_naming_the_url() -> None:
    from platforms.tistory.read import parse_page

    with pytest.raises(ParseError, match="https://me.tistory.com/9"):
        parse_page("<html><body><div class='skin'>메뉴</div></body></html>", "https://me.tistory.com/9")
    with pytest.raises(PostGone):
        parse_page("<html><body><p>비공개 글입니다.</p></body></html>", "https://me.tistory.com/9")


def test_naver_editor_detection_and_blocked_pages(shared: Path) -> None:
    from selectolax.lexbor import LexborHTMLParser

    from platforms.naver.read import editor_version, parse_page

    d = shared / "fixtures/platforms/naver"
    for name, version in (("postview-se2-legacy", 2), ("postview-se3-legacy", 3), ("postview-se4-image-group", 4)):
        text = (d / f"{name}.html").read_text(encoding="utf-8")
        assert editor_version(LexborHTMLParser(text), text) == version
    with pytest.raises(ParseError, match="login"):
        parse_page('<html><form id="frmNIDLogin"></form></html>', "https://m.blog.naver.com/x")
    with pytest.raises(PostGone) as gone:
        parse_page("<html><p>비공개 글입니다</p></html>", "https://m.blog.naver.com/x")
    assert gone.value.status == "private"


def test_velog_graphql_answer_with_korean_slug() -> None:
    from platforms.velog.read import parse_page, slug_of

    url = "https://velog.io/@dev/%ED%95%9C%EA%B8%80-%EC%8A%AC%EB%9F%AC%EA%B7%B8"
    assert slug_of(url) == ("dev", "한글-슬러그")
    answer = {"data": {"post": {"id": "abc", "title": "제목", "released_at": "2024-01-02T03:04:05.000Z",
                                "tags": ["a"], "body": "# 제목\n\n본문 `code`", "is_private": False,
                                "url_slug": "한글-슬러그", "user": {"username": "dev"}, "series": None}}}
    post = parse_page(json.dumps(answer), url)
    assert post.body_markdown == "# 제목\n\n본문 `code`"
    assert post.published_at.isoformat() == "2024-01-02T12:04:05+09:00"
    assert post.url == url
    with pytest.raises(ParseError, match="GraphQL error: boom"):
        parse_page(json.dumps({"errors": [{"message": "boom"}]}), url)
    with pytest.raises(ParseError, match="malformed GraphQL JSON"):
        parse_page('{"data": {"post": ', url)
    with pytest.raises(PostGone):
        parse_page({"data": {"post": None}}, url)
