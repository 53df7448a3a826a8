"""Reading real saved pages completely (issue 16): every page's piped `blogbot parse` output against its hand-checked
expected Markdown, then one regression test per editor feature that used to be lost."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_parse", ROOT / "bench" / "parse.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
PAGES = bench.pages()


def _ws(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.parametrize("platform,page,expected", PAGES, ids=[f"{p}/{f.name}" for p, f, _ in PAGES])
def test_piped_parse_output_matches_the_expected_markdown(cli, platform: str, page: Path, expected: Path) -> None:
    meta, want = bench.split(expected.read_text(encoding="utf-8"))
    r = cli("parse", platform, str(page), "--url", str(meta.get("source") or page.resolve().as_uri()))
    assert r.code == 0, r.err
    front, got = bench.split(r.out)  # the front matter is YAML that reads back
    if meta.get("title"):
        assert front["title"] == meta["title"]
    m = bench.measure(got, want)
    assert m["similarity"] >= 0.93 and m["urls_ratio"] >= 0.9 and m["code_lost"] == 0, m
    assert _ws(got) == _ws(want)
    assert got.count("\n") >= want.count("\n") - 2  # no line folded at 80 columns, none lost


def test_the_repository_holds_real_pages_of_each_editor() -> None:
    names = {f"{p}/{f.name}" for p, f, _ in PAGES}
    for prefix in ("naver/se2-", "naver/se3-", "naver/se4-", "tistory/"):
        assert any(n.startswith(prefix) for n in names), prefix


def naver_page(body: str, version: int, log_no: str = "223000000001") -> str:
    root = {4: '<div class="se-main-container">', 3: '<div class="se_component_wrap sect_dsc">',
            2: '<div id="postViewArea">'}[version]
    return (f'<html><head><meta property="og:url" content="https://blog.naver.com/me/{log_no}">'
            f'<meta property="og:title" content="제목"></head><body>'
            f'<script>var x = {{"smartEditorVersion": {version}}};</script>{root}{body}</div></body></html>')


def naver(body: str, version: int) -> str:
    from platforms.naver.read import parse_page

    return parse_page(naver_page(body, version), "https://blog.naver.com/me/223000000001").body_markdown


def test_se2_lazy_images_from_thumburl() -> None:
    md = naver('<p><span class="_img _inl fx" thumburl="https://mblogthumb-phinf.pstatic.net/a/b.png?type="></span>'
               '<br>글</p>', 2)
    assert md == "![](https://mblogthumb-phinf.pstatic.net/a/b.png?type=w800)\n글"


def test_color_scripter_table_is_fenced_code_with_its_lines() -> None:
    table = ('<table class="colorscripter-code-table"><tr><td><div><div>1</div><div>2</div><div>3</div></div></td>'
             '<td><div><div>int&nbsp;a;&nbsp;<span>//&nbsp;comment</span></div><div>&nbsp;&nbsp;b++;</div>'
             '<div style="white-space:pre; margin-left: 80px">//&nbsp;wrapped</div>'
             '<div>}</div></div><div><a href="http://colorscripter.com/info#e">Colored by Color Scripter</a></div>'
             '</td><td><a href="http://colorscripter.com/info#e">cs</a></td></tr></table>')
    assert naver(f"<p>앞</p><div>{table}</div>", 2) == "앞\n\n```\nint a; // comment\n  b++; // wrapped\n}\n```"


def test_se2_link_card_is_a_link_then_its_description() -> None:
    card = ('<div class="og _oglink"><div class="thumb"><a href="https://x.test/q"><img src="https://i.test/t.png">'
            '</a></div><div class="txt"><a href="https://x.test/q"><div class="ell tit">How to use Controller</div>'
            '<div class="ell dsc">I would like to add a view</div><div class="ell cp">x.test</div></a></div></div>')
    assert naver(card, 2) == ("![](https://i.test/t.png)\n\n[How to use Controller](https://x.test/q)\n\n"
                              "I would like to add a view")


def _module(kind: str, data: str) -> str:
    return f'<script type="text/data" class="__se_module_data" data-module=\'{{"type":"{kind}","data":{data}}}\'>' \
           '</script>'


def test_se_one_videos_embeds_and_places_are_links() -> None:
    video = ('<div class="se-component se-video">'
             + _module("v2_video", '{"vid":"V1","mediaMeta":{"title":"첫 애니메이션"}}') + "</div>")
    embed = ('<div class="se-component se-oembed">'
             + _module("v2_oembed", '{"title":"Slope Trick","inputUrl":"https://www.youtube.com/watch?v=p8R"}')
             + "</div>")
    places = ('<div class="se-component se-placesMap"><div class="se-module se-module-map-text">'
              '<a class="se-map-info" data-linkdata=\'{"name":"보리나라 학원농장","address":"고창군 학원농장길 154"}\'>'
              '<strong class="se-map-title">보리나라 학원농장</strong></a></div></div>')
    md = naver(video + embed + places, 4)
    assert md == ("[첫 애니메이션](https://blog.naver.com/me/223000000001)\n\n"
                  "[Slope Trick](https://www.youtube.com/watch?v=p8R)\n\n"
                  "[보리나라 학원농장](https://map.naver.com/p/search/%EB%B3%B4%EB%A6%AC%EB%82%98%EB%9D%BC%20"
                  "%ED%95%99%EC%9B%90%EB%86%8D%EC%9E%A5)\n\n고창군 학원농장길 154")


def test_table_cells_keep_bold_and_no_empty_bold_lines() -> None:
    table = ('<div class="se_component se_table"><table><tr><td><p><b>플랫폼</b></p></td><td><p>PS4</p></td></tr>'
             '<tr><td><p><b>평점</b></p></td><td><p><b>★★★</b><b>☆☆</b></p></td></tr></table></div>'
             '<div class="se_component se_paragraph"><p class="se_textarea"><b>\u200b</b></p>'
             '<p class="se_textarea">본문</p></div>')
    md = naver(table, 3)
    assert md == "| **플랫폼** | PS4 |\n| --- | --- |\n| **평점** | **★★★☆☆** |\n\n본문"
    assert "\\*" not in md and "****" not in md


def test_se3_video_is_linked_with_its_caption() -> None:
    md = naver('<div class="se_component se_video default"><div class="se_mediaArea"><iframe '
               'src="https://www.youtube.com/embed/ONg"></iframe></div><div class="se_mediaCaption">'
               '<span class="se_textarea">BACK-ON / Mirrors</span></div></div>', 3)
    assert md == "[BACK-ON / Mirrors](https://www.youtube.com/embed/ONg)"


def tistory(body: str) -> str:
    from platforms.tistory.read import parse_page

    page = (f'<html><head><meta property="og:title" content="글"></head><body><div class="tt_article_useless_p_margin '
            f'contents_style">{body}</div><script>var T={{"entryId":5}};</script></body></html>')
    return parse_page(page, "https://me.tistory.com/5").body_markdown


def test_tistory_code_language_video_and_attachment() -> None:
    md = tistory('<pre class="sql"><code>select 1;</code></pre>'
                 '<figure data-ke-type="video" data-video-url="https://www.youtube.com/watch?v=dd" '
                 'data-video-title="Proxmox [Backup]"><iframe src="https://www.youtube.com/embed/dd"></iframe></figure>'
                 '<figure class="fileblock"><a href="https://blog.kakaocdn.net/dna/f/a.jpg?attach=1">'
                 '<div class="desc"><div class="filename"><span class="name">20210201112150.jpg</span></div>'
                 '<div class="size">0.03MB</div></div></a></figure>')
    assert md == ("```sql\nselect 1;\n```\n\n[Proxmox \\[Backup\\]](https://www.youtube.com/watch?v=dd)\n\n"
                  "[20210201112150.jpg](https://blog.kakaocdn.net/dna/f/a.jpg?attach=1)")


def test_parse_output_is_never_wrapped_when_piped(cli, tmp_path: Path) -> None:
    """A narrow terminal width changes nothing: long URLs and titles stay on their line."""
    long_url = "https://blog.kakaocdn.net/dna/" + "A" * 150 + "/img.png"
    title = "아주 긴 제목 " * 12
    page = (f'<html><head><meta property="og:title" content="{title.strip()}"></head><body>'
            f'<div class="tt_article_useless_p_margin"><p>{"긴 문장 " * 40}</p><p><img src="{long_url}"></p></div>'
            '<script>var T={"entryId":8};</script></body></html>')
    (tmp_path / "p.html").write_text(page, encoding="utf-8")
    r = cli("parse", "tistory", str(tmp_path / "p.html"), "--url", "https://me.tistory.com/8")
    assert r.code == 0, r.err
    assert f"![]({long_url})\n" in r.out
    assert f"title: {title.strip()}\n" in r.out
    assert ("긴 문장 " * 40).strip() + "\n" in r.out


def test_config_check_output_reads_back_as_yaml(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    monkeypatch.setenv("COLUMNS", "30")
    r = cli("config", "check")
    assert r.code == 0, r.err
    assert r.out.startswith("# config: ")
    assert isinstance(yaml.safe_load(r.out), dict)


def test_terminal_tables_never_cut_a_korean_word() -> None:
    from rich.console import Console
    from rich.table import Table

    from bot.core.console import print_table

    words = "제주도 한달살기 준비물과 숙소를 고르는 방법 총정리 비동기프로그래밍".split()
    for width in (40, 60, 80):
        t = Table(title="topics")
        for col in ("#", "id", "state", "topic", "tags"):
            t.add_column(col)
        t.add_row("1", "a1b2c3d4e5", "queued", " ".join(words), "여행, 제주도, 한달살기")
        con = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
        print_table(t, con)
        text = con.export_text()
        assert "…" not in text
        for w in words:
            assert any(w in line for line in text.splitlines()), (width, w, text)


def test_velog_saved_page_gives_the_author_markdown() -> None:
    import json

    from platforms.velog.read import parse_page

    state = {"Post:1": {"id": "1", "title": "[Github] 사용법", "released_at": "2023-05-16T23:34:50.051Z",
                        "tags": {"type": "json", "json": ["github"]}, "body": "## 1. Git\n\n```bash\ngit init\n```",
                        "url_slug": "an96", "user": {"type": "id", "id": "User:9"}, "series": None},
             "User:9": {"username": "dev"}}
    page = ('<html><head><link rel="canonical" href="https://velog.io/@dev/an96"/></head><body><div class="atom-one">'
            f'<h2>1. Git</h2></div><script>window.__APOLLO_STATE__={json.dumps(state)}</script></body></html>')
    post = parse_page(page, "file:///saved.html")
    assert post.body_markdown == "## 1. Git\n\n```bash\ngit init\n```"
    assert post.url == "https://velog.io/@dev/an96" and post.tags == ["github"] and post.source_id == "1"


def test_se3_sticker_and_map_and_oglink() -> None:
    md = naver('<div class="se_component se_sticker"><img src="https://storep-phinf.pstatic.net/brown/original_18.png'
               '?type=p100_100" alt="스티커 이미지"></div>'
               '<div class="se_component se_map default"><div class="se_map_article"><div class="se_title">'
               '지리산 청강원</div><div class="se_address">산청군 시천면 지리산대로 373</div></div></div>'
               '<div class="se_component se_oglink"><a class="se_og_box" href="http://www.chinesetest.cn/index.do">'
               '<div class="se_og_txt"><div class="se_og_tit">首页--汉语考试服务网</div>'
               '<div class="se_og_desc">简体中文 | English</div></div></a></div>', 3)
    assert md == ("![스티커 이미지](https://storep-phinf.pstatic.net/brown/original_18.png?type=p100_100)\n\n"
                  "[지리산 청강원](https://map.naver.com/p/search/%EC%A7%80%EB%A6%AC%EC%82%B0%20%EC%B2%AD%EA%B0%95%EC%9B%90)"
                  "\n\n산청군 시천면 지리산대로 373\n\n[首页--汉语考试服务网](http://www.chinesetest.cn/index.do)\n\n"
                  "简体中文 | English")


def test_attachments_are_links_named_by_the_file() -> None:
    se4 = ('<div class="se-component se-file">' + _module("v2_file", '{"link":"https://download.blog.naver.com/open/a"}')
           + '<span class="se-file-name">깃터디1</span><span class="se-file-extension">.pdf</span>'
           '<a class="se-file-save-button" href="https://download.blog.naver.com/open/a">파일 다운로드</a></div>'
           '<div class="se-component se-file">' + _module("v2_file", '{"link":"https://x.test/b.pdf"}') + "</div>")
    assert naver(se4, 4) == "[깃터디1.pdf](https://download.blog.naver.com/open/a)\n\n[https://x.test/b.pdf](https://x.test/b.pdf)"
    se3 = ('<div class="se_component se_file default"><a class="se_name_area" href="https://download.x.test/s.pdf">'
           '<span class="se_name">seminar.pdf</span></a></div>')
    assert naver(se3, 3) == "[seminar.pdf](https://download.x.test/s.pdf)"


def test_tistory_folded_text_keeps_its_content_not_its_toggle() -> None:
    md = tistory('<div data-ke-type="moreLess" data-text-more="더보기" data-text-less="닫기">'
                 '<a class="btn-toggle-moreless">더보기</a><div class="moreless-content"><p>접힌 글</p></div></div>')
    assert md == "접힌 글"


def test_image_captions_are_kept_under_their_image() -> None:
    se4 = ('<div class="se-component se-imageGroup"><img src="https://postfiles.pstatic.net/a/1.jpg?type=w80_blur">'
           '<div class="se-module se-module-text se-caption"><p class="se-text-paragraph"><span>채석강 <b>물때</b>'
           '</span></p></div></div>')
    assert naver(se4, 4) == "![](https://postfiles.pstatic.net/a/1.jpg?type=w800)\n\n채석강 **물때**"


def test_code_language_from_every_highlighter_convention() -> None:
    from platforms.markdown import to_markdown

    md = to_markdown('<pre class="brush: java; gutter: false">int a;</pre><pre class="prettyprint lang-go">x</pre>'
                     '<pre><code class="hljs python">y</code></pre><pre class="wp-block-code">z</pre>')
    assert md == "```java\nint a;\n```\n\n```go\nx\n```\n\n```python\ny\n```\n\n```\nz\n```"



def test_gif_videos_and_uploaded_videos() -> None:
    se2 = ('<p>인트로</p><p><video class="fx _postImage _gifmp4" src="https://mblogvideo-phinf.pstatic.net/a.gif?type=mp4w800"'
           ' data-gif-url="https://mblogthumb-phinf.pstatic.net/a.gif?type=w210"></video></p>'
           '<p><iframe src="http://api.v.daum.net/widget2?nid=5375"></iframe></p>')
    assert naver(se2, 2) == ("인트로\n\n![](https://mblogthumb-phinf.pstatic.net/a.gif?type=w210)\n\n"
                             "[Video](http://api.v.daum.net/widget2?nid=5375)")
    assert tistory('<p><video controls><source src="https://x.test/v.mp4"></video></p>') == "[Video](https://x.test/v.mp4)"


def test_other_components_keep_text_pictures_and_links() -> None:
    wrapped = ('<div class="se-component se-wrappingParagraph"><div class="se-module-image"><img src="https://postfiles'
               '.pstatic.net/a/w.jpg?type=w80_blur" data-lazy-src="https://postfiles.pstatic.net/a/w.jpg?type=w400">'
               '</div><p class="se-text-paragraph">감싼 <b>글</b></p><script>x()</script></div>')
    assert naver(wrapped, 4) == "![](https://postfiles.pstatic.net/a/w.jpg?type=w800)\n\n감싼 **글**"
    book = ('<div class="se_component se_subjectMatter book"><img src="https://bookthumb-phinf.pstatic.net/c/1.jpg">'
            '<p><b>캐스터브리지의 시장</b></p><p>저자: 토마스 하디</p>'
            '<a href="http://book.naver.com/bookdb/book_detail.php?bid=1">상세보기</a></div>')
    assert naver(book, 3) == ("![](https://bookthumb-phinf.pstatic.net/c/1.jpg)\n\n**캐스터브리지의 시장**\n\n"
                              "저자: 토마스 하디\n\n[상세보기](http://book.naver.com/bookdb/book_detail.php?bid=1)")


def test_embeds_are_links_and_ads_are_dropped() -> None:
    md = tistory('<p>앞</p><script src="https://gist.github.com/u/abc123.js"></script>'
                 '<iframe src="https://codepen.io/a/embed/x" title="Pen"></iframe>'
                 '<iframe src="https://googleads.g.doubleclick.net/pagead/ads"></iframe>'
                 '<iframe src="https://www.google.com/recaptcha/api2/anchor"></iframe><p>뒤</p>')
    assert md == "앞\n\n[gist](https://gist.github.com/u/abc123)\n\n[Pen](https://codepen.io/a/embed/x)\n\n뒤"
