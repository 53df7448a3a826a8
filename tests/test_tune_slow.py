"""Integration on the embedded Gemma 3 270M: a handful of LoRA steps teach an invented, very marked style (every
sentence ends in "~당 ㅎㅎ") that the base model never writes. Minutes on 2 cores: marked slow.

The converted base comes from the `embedded_base` fixture: converted once, then kept between runs in
~/.cache/blogbot/tests (or $BLOGBOT_TEST_CACHE), keyed by the model package's sha256."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bot.core.records import Post

MARK = "당 ㅎㅎ"
STEMS = [
    "오늘은 아침 일찍 일어나서 시장에 다녀왔",
    "날씨가 좋아서 한강까지 천천히 걸었",
    "고양이 두부가 창가에서 낮잠을 잤",
    "점심으로 된장찌개를 끓여 먹었",
    "도서관에서 요리책을 두 권 빌렸",
    "친구랑 망원동 카페에서 수다를 떨었",
    "저녁에는 베란다 화분에 물을 줬",
    "비가 와서 집에서 파전을 부쳤",
    "가계부를 정리하면서 반성했",
    "새로 산 운동화를 신고 산책했",
    "동네 빵집에서 소금빵을 샀",
    "밤에는 일기를 쓰고 일찍 잤",
]


def styled_posts(n: int = 14) -> list[Post]:
    rng = random.Random(1)
    out = []
    for i in range(n):
        paras = ["\n".join(f"{rng.choice(STEMS)}~{MARK}" for _ in range(3)) for _ in range(3)]
        out.append(Post(platform="files", source_id=f"s{i}", title=f"{rng.choice(STEMS)[:8]} 일상 기록 {i}",
                        body_markdown="\n\n".join(paras), tags=["일상"]))
    return out


@pytest.mark.slow
def test_a_few_steps_teach_a_marked_style(embedded_cache: Path, tmp_path: Path) -> None:
    from bot.core.config import Config
    from bot.voice import generate, tune

    cfg = Config(data_dir=tmp_path / "data", model={"cache_dir": str(embedded_cache)},
                 tune={"max_steps": 10, "eval_every": 5, "seq_len": 128, "batch_tokens": 512, "learning_rate": 1e-3,
                       "min_posts": 4, "holdout": 0.2, "patience": 5,
                       "preference_steps": 4, "preference_pairs": 8, "preference_tokens": 24},  # a short round
                 generate={"max_new_tokens": 60, "temperature": 0.7, "title_step": False})
    topics = ["봄날 공원 산책", "주말에 만든 김치볶음밥"]
    before = generate.load_backend(cfg, None)
    base_text = " ".join(before.generate(t, [], seed=1).body_markdown for t in topics)
    del before
    assert base_text.count(MARK) == 0, base_text

    m = tune.train(cfg, styled_posts(), tmp_path / "v0001")
    assert m["held_out_ppl_adapter"] < m["held_out_ppl_base"]
    assert m["preference"]["steps"] == 4 and m["preference"]["pairs"] >= 6  # the real model's preference round
    after = generate.load_backend(cfg, tmp_path / "v0001")
    texts = [after.generate(t, [], seed=1).body_markdown for t in topics]
    assert sum(t.count(MARK) for t in texts) >= 2, texts
    assert all("\u200b" not in t and "<strong>" not in t for t in texts)
