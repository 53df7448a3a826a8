"""Generation on a tiny random model: deterministic with a seed, merged cache per adapter version, artefacts
suppressed and cleaned, tags, retrieval; and the draft job around it (topic states, candidates, routing)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from _tiny_model import marked_posts


@pytest.fixture
def passing_gates(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.voice.style

    monkeypatch.setattr(bot.voice.style, "check_draft",
                        lambda cfg, db, d, notes=None: {"score": {"x": 1}, "gates": [], "passed": True})


def test_same_seed_same_text_and_merged_cache_reused(tiny_cfg, tiny_adapter, tmp_path: Path) -> None:
    from bot.voice import generate

    ad = tiny_adapter.path  # v0001, trained once per session on the tiny base
    b = generate.load_backend(tiny_cfg, ad)
    merged = list((tmp_path / "models" / "merged").glob("v*"))
    assert len(merged) == 1 and merged[0].name.startswith("v0001-")
    g1, g2 = b.generate("봄 산책", ["산책"], seed=3), b.generate("봄 산책", ["산책"], seed=3)
    assert g1.body_markdown == g2.body_markdown and g1.new_tokens == g2.new_tokens > 0
    assert g1.adapter_version == "v0001" and g1.base_model.startswith("folder:")
    assert g1.params["seed"] == 3 and g1.tokens_per_s > 0
    vocab = set(json.loads((ad / "vocab_ids.json").read_text()))
    assert len(vocab) <= b.vocab_size < len(b.tok)  # output layer restricted to the author's tokens + writing set
    mtime = merged[0].stat().st_mtime
    generate.load_backend(tiny_cfg, ad)  # second load: the cached merge, not a new one
    assert merged[0].stat().st_mtime == mtime and len(list((tmp_path / "models" / "merged").glob("v*"))) == 1


def test_int8_backend_generates_deterministically(tiny_cfg) -> None:
    from bot.voice import generate

    tiny_cfg.generate.quantize = "int8"
    b = generate.load_backend(tiny_cfg, None)
    assert b.dtype == "int8-dynamic"
    streamed: list[str] = []
    g = b.generate("두부 이야기", [], seed=5, on_text=streamed.append)
    assert g.new_tokens > 0 and b.generate("두부 이야기", [], seed=5).body_markdown == g.body_markdown
    assert streamed and "".join(streamed).strip()


def test_int8_scales_per_channel_round_each_row_on_its_own(tiny_cfg) -> None:
    import torch

    from bot.voice import generate

    tiny_cfg.generate.quantize = "int8"
    schemes = {}
    for scales in ("tensor", "channel"):
        tiny_cfg.generate.int8_scales = scales
        b = generate.load_backend(tiny_cfg, None)
        lin = next(m for m in b.model.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear))
        schemes[scales] = lin.weight().qscheme()
        assert b.generate("두부 이야기", [], seed=5).new_tokens > 0
    assert schemes == {"tensor": torch.per_tensor_affine, "channel": torch.per_channel_affine}


def test_artefact_tokens_are_banned_and_text_is_cleaned(tiny_base: Path) -> None:
    from transformers import AutoTokenizer

    from bot.voice.generate import banned_token_ids, clean_text

    tok = AutoTokenizer.from_pretrained(tiny_base)
    tok.add_tokens(["\n\n\n", "<u>"])  # Gemma 3's line breaks are added tokens, as are its HTML tags
    names = set(tok.convert_ids_to_tokens(banned_token_ids(tok)))
    assert {"<strong>", "</u>", "<u>", "\u200b\u200b"} <= names and tok.eos_token not in names
    assert "\n\n\n" in tok.get_vocab() and "\n\n\n" not in names  # line breaks stay writable
    raw = "첫 줄<strong><u>강조</u></strong>이에요\n\u200b\n\u200b\u200b\n\n\n\n둘째 줄<br>셋째 줄"
    assert clean_text(raw) == "첫 줄강조이에요\n\n둘째 줄\n셋째 줄"


def test_suggested_tags_and_related_posts() -> None:
    from bot.voice.generate import suggest_tags
    from bot.voice.style.retrieve import related_posts

    posts = marked_posts(6)
    posts[2].title, posts[2].tags = "망원시장 빵집 탐방", ["빵"]
    assert related_posts(posts, "망원시장 빵집 지도", None, k=2)[0] is posts[2]
    tags = suggest_tags("망원시장 빵집 지도 만들기", ["지도"], "빵이 맛있다", [posts[2]])
    assert tags[0] == "지도" and "빵" in tags and "망원시장" in tags and len(tags) <= 5


def test_draft_job_writes_a_draft_and_moves_the_topic(tiny_cfg, passing_gates, tmp_path: Path) -> None:
    from bot.core import drafts, topics
    from bot.core.store import open_db
    from jobs import draft as draft_job

    (tmp_path / "topics.yaml").write_text("- 첫눈 오는 날 산책\n- topic: 두 번째\n  tags: [두부]\n", encoding="utf-8")
    db = open_db(tiny_cfg.data_path)
    did = draft_job.run(tiny_cfg, db)
    d = drafts.get(db, did)
    assert d["topic"] == "첫눈 오는 날 산책" and d["adapter_version"] is None and d["status"] == "pending_review"
    assert Path(d["outbox_path"]).is_file() and d["params"]["n_candidates"] == 9  # best-of-9 by default
    assert d["params"]["best_of"]["n_max"] == 9 and d["params"]["best_of"]["stopped_by"] == "n_candidates"
    states = {t["topic"]: t["state"] for t in topics.list_topics(db)}
    assert states == {"첫눈 오는 날 산책": "drafted", "두 번째": "queued"}
    log = (tiny_cfg.data_path / "logs" / "generations.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(log[-1])["draft_id"] == did
    assert draft_job.run(tiny_cfg, db) is not None
    assert draft_job.run(tiny_cfg, db) is None  # queue empty


def test_best_of_n_keeps_the_other_candidates(tiny_cfg, passing_gates, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.core import drafts
    from bot.core.store import open_db
    from jobs import draft as draft_job

    calls = []

    def pick_best(cfg, db, topic, cands):
        calls.append(len(cands))
        return 1, [{"index": i, "passed": True, "score": {"s": s}, "gates": []} for i, s in enumerate([0.1, 0.9, 0.2])]

    monkeypatch.setitem(sys.modules, "bot.voice.style.select", types.SimpleNamespace(pick_best=pick_best))
    tiny_cfg.generate.n_candidates, tiny_cfg.generate.seed = 3, 11
    db = open_db(tiny_cfg.data_path)
    d = drafts.get(db, draft_job.run(tiny_cfg, db, topic="  봄   산책 "))
    assert calls == [3] and d["topic"] == "봄 산책"
    assert d["params"]["candidate_index"] == 1 and d["params"]["seed"] == 12
    assert [c["index"] for c in d["params"]["other_candidates"]] == [0, 2]
    assert [c["score"]["s"] for c in d["params"]["selection"]] == [0.1, 0.9, 0.2]


def test_best_of_n_writes_as_many_candidates_as_the_time_budget_allows(tiny_cfg) -> None:
    """n chosen by generate.draft_minutes: the first candidate always; another only while the time so far plus the
    slowest candidate yet fits."""
    from jobs import draft as draft_job

    now = [0.0]

    class Backend:
        def __init__(self, seconds):
            self.seconds, self.seeds = list(seconds), []

        def generate(self, topic, tags, examples, notes=None, seed=None, on_text=None):
            self.seeds.append(seed)
            now[0] += self.seconds.pop(0)
            return types.SimpleNamespace(title=topic, seed=seed, streamed=on_text is not None)

    def run(minutes, n, seconds):
        tiny_cfg.generate.draft_minutes, tiny_cfg.generate.n_candidates, tiny_cfg.generate.seed = minutes, n, 5
        b = Backend(seconds)
        cands, budget = draft_job.candidates(tiny_cfg, b, {"topic": "봄", "tags": []}, None, print,
                                             clock=lambda: now[0])
        return cands, budget, b

    cands, budget, b = run(1.0, 5, [25, 25, 25, 25, 25])  # 25 + 25 + 25 > 60: the third would pass the budget
    assert len(cands) == 2 and b.seeds == [5, 6] and budget["stopped_by"] == "draft_minutes"
    assert [c.streamed for c in cands] == [True, False] and budget["seconds"] == 50 and budget["budget_s"] == 60
    cands, budget, _ = run(1.0, 5, [90, 10])  # the first always, even over the budget
    assert len(cands) == 1 and budget["stopped_by"] == "draft_minutes"
    cands, budget, _ = run(1.0, 5, [10, 30, 10, 10])  # the slowest candidate yet, not the last, is the estimate
    assert len(cands) == 2 and budget["seconds"] == 40
    cands, budget, _ = run(10.0, 3, [25, 25, 25, 25])
    assert len(cands) == 3 and budget["stopped_by"] == "n_candidates"


def test_bad_topics_and_failures_lose_nothing(tiny_cfg, passing_gates, monkeypatch, tmp_path: Path) -> None:
    from bot.core import topics
    from bot.core.errors import InputError
    from bot.core.store import open_db
    from jobs import draft as draft_job

    db = open_db(tiny_cfg.data_path)
    with pytest.raises(InputError, match="empty"):
        draft_job.run(tiny_cfg, db, topic="   ")
    with pytest.raises(InputError, match="too long"):
        draft_job.run(tiny_cfg, db, topic="가" * 201)
    (tmp_path / "topics.yaml").write_text("- 망가질 주제\n", encoding="utf-8")
    import bot.voice.generate

    def boom(*a, **k):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(bot.voice.generate, "load_backend", boom)
    with pytest.raises(RuntimeError):
        draft_job.run(tiny_cfg, db)
    assert topics.list_topics(db)[0]["state"] == "failed"
    assert db["drafts"].count == 0


def test_write_cli_rejects_an_empty_topic(cli) -> None:
    r = cli("write", "")
    assert r.code == 2 and "the topic is empty" in r.err


def test_examples_and_notes_are_framed_in_the_authors_language() -> None:
    from bot.core.records import Post
    from bot.voice.text import with_context

    en = [Post(platform="files", source_id="a", title="Rainy commute", body_markdown="The bus was late again.")]
    ko = [Post(platform="files", source_id="b", title="비 오는 출근길", body_markdown="버스가 또 늦었다.")]
    assert with_context("Topic: buses", en, "mention the umbrella").startswith(
        "[Example] Rainy commute\nThe bus was late again.\n\n[Note] mention the umbrella\n\n---\n\n")
    assert with_context("주제: 버스", ko, "우산 이야기").startswith("[참고] 비 오는 출근길\n")
    assert "[메모] 우산 이야기" in with_context("주제: 버스", ko, "우산 이야기")


def test_sparing_layout_keeps_line_breaks_out_of_the_penalty_and_the_ngram_ban(tiny_base: Path) -> None:
    """generate.spare_layout: the same repetition penalty and 4-gram ban, except on line breaks and spaces."""
    import torch
    from transformers import AutoTokenizer, NoRepeatNGramLogitsProcessor

    from bot.voice.inference import layout_ids, sparing_layout

    tok = AutoTokenizer.from_pretrained(tiny_base)
    tok.add_tokens(["\n\n"])  # Gemma 3's line breaks are added tokens
    free = layout_ids(tok)
    nl = tok.convert_tokens_to_ids("\n\n")
    a, b, c, word, unseen = [i for i in range(len(tok)) if i not in free and i not in tok.all_special_ids][10:15]
    assert nl in free and word not in free and tok.eos_token_id not in free
    # "a b c \n\n … a b c" then \n\n or the word again: a 4-gram repeated either way
    ids = torch.tensor([[a, b, c, nl, word, a, b, c]])
    ids2 = torch.tensor([[a, b, c, word, nl, a, b, c]])
    scores = torch.full((1, len(tok)), 2.0)
    plain = NoRepeatNGramLogitsProcessor(4)(ids, scores.clone())
    assert plain[0, nl] == float("-inf")  # transformers' ban takes the line break away
    spared = sparing_layout(1.5, 4, free)
    out = spared(ids, scores.clone())
    assert out[0, nl] == 2.0  # left as the model scored it
    assert spared(ids2, scores.clone())[0, word] == float("-inf")  # other tokens still banned
    assert out[0, word] == pytest.approx(2.0 / 1.5) and out[0, a] == pytest.approx(2.0 / 1.5)  # and penalised
    assert out[0, unseen] == 2.0  # a token not written yet: untouched


def test_local_backend_drafts_with_layout_spared(tiny_cfg) -> None:
    from bot.voice import generate

    tiny_cfg.generate.spare_layout = True
    g = generate.load_backend(tiny_cfg, None).generate("두부 이야기", [], seed=5)
    assert g.new_tokens > 0 and g.params["spare_layout"] is True and g.params["no_repeat_ngram_size"] == 4


def test_pace_holds_a_mark_down_while_one_more_would_go_over_the_authors_rate() -> None:
    """generate.pace: a mark is free while one more keeps its count within the author's rate over what is written
    plus PACE_AHEAD characters, and loses `penalty` logits otherwise; each row of a batch keeps its own count."""
    import torch

    from bot.voice.inference import pace

    # vocabulary: 0 prompt filler, 1 "?" (1 char), 2 a 50-character word, 3 "!?" (both marks)
    hits = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    table = (["question", "excl"], hits, torch.tensor([1.0, 1.0, 50.0, 2.0]))
    rates = {"question": 5.0, "excl": 0.0}  # one "?" per 200 characters, never "!"
    proc = pace(rates, table, n_prompt=2, penalty=4.0, ahead=50)
    scores = torch.zeros((2, 4))
    ids = torch.tensor([[0, 0], [0, 0]])
    out = proc(ids, scores.clone())  # nothing written: 1 > 5/1000 × 50 for "?"; "!" is never the author's
    assert out[0].tolist() == [0.0, -4.0, 0.0, -8.0]
    for _ in range(2):  # 50, then 100 characters written (+ 50 ahead): one "?" would still go over
        ids = torch.cat([ids, torch.tensor([[2], [2]])], 1)
        assert proc(ids, scores.clone())[:, 1].tolist() == [-4.0, -4.0]
    ids = torch.cat([ids, torch.tensor([[2], [1]])], 1)  # row 0: 150 characters; row 1 writes a "?" instead
    out = proc(ids, scores.clone())
    assert out[0, 1] == 0.0 and out[0, 3] == -4.0  # row 0 may; "!?" still loses the "!" share
    assert out[1, 1] == -4.0  # row 1 has used its one
    assert out[:, 0].tolist() == [0.0, 0.0] and out[:, 2].tolist() == [0.0, 0.0]  # other tokens untouched


def test_pace_lets_through_a_mark_the_adapters_rates_do_not_name() -> None:
    """An adapter tuned before emoji were paced has no emoji rate: its emoji tokens keep their logits (an author who
    writes emoji keeps them until the next tune measures the rate), while a rate of 0 holds them from the start."""
    import torch

    from bot.voice.inference import pace

    hits = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # 0 filler, 1 "?", 2 an emoji
    table = (["question", "emoji"], hits, torch.tensor([1.0, 1.0, 1.0]))
    ids, scores = torch.tensor([[0, 0]]), torch.zeros((1, 3))
    assert pace({"question": 0.0}, table, n_prompt=2, penalty=3.0)(ids, scores.clone())[0].tolist() == [0, -3, 0]
    assert pace({"question": 0.0, "emoji": 0.0}, table, 2, 3.0)(ids, scores.clone())[0].tolist() == [0, -3, -3]


def test_the_embedded_tokenizers_emoji_tokens_are_paced(embedded_base: Path) -> None:
    """mark_table finds the tokens that write an emoji (features._EMOJI) in Gemma's vocabulary, where each emoji is
    one token; a byte-level vocabulary that splits an emoji into bytes leaves it unpaced (inference.mark_table)."""
    from transformers import AutoTokenizer

    from bot.voice.inference import mark_table

    tok = AutoTokenizer.from_pretrained(embedded_base)
    marks, hits, _ = mark_table(tok)
    emoji = hits[:, marks.index("emoji")]
    for text in ("좋아요 🙂", "최고 👍", "✨ 오늘"):
        assert any(emoji[i] for i in tok(text, add_special_tokens=False)["input_ids"]), text
    assert not any(emoji[i] for i in tok("좋아요? ㅋㅋ!", add_special_tokens=False)["input_ids"])


def test_the_local_backend_paces_the_marks_an_adapter_measured_on_its_author(tmp_path: Path, tiny_cfg,
                                                                           tiny_adapter) -> None:
    """The adapter carries its author's rates (tune writes them next to the prompt template); with generate.pace
    the draft writes no mark its author never writes, where the same seed unpaced does."""
    import json
    import shutil

    from bot.voice import generate
    from bot.voice.inference import mark_table

    meta = json.loads((tiny_adapter.path / "prompt_template.json").read_text(encoding="utf-8"))
    assert meta["paced_rates"]["hh"] > 0 and meta["paced_rates"]["question"] == 0.0  # marked_posts: ㅎㅎ, never "?"
    never = tmp_path / "v0002"
    shutil.copytree(tiny_adapter.path, never)
    (never / "prompt_template.json").write_text(json.dumps({**meta, "paced_rates": dict.fromkeys(meta["paced_rates"],
                                                                                                   0.0)}))
    tiny_cfg.generate.max_new_tokens, tiny_cfg.generate.pace = 48, 0.0
    backend = generate.load_backend(tiny_cfg, never)
    _, hits, _ = mark_table(backend.tok)

    def marks(g: generate.Generation) -> int:
        ids = backend.tok(g.body_markdown, add_special_tokens=False)["input_ids"]
        return int(hits[ids].sum())

    seeds = range(6)
    plain = [backend.generate("두부 이야기", [], seed=s) for s in seeds]
    assert sum(marks(g) for g in plain) > 0 and {g.params["pace"] for g in plain} == {0.0}
    tiny_cfg.generate.pace = 1000.0
    backend = generate.load_backend(tiny_cfg, never)
    paced = [backend.generate("두부 이야기", [], seed=s) for s in seeds]
    assert [marks(g) for g in paced] == [0] * len(paced) and {g.params["pace"] for g in paced} == {1000.0}
