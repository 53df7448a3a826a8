"""The shared HTML → Markdown conversion: each construct a blog body uses."""

from __future__ import annotations

import pytest

from platforms.markdown import Raw, blocks_to_markdown, looks_truncated, to_markdown


@pytest.mark.parametrize("html,md", [
    ("<h1>제목</h1><h3>작은 <b>제목</b></h3>", "# 제목\n\n### 작은 **제목**"),
    ("<p>가 <strong>굵게 </strong>나 <em>기울임</em> <del>취소</del></p>", "가 **굵게** 나 *기울임* ~~취소~~"),
    ("<p>줄<br>바꿈</p>", "줄\n바꿈"),  # the hard break's two spaces go in normalize_text
    ("<blockquote><p>하나</p><p>둘</p></blockquote>", "> 하나\n>\n> 둘"),
    ("<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>", "- a\n  - b\n- c"),
    ("<ol start='3'><li>셋</li><li>넷</li></ol>", "3. 셋\n4. 넷"),
    ('<pre><code class="language-python">x = 1\n\nprint(x)\n</code></pre>', "```python\nx = 1\n\nprint(x)\n```"),
    ('<pre data-ke-language="java"><code>a</code></pre>', "```java\na\n```"),
    ("<p>인라인 <code>a_b*c</code> 코드</p>", "인라인 `a_b*c` 코드"),
    ("<table><tr><td>a</td><td>b|c</td></tr><tr><td>1</td></tr></table>", "| a | b\\|c |\n| --- | --- |\n| 1 |  |"),
    ('<p><a href="https://x.test/a b">링크</a> <a href="#top">앵커</a> <a href="https://x.test"></a></p>',
     "[링크](https://x.test/a%20b) 앵커"),
    ('<p><img src="data:x" data-lazy-src="https://i.test/1.png" alt="고양이"></p>', "![고양이](https://i.test/1.png)"),
    ("<p>snake_case *별*</p>", "snake\\_case \\*별\\*"),
    ("<div>느슨한 글 <b>굵게</b><p>문단</p>꼬리</div>", "느슨한 글 **굵게**\n\n문단\n\n꼬리"),
    ("<p>위</p><hr><p>아래</p>", "위\n\n---\n\n아래"),
    ("<p>\u200b</p><p>&nbsp;</p><h2></h2><p>본문</p><script>x()</script>", "본문"),
])
def test_constructs(html: str, md: str) -> None:
    assert to_markdown(html) == md


def test_raw_blocks_pass_through_untouched() -> None:
    md = blocks_to_markdown(["<p>앞</p>", Raw("$$\na_i * b\n$$"), "<p>뒤</p>"])
    assert md == "앞\n\n$$\na_i * b\n$$\n\n뒤"


def test_truncated_document_detection() -> None:
    assert looks_truncated("<!DOCTYPE html><html><body><div>cut")
    assert not looks_truncated("<html><body>ok</body></html>")
    assert not looks_truncated("<p>a fragment</p>")
