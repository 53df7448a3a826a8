"""Quality gates: copying, degeneration, length, topic adherence, forbidden words (no fitted model needed)."""

from __future__ import annotations

from _style_corpus import BACKGROUND

from bot.core.config import GatesConfig
from bot.voice.style import gates as G
from bot.voice.style.voice import read_folder

G_DEFAULT = GatesConfig()


def _posts() -> list[str]:
    return read_folder(BACKGROUND / "mom_review")["mom_review"]


def test_copied_passage_trips_copy_gate() -> None:
    posts = _posts()
    idx = G.CopyIndex.build(posts[:-1])
    own_words = posts[3].split()
    passage = " ".join(own_words[10:40])  # 30 words lifted from a past post
    draft = "오늘은 새로 산 물건 이야기를 해볼게요. " + passage + " 다음에 또 올게요!"
    r = G.copy_gate(G_DEFAULT, idx, draft)
    assert not r["passed"], r
    assert "longest run shared" in r["detail"]
    assert r["figure"]["longest_run_chars"] > r["threshold"]["longest_run_chars"]
    assert idx.check(draft)["longest_run"] >= 60
    # the author's held-out post (not in the index) passes: its overlap is the natural one
    assert G.copy_gate(G_DEFAULT, idx, posts[-1])["passed"]


def test_copy_is_measured_on_characters_so_korean_overlap_is_real() -> None:
    posts = _posts()
    idx = G.CopyIndex.build(posts[:-1])
    # word 8-grams never repeat between this author's posts; 10-character windows do: a real, non-zero rate
    assert idx.natural_share > 0 and idx.natural_run_max >= G.COPY_WINDOW
    assert G.natural_copy_rate(posts) > 0
    # a paragraph of a past post, re-spaced and with its particles intact, is still found
    para = max(posts[5].split("\n\n"), key=len)
    draft = posts[-1] + "\n\n" + para.replace(" ", "  ")
    assert not G.copy_gate(G_DEFAULT, idx, draft)["passed"]


def test_longest_run_is_exact() -> None:
    idx = G.CopyIndex.build(["가나다라마바사아자차카타파하", "xyz"])
    assert idx.check("큐 가나다라 마바사아자차카 타 퀴")["longest_run"] == 12  # spaces do not count
    assert idx.check("가나다라마바사")["longest_run"] == 0  # shorter than one window
    assert G.CopyIndex.build(["가나다라마바사아자차카", "가나다라마바사아자차카타", "파하"]).natural_share > 0


def test_degenerate_repetitive_text_trips_repetition_gate() -> None:
    looped = "정말 맛있어요 다음에 또 먹고 싶어요 " * 30
    assert not G.repetition_gate(G_DEFAULT, looped)["passed"]
    lines = "\n".join(["오늘도 좋은 하루 보내세요!"] * 10 + ["끝"])
    assert not G.repetition_gate(G_DEFAULT, lines)["passed"]
    assert not G.repetition_gate(G_DEFAULT, "ㅋ" * 60)["passed"]
    assert not G.repetition_gate(G_DEFAULT, "@@## $$ %% 12 34 !! ?? ** -- ++ == << >> :: ;;" * 3)["passed"]
    assert G.repetition_gate(G_DEFAULT, _posts()[0])["passed"]


def test_every_form_of_degeneration_trips_repetition_gate() -> None:
    post = _posts()[0]
    tags = "쌀과자 간식 육아 아기 후기 추천 마트 유기농 돌 떡뻥 과자 맘".split()
    hashtag_run = post + "\n\n" + " ".join(f"#{w}" for w in tags)
    r = G.repetition_gate(G_DEFAULT, hashtag_run)
    assert not r["passed"] and "hashtag" in r["detail"] and r["figure"] == 12
    assert G.repetition_gate(G_DEFAULT, hashtag_run, max_hashtags=15)["passed"]  # an author who tags that much
    family = post + "\n\n#난리 #난리남 #난리할때는 #난리치킨 #난리법석 #난리다"
    assert not G.repetition_gate(G_DEFAULT, family)["passed"]
    items = post + "\n\n- 쌀과자 두 봉지\n- 우유 한 팩\n- 쌀과자 두 봉지\n- 우유 한 팩\n- 쌀과자 두 봉지"
    r = G.repetition_gate(G_DEFAULT, items)
    assert not r["passed"] and "list items" in r["detail"]
    short = post + "\n\nㅋㅋ 진짜\n좋아요\nㅋㅋ 진짜\n좋아요\nㅋㅋ 진짜"
    r = G.repetition_gate(G_DEFAULT, short)
    assert not r["passed"] and "short line" in r["detail"]
    r = G.repetition_gate(G_DEFAULT, post + " 긕\ufffd")
    assert not r["passed"] and "2 broken characters" in r["detail"]
    assert G.repetition_gate(G_DEFAULT, post + " 똠얌꿍", allowed_rare={"똠"})["passed"]
    for p in _posts():  # the author's own posts pass
        assert G.repetition_gate(G_DEFAULT, p)["passed"], p[:80]


def test_empty_draft_trips_repetition_gate() -> None:
    for text in ("", "   \n ", "짧음"):
        r = G.repetition_gate(G_DEFAULT, text)
        assert not r["passed"] and "empty" in r["detail"]


def test_off_topic_draft_trips_topic_gate() -> None:
    post = _posts()[0]  # a rice snack review
    off = G.topic_gate(G_DEFAULT, "쿠버네티스 클러스터 모니터링 구축기", ["쿠버네티스", "모니터링"], post)
    assert not off["passed"] and off["detail"].startswith("0%")
    assert G.topic_gate(G_DEFAULT, "아이 간식 쌀과자 후기", ["쌀과자"], post)["passed"]
    assert G.topic_overlap("", [], post) is None  # nothing to check against
    assert G.topic_overlap("Kubernetes monitoring at home", [], "I set up Kubernetes monitoring.") == 2 / 3


def test_topic_gate_checks_the_notes_key_points() -> None:
    notes = "일산화탄소 경보기를 꼭 강조. 작년 캠핑 실수 위주로"
    assert len(G.note_points(notes)) == 2
    text = "캠핑 준비물 이야기를 해볼게요. 텐트와 침낭을 챙겼어요. 작년에는 실수가 많았어요."
    r = G.topic_gate(G_DEFAULT, "겨울 캠핑 준비물", [], text, notes)
    assert not r["passed"] and "1 of 2 points" in r["detail"] and r["figure"]["notes"] == 0.5
    ok = G.topic_gate(G_DEFAULT, "겨울 캠핑 준비물", [], text + " 일산화탄소 경보기는 꼭 켜 두세요.", notes)
    assert ok["passed"] and "2 of 2 points" in ok["detail"]
    assert G.topic_gate(G_DEFAULT, "겨울 캠핑 준비물", [], text, None)["figure"]["notes"] is None


def test_length_gate_uses_author_range() -> None:
    g = GatesConfig(length_tolerance=0.5)
    assert G.length_gate(g, (1000, 2000), "가" * 1500)["passed"]
    assert not G.length_gate(g, (1000, 2000), "가" * 300)["passed"]
    assert not G.length_gate(g, (1000, 2000), "가" * 3100)["passed"]
    assert G.length_gate(g, None, "가")["passed"]


def test_forbidden_words() -> None:
    g = GatesConfig(forbidden_words=["광고", "Casino"])
    assert not G.forbidden_gate(g, "이 글은 casino 후기")["passed"]
    assert "광고" in G.forbidden_gate(g, "협찬 광고 아님")["detail"]
    assert G.forbidden_gate(g, "평범한 글")["passed"]


def test_related_posts_retrieval() -> None:
    from bot.core.records import Post
    from bot.voice.style.retrieve import related_posts

    posts = [Post("files", str(i), t, b) for i, (t, b) in enumerate([
        ("망원시장 장보기", "시장에서 떡이랑 고기를 샀어용"), ("고양이 두부 입양 1주년", "두부가 우리 집에 온 지 1년"),
        ("제주 혼자 여행", "바다를 보러 혼자 떠났당"), ("두부 털갈이 전쟁", "고양이 털이 온 집에 날려용")])]
    got = related_posts(posts, "고양이 두부 이야기", ["고양이"], k=2)
    assert {p.title for p in got} == {"고양이 두부 입양 1주년", "두부 털갈이 전쟁"}
    assert related_posts(posts, "", None, k=1)[0].title == "두부 털갈이 전쟁"  # no topic: most recent
    assert related_posts(posts, "x", None, k=0) == []


def test_distance_anchors_and_unusable_profile() -> None:
    from bot.voice.style import distance

    own = [[0.0, 1.0], [0.1, 1.1], [0.0, 0.9], [0.1, 1.0]]
    far = {"x": [[1.0, 3.0], [1.1, 3.2]], "y": [[0.9, 2.8], [1.0, 3.1]]}
    d = distance.fit(own, far)
    assert d.usable
    assert d.normalized([0.05, 1.0]) == 0.0
    assert 0.7 < d.normalized([1.0, 3.0]) < 1.3
    same = distance.fit(own, {"x": own})  # others write exactly like the author: no separation
    assert not same.usable and same.normalized([5.0, 5.0]) is None


def test_repetition_gate_passes_real_post_layout() -> None:
    """Forms seen in real tech posts that are layout, not degeneration (five real Korean bloggers' posts failed on
    each): table padding and rules, code blocks with repeated lines and `#include`, `<br>` lines, the same fence
    opened again and again, `#1` in inline code, a label repeated under parallel sections."""
    post = _posts()[0]
    table = ("| 구분      | callback                  | promise |\n| :-------------------: | :--: | :---: |\n"
             "| 장점 | 쉽다 | 길다 |")
    code = "```c\n#include <stdio.h>\n#include <stdlib.h>\n" + "}\n" * 5 + "####################\n```"
    fences = "\n".join(f"```yml\nkey{i}: value\n```" for i in range(5))
    breaks = "<br>\n" * 5
    inline = "코드 상의 `#1`과 `#4`, `#2`와 `#3`, 다시 `#1`과 `#2`에서 `#3`으로 `#4`가 `#1`" * 2
    sections = "\n".join(f"### 방법 {i}\n- 장점\n- 빠르다 {i}\n- 단점\n- 느리다 {i}" for i in range(3))
    rule = "-" * 40
    for extra in (table, code, fences, breaks, inline, sections, rule):
        r = G.repetition_gate(G_DEFAULT, post + "\n\n" + extra + "\n\n" + post[:200])
        assert r["passed"], (extra[:40], r["detail"])
    # the same degeneration outside the code block is still caught, and a block left open is read as prose
    assert not G.repetition_gate(G_DEFAULT, post + "\n\n" + "#" * 20)["passed"]
    assert not G.repetition_gate(G_DEFAULT, post + "\n\n```\n" + "ㅋ" * 40)["passed"]
    r = G.repetition_gate(G_DEFAULT, post + "\n\n- 빵\n- 빵\n- 우유")  # an item right after itself
    assert r["passed"]  # one repeat is not a run
    r = G.repetition_gate(G_DEFAULT, post + "\n\n- 빵\n- 빵\n- 빵")
    assert not r["passed"] and "cycling" in r["detail"]
