"""The sense and layout gates, the distance-derived headline and the generation record (no fitted voice needed)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from _style_corpus import BACKGROUND, DEMO

from bench import sense as bench_sense
from bot.voice.style import distance, in_words, layout, sense, summary
from bot.voice.style.voice import read_folder

STORED = Path(__file__).resolve().parents[1] / "bench" / "sense" / "drafts-bench-style.jsonl"


@pytest.fixture(scope="module")
def demo() -> tuple[list[str], list[str], sense.SenseProfile]:
    """The demo blogger's posts: every 4th held out; the gate calibrated on the rest (+ the background for order)."""
    posts = read_folder(DEMO)[DEMO.name]
    train, held = [p for i, p in enumerate(posts) if i % 4 != 3], [p for i, p in enumerate(posts) if i % 4 == 3]
    bg = [t for ts in read_folder(BACKGROUND).values() for t in ts]
    return train, held, sense.calibrate(train, source="demo", order_texts=train + bg)


def test_real_posts_pass_and_corrupted_ones_do_not(demo) -> None:
    train, held, prof = demo
    assert prof.n == len(train) and {"oov", "morph", "order", "dup_chars"} <= set(prof.bounds)
    passed = [prof.check(t)["passed"] for t in held]
    assert sum(passed) >= len(held) - 1, [prof.check(t)["failed"] for t in held]
    rng = random.Random(0)
    for t in held:
        assert "hashtags" in prof.check(bench_sense.hashtag_run(t, rng))["failed"]
        assert "dup_chars" in prof.check(bench_sense.repeated_paragraph(t, rng))["failed"]
    shuffled = [prof.check(bench_sense.shuffled(t, rng))["passed"] for t in held]
    assert sum(shuffled) <= 2, "shuffled sentences should mostly fail the sentence-order signal"


def test_the_embedded_models_stored_drafts_fail(demo) -> None:
    *_, prof = demo
    drafts = [json.loads(line) for line in STORED.read_text(encoding="utf-8").splitlines()]
    mine = [d["body_markdown"] for d in drafts if d["author"] == "demo_blogger"]
    assert len(mine) >= 4
    for text in mine:
        r = prof.check(text)
        assert not r["passed"] and sense.describe(r), text[:80]


def test_broken_characters_and_one_liners_fail(demo) -> None:
    train, held, prof = demo
    for junk in ("\ufffd\ufffd", "긕", "\u1100"):
        r = prof.check(held[0] + junk)
        assert "broken" in r["failed"] and "broken characters" in sense.describe(r)
    assert sense.broken("ㅋㅋ 좋아요 ㅠㅠ") == 0 and sense.rare_syllables("긕 가") == {"긕"}
    assert "sentences" in prof.check("안녕하세용 두부집사예용.")["failed"]


def test_layout_gate_holds_the_authors_shape(demo) -> None:
    train, held, _ = demo
    prof = layout.calibrate(train)
    assert prof is not None and prof.n == len(train)
    assert all(prof.check(t, 0.5)["passed"] for t in held)
    wall = "\n\n".join(["오늘은 두부랑 한강에 다녀왔어용 날씨가 좋았고 바람도 선선했당 " * 6] * 4)  # huge paragraphs
    r = prof.check(wall, 0.5)
    assert not r["passed"] and "paragraph_chars" in r["out"] and "median paragraph length" in layout.describe(r)
    assert layout.calibrate(train[:2]) is None  # no range from two posts


def test_headline_is_derived_from_the_distance() -> None:
    own = [[0.0, 1.0], [0.1, 1.1], [0.0, 0.9], [0.1, 1.0], [0.05, 1.2], [0.12, 0.95]]
    d = distance.fit(own, {"x": [[1.0, 3.0], [1.1, 3.2]], "y": [[0.9, 2.8], [1.0, 3.1]]})
    pts = [[0.06, 1.02], [0.2, 1.3], [0.5, 2.0], [1.0, 3.0], [3.0, 6.0]]
    dist = [d.normalized(p) for p in pts]
    close = [d.closeness(p) for p in pts]
    assert dist == sorted(dist) and close == sorted(close, reverse=True)  # they can never disagree
    assert all(0.0 <= c <= 1.0 for c in close) and close[0] == 1.0 and close[-1] == 0.0
    s = {"style": 0.9, "style_source": "distance", "distance": 0.12, "reliable": True}
    assert in_words(s) == "closer to your style than 9 of 10 of your own posts"
    assert summary(s).startswith("style 90% — closer to your style than 9 of 10") and "distance 0.12" in summary(s)
    assert "farther" in in_words({**s, "style": 0.0})


def test_candidate_record_has_every_gate_and_the_prompt_hash() -> None:
    from bot.core.records import Generation, Post
    from bot.voice.style.record import candidate_record

    gen = Generation(title="t", body_markdown="b", tags=["x"], adapter_version="v0001", base_model="embedded:x",
                     params={"temperature": 0.8, "seed": 3}, duration_s=2.0, new_tokens=10)
    check = {"passed": False, "score": {"style": 0.4, "distance": 0.8},
             "gates": [{"name": "sense", "passed": False, "detail": "word salad", "figure": {}, "threshold": {}},
                       {"name": "copy", "passed": True, "detail": "ok", "figure": 3, "threshold": 40}]}
    rec = candidate_record(at="2026-01-01T00:00:00Z", draft_id=7, topic={"id": "t1", "topic": "봄", "notes": "n"},
                           index=1, chosen=False, gen=gen, check=check, backend="local", prompt="주제: 봄",
                           examples=[Post("naver", "123", "a", "b")], keep_prompt=False)
    assert rec["prompt"] is None and len(rec["prompt_sha256"]) == 64 and rec["example_ids"] == ["naver:123"]
    assert [g["name"] for g in rec["gates"]] == ["sense", "copy"] and rec["held_back"].startswith("nonsense")
    assert rec["params"]["seed"] == 3 and rec["backend"] == "local" and rec["score"]["style"] == 0.4
    json.dumps(rec, ensure_ascii=False)


def _fake_voice(prof: sense.SenseProfile):
    """Just what check_text reads of a fitted voice (no classifiers to fit)."""
    from types import SimpleNamespace

    from bot.voice.style.gates import CopyIndex

    return SimpleNamespace(score=lambda text, mc: {"reliable": True, "lang": "ko"}, sense=prof, max_hashtags=0,
                           copy_index=CopyIndex.build(["다른 글입니다. 전혀 겹치지 않아요."]), length_range=None,
                           layout=None, posts=20, lang="ko", title_lengths=None)


def test_the_sense_lm_switch_and_the_lm_verdict_reach_the_gate(demo, cfg, monkeypatch) -> None:
    from bot.voice.style import check_text, lmorder

    train, held, prof = demo
    text = held[0]
    assert prof.check(text)["passed"]
    seen = []

    def fake_gap(cfg_, t):
        seen.append(t)
        return {"gap": -0.2, "t": -1.0, "sentences": 9, "seconds": 0.1}

    monkeypatch.setattr(lmorder, "gap", fake_gap)
    cfg.gates.sense_lm = False
    off = {g["name"]: g for g in check_text(cfg, _fake_voice(prof), "", text)["gates"]}["sense"]
    assert off["passed"] and not seen and "gates.sense_lm is off" in off["detail"]
    cfg.gates.sense_lm = True
    on = {g["name"]: g for g in check_text(cfg, _fake_voice(prof), "", text)["gates"]}["sense"]
    assert seen and not on["passed"] and on["figure"]["failed"] == ["lm_order"]
    assert "sentence order under the base model" in on["detail"] and "lm_order" in on["threshold"]
    # English essays' long sentences get a longer window
    assert lmorder.window_tokens(text) == lmorder.MAX_TOKENS < lmorder.window_tokens("I walked. It rained. We ate.")
    # a text the cheap signals already block is not read by the model
    seen.clear()
    assert not prof.check(text + "\ufffd", lm=lmorder.judge(cfg))["passed"] and not seen


def test_lm_order_separates_a_post_from_its_shuffled_copy(demo, embedded_cache, tmp_path) -> None:
    """On the embedded model: a real held-out post reads better in its order than re-ordered, its shuffled copy
    does not; a text of three sentences is left out with the reason."""
    from bot.core.config import Config
    from bot.voice.style import lmorder

    cfg = Config(data_dir=tmp_path / "data", model={"cache_dir": str(embedded_cache)})
    train, held, prof = demo
    text = held[0]
    real = lmorder.gap(cfg, text)
    mixed = lmorder.gap(cfg, bench_sense.shuffled(text, random.Random(3)))
    assert real["sentences"] >= lmorder.MIN_SENTENCES and real["tokens"] <= lmorder.MAX_TOKENS
    assert real[lmorder.STAT] >= lmorder.BOUNDS["ko"] > mixed[lmorder.STAT], (real, mixed)
    assert real["gap"] > mixed["gap"] + 0.05
    r = prof.check(text, lm=lambda t: real)  # (the figure just measured: no second forward pass)
    assert r["passed"] and r["signals"]["lm_order"] == real[lmorder.STAT]
    assert "sentence order under the base model" in sense.describe(r)
    short = lmorder.gap(cfg, "오늘은 비가 왔어요. 우산을 챙겼어요. 집에 왔어요.")
    assert short[lmorder.STAT] is None and "only 3 sentence(s)" in short["reason"]
    r = prof.check(text, lm=lambda t: short)
    assert "not checked: only 3 sentence(s)" in sense.describe(r)


def test_repeated_lines_in_code_blocks_and_tables_do_not_count() -> None:
    code = "```c\n} catch (err) {\n  return 0;\n}\n} catch (err) {\n  return 0;\n}\n```"
    table = "| a | b |\n| :--: | :--: |\n| 0 | 0 |\n| 0 | 0 |"
    para = "오늘은 두부랑 한강 공원에 다녀왔는데 바람이 정말 선선했어요."
    f = sense.measure(f"{para}\n\n{code}\n\n{table}\n\n마지막 문장이에요.")
    assert f["dup_lines"] == 0.0 and f["dup_chars"] == 0.0
    f = sense.measure(f"{para}\n\n{code}\n\n{para}")
    assert f["dup_chars"] == len(para) and f["dup_lines"] > 0


def test_the_base_model_has_the_last_word_on_sentence_order(demo) -> None:
    """When the cheap order model is the only signal against a text, the base model's order figure decides; without
    a figure from it the cheap verdict stands."""
    from dataclasses import replace

    from bot.voice.style import lmorder

    train, held, prof = demo
    text = held[0]
    strict = replace(prof, bounds={**prof.bounds, "order": 1e9})  # the cheap order model now rejects every text
    assert strict.check(text)["failed"] == ["order"]
    good = {lmorder.STAT: lmorder.BOUNDS["ko"] + 0.1, "seconds": 0.1}
    r = strict.check(text, lm=lambda t: good)
    assert r["passed"] and "overruling the cheap order model" in r["lm_note"]
    bad = {lmorder.STAT: lmorder.BOUNDS["ko"] - 0.1, "seconds": 0.1}
    assert strict.check(text, lm=lambda t: bad)["failed"] == ["lm_order"]
    assert strict.check(text, lm=lambda t: {"reason": "only 3 sentence(s)"})["failed"] == ["order"]
    # another cheap failure beside the order: no second opinion is asked
    seen = []
    assert not strict.check(text + "\ufffd", lm=lambda t: seen.append(t) or good)["passed"] and not seen


def test_code_blocks_are_not_read_as_prose() -> None:
    para = "오늘은 두부랑 한강 공원에 다녀왔는데 바람이 정말 선선했어요. 저녁에는 라면을 먹었어요."
    code = "```js\nconsole.log(1);\nsetTimeout(() => console.log(2), 0);\nPromise.resolve().then(() => 3);\n```"
    assert sense.measure(f"{para}\n\n{code}")["sentences"] == sense.measure(para)["sentences"]
    assert sense.measure(f"{para}\n\n{code}")["morph"] == sense.measure(para)["morph"]
    # a block opened and never closed is read: a draft cannot hide in it
    assert sense.measure(f"{para}\n\n```\n{para}")["sentences"] > sense.measure(para)["sentences"]
