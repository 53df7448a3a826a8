"""The style profile of known texts matches hand-counted features; masking keeps style and drops topic words."""

from __future__ import annotations

import pytest

from bot.voice.style.features import PACED, analyze, features, held_marks, honorific_level, language, paced_rates

KNOWN = ("안녕하세요 저는 민지예요. 오늘은 날씨가 좋았다! 정말 맛있었습니다 ㅋㅋ\n\n"
         "내가 먹은 떡볶이는 최고였당 ㅎㅎ 다음에 또 갈게용~ 진짜 강추함 ㅠㅠ")


def test_profile_of_known_text_matches_hand_counts() -> None:
    c = analyze(KNOWN).counts
    # seven sentences, counted by hand: 안녕하세요 / 민지예요. / 좋았다! / 맛있었습니다 ㅋㅋ / 최고였당 ㅎㅎ /
    # 갈게용~ / 강추함 ㅠㅠ
    assert c["sentences"] == 7
    assert (c["end_yo"], c["end_da"], c["end_seumnida"], c["end_dang"], c["end_yong"], c["end_eum"]) == \
           (2, 1, 1, 1, 1, 1)
    assert (c["fp_humble"], c["fp_plain"]) == (1, 1)  # 저는 / 내가
    assert (c["kk"], c["hh"], c["tt"], c["tilde"], c["excl"], c["question"]) == (1, 1, 1, 1, 1, 0)
    assert c["paragraphs"] == 2 and c["chars"] == len(KNOWN)
    f = features(c)
    assert f["end_yo"] == pytest.approx(2 / 7)
    assert f["polite"] == pytest.approx(3 / 7) and f["formal"] == pytest.approx(1 / 7)
    assert f["casual"] == pytest.approx(3 / 7)
    assert f["fp_humble_share"] == pytest.approx(0.5)
    assert f["kk"] == pytest.approx(1000 / len(KNOWN))


def test_layout_features_counted() -> None:
    text = "# 제목\n\n## 재료\n\n- 떡 두 줌\n- 계란 1개\n1. 끓인다\n\n**중요**: 간은 마지막에 해요 😊✨"
    c = analyze(text).counts
    assert (c["headings"], c["lists"], c["bold"], c["emoji"]) == (2, 3, 1, 2)


def test_honorific_level() -> None:
    assert honorific_level(features(analyze("좋았습니다. 감사합니다. 또 오겠습니다.").counts)).startswith("formal")
    assert honorific_level(features(analyze("좋았어요. 또 올게요. 맛있죠?").counts)).startswith("polite")
    assert honorific_level(features(analyze("좋았다. 또 와야지. 맛있네.").counts)).startswith("casual")


def test_masking_keeps_endings_particles_layout_and_drops_content_words() -> None:
    a = analyze("## 망원시장 후기\n\n두부랑 2024년에 망원시장 갔어용 ㅎㅎ Python도 좋아요!")
    for kept in ("## ", "\n\n", "랑 ", "년에 ", "갔어용 ㅎㅎ", "도 좋아요!"):
        assert kept in a.masked
    for gone in ("망원시장", "두부", "2024", "Python", "후기"):
        assert gone not in a.masked


def test_english_degrades_gracefully() -> None:
    text = "I think we should go. It's 3 pm! Really, I don't know."
    a = analyze(text)
    assert a.lang == "en" == language(text)
    assert a.counts["sentences"] == 3 and a.counts["fp_plain"] == 2 and a.counts["contractions"] == 2
    assert a.masked == "I N we should N. It's 0 N! Really, I don't N."
    f = features(a.counts)
    assert sum(f["end_" + e] for e in ("yo", "da", "seumnida")) == 0  # Korean endings simply absent
    assert honorific_level(f) == "n/a"


def test_empty_and_symbol_only_text() -> None:
    assert language("") == "other" and language("!!! 123") == "other"
    f = features(analyze("").counts)
    assert f["sentence_chars"] == 0 and f["end_yo"] == 0


def test_paced_rates_are_the_profiles_runs_per_thousand_characters_over_every_text() -> None:
    """generate.pace holds a draft to these rates: the same runs and the same per-1,000-characters rate as the
    profile's features, pooled over the author's posts (a run of marks counts once)."""
    texts = ["정말?? 그래!!! 음... 좋다~ ㅋㅋㅋ " + "가" * 80, "왜? 아… ㅠㅠ " + "나" * 100]
    r = paced_rates(texts)
    chars = sum(len(t) for t in texts)
    assert r["question"] == pytest.approx(1000 * 2 / chars, abs=1e-4)
    assert r["excl"] == pytest.approx(1000 / chars, abs=1e-4) and r["kk"] == pytest.approx(1000 / chars, abs=1e-4)
    assert r["ellipsis"] == pytest.approx(1000 * 2 / chars, abs=1e-4) and r["hh"] == 0.0
    one = features(analyze(texts[0]).counts)
    assert paced_rates(texts[:1]) == {k: pytest.approx(one[k], abs=1e-4) for k in r}
    assert paced_rates([]) == {} and paced_rates([""]) == {}


def test_a_mark_is_held_down_while_one_more_would_go_over_the_authors_rate() -> None:
    """The rule both roads pace by (generate.pace): one "?" per 200 characters is free from the start (1 within
    5/1000 x 200 ahead), held once written until the text has caught up; a mark the author never writes is held,
    emoji among them."""
    rates = {**dict.fromkeys(PACED, 0.0), "question": 5.0}
    assert held_marks(rates, "") == set(PACED) - {"question"} and "emoji" in PACED
    assert "question" in held_marks(rates, "왜?")  # two would be over 5/1000 x 202
    assert "question" in held_marks(rates, "왜?" + "가" * 197)  # 2 > 5/1000 x 399
    assert "question" not in held_marks(rates, "왜?" + "가" * 198)  # 2 within 5/1000 x 400
    assert "question" in held_marks(rates, "왜?? 뭐?" + "가" * 300)  # runs count: two of them
    assert held_marks({k: 1000.0 for k in PACED}, "!!! ~ ㅋㅋ") == set()
    assert "emoji" not in held_marks({"emoji": 5.0}, "좋다")  # one within 5/1000 x 202
    assert "emoji" in held_marks({"emoji": 5.0}, "좋다 🙂")  # two would be over 5/1000 x 204
    assert "emoji" not in held_marks({"emoji": 5.0}, "좋다 🙂" + "가" * 196)  # 2 within 5/1000 x 400


def test_a_mark_the_rates_do_not_name_is_let_through() -> None:
    """An adapter tuned before a mark was paced has no rate for it: the mark drafts as before (held down from the
    first token, emoji would vanish from the drafts of an author who writes them), the others are still paced."""
    old = {k: 0.0 for k in PACED if k != "emoji"}
    assert held_marks(old, "") == set(PACED) - {"emoji"}
    assert held_marks(old, "🙂🙂🙂") == set(PACED) - {"emoji"}
    assert held_marks({}, "?!") == set()
