"""bot.voice.tune on a tiny random model: the loss goes down, the adapter round-trips, too few posts, kill, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _tiny_model import marked_posts, write_config

from bot.core.records import Post
from platforms import load_config


def test_training_lowers_held_out_loss_and_writes_a_complete_folder(tiny_adapter) -> None:
    from bot.core import adapters

    out, m = tiny_adapter.path, tiny_adapter.metrics  # tune.train(tiny_cfg settings, marked_posts(12), out)
    assert m["held_out_ppl_adapter"] < m["held_out_ppl_base"] * 0.8
    first, last = m["history"][0]["loss"], m["history"][-1]["loss"]
    assert last < first
    assert m["steps"] == 12 and m["n_held_out_posts"] == 3 and m["n_train_posts"] == 9
    assert adapters.validate(out)["data_hash"] == m["data_hash"]
    for f in ("adapter_model.safetensors", "prompt_template.json", "training.json", "metrics.json"):
        assert (out / f).is_file()
    assert json.loads((out / "training.json").read_text())["tune"]["max_steps"] == 12
    assert not (out.parent / "v0001.work").exists()


def test_adapter_round_trip_gives_the_same_perplexity(tiny_cfg, tiny_adapter) -> None:
    from bot.voice import corpus, tune

    posts = marked_posts(12)  # what tiny_adapter was trained on, with tiny_cfg's settings
    out, m = tiny_adapter.path, tiny_adapter.metrics
    _, held = corpus.split(posts, tiny_cfg.tune.holdout, tiny_cfg.tune.seed, tiny_cfg.tune.min_posts)
    assert tune.perplexity_of(tiny_cfg, held, out) == pytest.approx(m["held_out_ppl_adapter"], rel=1e-3)
    assert tune.perplexity_of(tiny_cfg, held) == pytest.approx(m["held_out_ppl_base"], rel=1e-3)


def test_too_few_posts_is_a_clear_error(tiny_cfg, tmp_path: Path) -> None:
    from bot.core.errors import InputError
    from bot.voice import tune

    with pytest.raises(InputError, match="too few posts to tune: 3 stored, at least 4"):
        tune.train(tiny_cfg, marked_posts(3), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_kill_during_tuning_resumes_from_the_checkpoint(tiny_cfg, tmp_path: Path) -> None:
    from bot.voice import tune

    out, work = tmp_path / "v1", tmp_path / "work"

    def kill(step: int, loss: float) -> None:
        if step == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tune.train(tiny_cfg, marked_posts(12), out, work_dir=work, on_step=kill)
    assert not out.exists() and not list(tmp_path.glob(".v1*"))  # never a half-written adapter
    assert (work / "checkpoint.pt").is_file()
    m = tune.train(tiny_cfg, marked_posts(12), out, work_dir=work)
    assert m["resumed_from_step"] == 6 and m["steps"] == 12
    assert [h["step"] for h in m["history"]] == list(range(1, 13))
    assert not work.exists()


def test_packing_keeps_loss_on_completions_only(tiny_cfg, tiny_base: Path) -> None:
    from transformers import AutoTokenizer

    from bot.voice import corpus

    tok = AutoTokenizer.from_pretrained(tiny_base)
    exs = corpus.encode(tok, marked_posts(6, sentences=30) + marked_posts(6, seed=1, sentences=1), 128)
    assert all(len(e.input_ids) <= 128 for e in exs)
    assert len(exs) > 12  # long posts were windowed
    for e in exs:
        n_prompt = next(i for i, x in enumerate(e.labels) if x != corpus.IGNORE)
        assert tok.decode(e.input_ids[:n_prompt], skip_special_tokens=True).startswith("주제:")
    rows = corpus.pack(exs, 128)
    assert len(rows) < len(exs)
    assert sum(len(r.input_ids) for r in rows) == sum(len(e.input_ids) for e in exs)


def test_windows_after_the_first_read_the_text_before_them_without_learning_it(tiny_base: Path) -> None:
    from transformers import AutoTokenizer

    from bot.voice import corpus

    tok = AutoTokenizer.from_pretrained(tiny_base)
    (post,) = marked_posts(1, sentences=90)
    body = tok(post.body_markdown.strip(), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    for context in (0, 16):
        exs = corpus.encode_post(tok, post, 128, corpus.Windows(context))
        assert len(exs) > 2 and all(len(e.input_ids) <= 128 for e in exs)
        learned = [x for e in exs for x in e.labels if x != corpus.IGNORE]
        assert learned == body  # every body token learned once, in order
        at = 0
        for k, e in enumerate(exs):
            first = next(i for i, x in enumerate(e.labels) if x != corpus.IGNORE)
            read = e.input_ids[first - (context if k else 0):first]  # the context, when a window has one
            assert read == body[max(0, at - context):at] and all(x == corpus.IGNORE for x in e.labels[:first])
            assert tok.decode(e.input_ids[:first - len(read)], skip_special_tokens=True).startswith("주제:")
            at += e.n_loss
    assert len(corpus.encode_post(tok, post, 128, corpus.Windows(16))) > len(corpus.encode_post(tok, post, 128))
    # a context longer than half the room leaves half of each window to learn
    assert all(e.n_loss >= (128 - 30) // 2 for e in corpus.encode_post(tok, post, 128, corpus.Windows(500))[:-1])


def test_marked_windows_tell_a_post_s_opening_from_its_middle_and_still_learn_every_token(tiny_base: Path) -> None:
    from transformers import AutoTokenizer

    from bot.voice import corpus

    tok = AutoTokenizer.from_pretrained(tiny_base)
    (post,) = marked_posts(1, sentences=90)
    body = tok(post.body_markdown.strip(), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    mark = tok(corpus.CONTINUATION, add_special_tokens=False)["input_ids"]
    assert mark
    prompt = tok(corpus.render_prompt(post.title, post.tags, corpus.length_bucket(len(post.body_markdown))))[
        "input_ids"]
    for context in (0, 16):
        exs = corpus.encode_post(tok, post, 128, corpus.Windows(context, mark=True))
        assert len(exs) > 2 and all(len(e.input_ids) <= 128 for e in exs)
        assert [x for e in exs for x in e.labels if x != corpus.IGNORE] == body  # nothing lost to the mark
        at = 0
        for k, e in enumerate(exs):
            first = next(i for i, x in enumerate(e.labels) if x != corpus.IGNORE)
            read = e.input_ids[len(prompt):first]  # between the prompt and the learned text
            want = (mark + body[max(0, at - context):at]) if k else []  # the opening: right after the prompt
            assert e.input_ids[:len(prompt)] == prompt and read == want
            assert all(x == corpus.IGNORE for x in e.labels[:first])
            at += e.n_loss
    # unmarked windows hold no mark, and a draft's prompt never does
    assert not any(mark == e.input_ids[i:i + len(mark)] for e in corpus.encode_post(tok, post, 128)
                   for i in range(len(e.input_ids)))
    assert corpus.CONTINUATION not in corpus.render_prompt(post.title, post.tags, "보통")


def _batch(tok, posts, seq_len: int = 64) -> dict:
    import random

    from bot.voice import corpus

    rows = corpus.pack(corpus.encode(tok, posts, seq_len), seq_len)
    return corpus.batches(rows, 4 * seq_len, tok.pad_token_id, random.Random(0))[0]


def test_shortlist_loss_is_the_softmax_over_its_tokens(tiny_base: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bot.voice import corpus, tune

    tok = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_base).requires_grad_(False)
    b = _batch(tok, marked_posts(4))
    labels = sorted({int(t) for t in b["labels"].flatten() if t != corpus.IGNORE})
    ids = sorted(set(labels) | {0, 3, 5})
    assert ids[-1] in labels
    assert len(ids) < len(tok)
    with torch.no_grad():
        got, n = tune.loss_and_tokens(model, b, shortlist=tune.Shortlist(ids, model.get_output_embeddings()))
        full, n_full = tune.loss_and_tokens(model, b)
        all_ids, _ = tune.loss_and_tokens(model, b, shortlist=tune.Shortlist(list(range(len(tok))),
                                                                             model.get_output_embeddings()))
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits[:, :-1].float()
    y = b["labels"][:, 1:]
    keep = y != corpus.IGNORE
    pos = {t: i for i, t in enumerate(ids)}
    want = torch.nn.functional.cross_entropy(logits[keep][:, ids], torch.tensor([pos[int(t)] for t in y[keep]]))
    assert n == n_full == int(keep.sum())
    assert float(got) == pytest.approx(float(want), rel=1e-4)
    assert float(got) < float(full)  # fewer competitors, less loss
    assert float(all_ids) == pytest.approx(float(full), rel=1e-4)
    with pytest.raises(ValueError, match="outside the training shortlist"):
        tune.loss_and_tokens(model, b, shortlist=tune.Shortlist(ids[:-1], model.get_output_embeddings()))


def test_training_on_a_shortlist_reports_full_vocabulary_perplexities(tmp_path: Path, tiny_base: Path) -> None:
    from transformers import AutoTokenizer

    from bot.voice import corpus, tune

    cfg = load_config(write_config(tmp_path, tiny_base, tune={"shortlist_tokens": 8}))
    posts = marked_posts(12)
    out = tmp_path / "a"
    m = tune.train(cfg, posts, out)
    tok = AutoTokenizer.from_pretrained(tiny_base)
    train, held = corpus.split(posts, cfg.tune.holdout, cfg.tune.seed, cfg.tune.min_posts)
    own = {t for e in corpus.encode(tok, train, cfg.tune.seq_len) for t in e.labels if t != corpus.IGNORE}
    v = m["train_vocab"]
    assert v["mode"] == "shortlist" and len(own) < v["size"] <= len(own) + 8 < len(tok)
    assert 0 < v["held_out_mass_covered"] < 1
    assert m["held_out_ppl_adapter"] < m["held_out_ppl_base"] * 0.8
    # the gate's figures are full-vocabulary perplexities, whatever the training softmax was
    assert tune.perplexity_of(cfg, held, out) == pytest.approx(m["held_out_ppl_adapter"], rel=1e-3)
    (tmp_path / "f").mkdir()
    full = load_config(write_config(tmp_path / "f", tiny_base, tune={"vocab": "full"}))
    assert tune.train(full, posts, tmp_path / "b")["train_vocab"] == {"mode": "full", "size": len(tok)}


def test_master_weights_keep_updates_below_bf16_resolution() -> None:
    import torch

    from bot.voice import tune

    lin = torch.nn.Linear(4, 4, bias=False).to(torch.bfloat16)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    w = tune.MasterWeights(lin)
    opt = torch.optim.SGD(w.tensors(), lr=1.0)
    for _ in range(100):  # each step moves a weight by 1e-4, far below bf16's step of 2**-7 near 1.0
        lin.weight.grad = torch.full_like(lin.weight, -1e-4)
        w.take_grads()
        opt.step()
        opt.zero_grad()
        w.push()
    assert lin.weight.grad is None
    assert float(w.master["weight"][0, 0]) == pytest.approx(1.01, abs=1e-4)
    assert float(lin.weight.detach()[0, 0]) == pytest.approx(1.0078125)  # 1.01 rounded to bf16, not stuck at 1.0
    plain = torch.ones(4, dtype=torch.bfloat16)
    for _ in range(100):
        plain -= torch.full_like(plain, -1e-4)
    assert float(plain[0]) == 1.0  # what updating bf16 weights directly would have kept


@pytest.mark.parametrize("vocab", ["shortlist", "full"])
def test_preference_round_teaches_the_adapter_to_rank_the_authors_continuation_first(tmp_path: Path, tiny_base: Path,
                                                                                     vocab: str) -> None:
    """tune.preference_steps: pairs of the author's real continuation and the adapter's own, DPO against the tuned
    adapter: it ranks its training pairs right afterwards, the loss falls, and the adapter is written with the
    round's figures (with a full-vocabulary tune the round builds a shortlist of its own)."""
    from bot.voice import tune

    cfg = load_config(write_config(tmp_path, tiny_base, tune={
        "vocab": vocab, "preference_steps": 16, "preference_pairs": 8, "preference_tokens": 8,
        "preference_lr": 2e-3}))
    out = tmp_path / "adapters" / "v0001"
    m = tune.train(cfg, marked_posts(12), out)
    p = m["preference"]
    assert p["steps"] == 16 and p["pairs"] >= 6 and p["held_out_pairs"] >= 2
    assert p["train_accuracy"] >= 0.75 and p["loss_last"] < p["loss_first"]
    assert 0 <= p["held_out_accuracy"] <= 1
    assert json.loads((out / "metrics.json").read_text(encoding="utf-8"))["preference"] == p
    assert json.loads((out / "training.json").read_text(encoding="utf-8"))["tune"]["preference_steps"] == 16


def test_the_rounds_own_continuations_are_sampled_with_an_output_layer_over_the_allowed_tokens_only(
        tmp_path: Path, tiny_base: Path) -> None:
    """preference.sample computes the allowed tokens' logits only (bench/preference.py: 1.5–1.8x as fast on the
    embedded model): the same seed samples the same continuations as the full layer masked afterwards, every token
    is an allowed one, and the model gets its own output layer back."""
    from bot.voice import corpus, preference, tune
    from bot.voice import model as base_model

    cfg = load_config(write_config(tmp_path, tiny_base))
    model, tok = base_model.load_model(cfg, for_training=True)
    model = tune._lora(cfg, model, keep_dtype=True)
    head = model.get_output_embeddings()
    t = cfg.tune
    cuts = preference.passages(tok, marked_posts(12), t.seq_len, 6, 8, t.seed, corpus.Windows.of(t))
    allowed = sorted({x for c, a in cuts for x in c + a} | set(range(0, len(tok), 3)))
    contexts = [c for c, _ in cuts]
    fast = preference.sample(cfg, model, tok, contexts, 8, allowed, seed=3)
    assert model.get_output_embeddings() is head and model.training
    full = preference.sample(cfg, model, tok, contexts, 8, allowed, seed=3, head_over_allowed=False)
    assert len(fast) == len(contexts) >= 4 and all(len(x) == 8 for x in fast)
    assert fast == full and set(x for c in fast for x in c) <= set(allowed)
    assert preference.sample(cfg, model, tok, contexts, 8, allowed, seed=4) != fast  # the seed matters


def test_a_preference_round_that_leaves_the_adapter_worse_than_the_base_is_not_kept(
        tmp_path: Path, tiny_base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A round that pushes the held-out perplexity past the base's would have the promotion gate reject the adapter
    (and leave the author with none): the supervised weights are written instead, and the metrics say so."""
    import torch

    from bot.voice import preference, tune

    def ruinous(cfg, model, tok, weights, *args) -> dict:  # noqa: ANN001
        with torch.no_grad():
            for t in weights.tensors():
                t.add_(torch.randn_like(t) * 3)
        weights.push()
        return {"steps": 1, "pairs": 1}

    monkeypatch.setattr(preference, "run", ruinous)
    cfg = load_config(write_config(tmp_path, tiny_base, tune={"preference_steps": 4}))
    m = tune.train(cfg, marked_posts(12), tmp_path / "a")
    p = m["preference"]
    assert p["kept"] is False and p["held_out_ppl_with_round"] >= m["held_out_ppl_base"]
    assert m["held_out_ppl_adapter"] < m["held_out_ppl_base"]
    # what was written is the supervised adapter: the same as a tune without the round
    (tmp_path / "s").mkdir()
    plain = tune.train(load_config(write_config(tmp_path / "s", tiny_base, tune={"preference_steps": 0})),
                       marked_posts(12), tmp_path / "s" / "a")
    assert m["held_out_ppl_adapter"] == pytest.approx(plain["held_out_ppl_adapter"], rel=1e-3)
    assert "preference" not in plain


def test_a_floor_past_every_step_that_beats_the_base_keeps_the_best_step_before_it(
        tmp_path: Path, tiny_base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tune.min_steps keeps only steps from the floor on; when none of them beats the base's held-out loss (a short
    run on few posts, over-fitted by then) the promotion gate would reject the adapter, so the best evaluation
    before the floor that beats the base is kept instead, and the metrics say so."""
    from bot.voice import tune

    real, trained = tune.loss_and_tokens, [0]

    def held_out_worse_from(step: int, before: float = -1.0, after: float = 1.0):  # noqa: ANN202
        def loss_and_tokens(model, batch, **kw):  # noqa: ANN001, ANN202
            loss, k = real(model, batch, **kw)
            if model.training:
                trained[0] += 1
                return loss, k
            if not trained[0]:  # the base, before the first step
                return loss, k
            return loss + (before if trained[0] < step else after), k
        return loss_and_tokens

    for name, after, fallback in (("over", 1.0, True), ("under", -1.0, False)):
        trained[0] = 0
        monkeypatch.setattr(tune, "loss_and_tokens", held_out_worse_from(6, after=after))
        (tmp_path / name).mkdir()
        cfg = load_config(write_config(tmp_path / name, tiny_base, tune={"eval_every": 2, "min_steps": 6}))
        m = tune.train(cfg, marked_posts(12), tmp_path / name / "a")  # 12 steps: the floor at 6
        evals = {h["step"]: h["val_loss"] for h in m["history"] if "val_loss" in h}
        assert sorted(evals) == [2, 4, 6, 8, 10, 12] and m["floor_fallback"] is fallback
        if fallback:  # steps 6-12 above the base: the better of steps 2 and 4, whose weights were written
            assert m["best_step"] == min((2, 4), key=evals.get)
            assert m["val_loss"] == pytest.approx(evals[m["best_step"]] + 1.0, abs=2e-4)
        else:  # from the floor on below the base: kept as before
            assert m["best_step"] == min((6, 8, 10, 12), key=evals.get)
    monkeypatch.undo()


def test_voice_score_counts_only_an_adapter_that_learned_the_author() -> None:
    from bot.voice import tune

    base = {"own": 3.0, "bg": 3.0}
    learned = tune.voice_score(2.5, 3.1, base)  # own down 0.5, background up 0.1
    assert learned["gain"] == pytest.approx(0.6) and learned["score"] == pytest.approx(-0.6)
    assert tune.voice_score(2.5, 2.6, base)["score"] > learned["score"]  # learned generic text as much: less voice
    forgot = tune.voice_score(3.05, 4.0, base)  # "gains" 0.95 only by forgetting the others
    assert forgot["gain"] == pytest.approx(0.95) and forgot["score"] == float("inf")


def test_early_stopping_on_the_voice_measure_keeps_the_step_that_learned_the_author_most(
        tmp_path: Path, tiny_base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tune.stop_on voice: every evaluation records the voice measure against the style background, the kept step
    is the one with the largest measure, and the adapter's final voice measure is positive."""
    from bot.voice import tune

    cfg = load_config(write_config(tmp_path, tiny_base, tune={"stop_on": "voice", "max_steps": 12, "eval_every": 2,
                                                                "min_steps": 0}))
    others = [Post(platform="background", source_id=f"o{i}", title="",
                   body_markdown=p.body_markdown.replace("했어요~당 ㅎㅎ", "했다. 그리고"))
              for i, p in enumerate(marked_posts(6, seed=5))]
    m = tune.train(cfg, marked_posts(12), tmp_path / "a", others=others)
    evals = [h for h in m["history"] if "val_loss" in h]
    assert m["stop_on"] == "voice" and len(evals) == 6 and all("voice_gain" in h for h in evals)
    best = max(evals, key=lambda h: h["voice_gain"])
    assert m["best_step"] == best["step"] and best["voice_gain"] > 0
    assert m["voice_gain"] > 0 and m["n_voice_posts"] == 6
    # a measure that peaks at step 4 (the loss still falling after it): stopped after `patience` evaluations without
    # a better one, and the weights written are step 4's (the tiny vocabulary fits the shortlist: the same loss)
    real, calls = tune.voice_score, []

    def peaks_at_step_4(own: float, bg: float, base: dict) -> dict:
        calls.append(own)
        r = real(own, bg, base)
        worse = 0 if len(calls) <= 3 else len(calls)  # calls: the base, step 2, step 4, then worse and worse
        return {"gain": r["gain"] - worse, "score": r["score"] + worse}

    monkeypatch.setattr(tune, "voice_score", peaks_at_step_4)
    (tmp_path / "p").mkdir()
    cfg = load_config(write_config(tmp_path / "p", tiny_base, tune={"stop_on": "voice", "max_steps": 12,
                                                                     "eval_every": 2, "patience": 2,
                                                                     "min_steps": 0}))
    m = tune.train(cfg, marked_posts(12), tmp_path / "p" / "a", others=others)
    evals = {h["step"]: h for h in m["history"] if "val_loss" in h}
    assert m["best_step"] == 4 and m["stopped"] == "early_stop" and m["steps"] == 8
    assert evals[8]["val_loss"] < evals[4]["val_loss"]  # held-out loss alone would have kept step 8
    assert m["val_loss"] == pytest.approx(evals[4]["val_loss"], abs=2e-4)
    # tune.min_steps 6: the evaluations at steps 2 and 4 are logged but neither kept nor counted, so the same
    # measure keeps step 6 (the best from the floor on) and stops two evaluations later
    calls.clear()
    (tmp_path / "f").mkdir()
    cfg = load_config(write_config(tmp_path / "f", tiny_base, tune={"stop_on": "voice", "max_steps": 12,
                                                                     "eval_every": 2, "patience": 2,
                                                                     "min_steps": 6}))
    m = tune.train(cfg, marked_posts(12), tmp_path / "f" / "a", others=others)
    assert [h["step"] for h in m["history"] if "val_loss" in h] == [2, 4, 6, 8, 10]
    assert m["best_step"] == 6 and m["stopped"] == "early_stop" and m["steps"] == 10
    # a floor past the run (tune.min_steps 90, 12 steps) is capped at tune.min_steps_share of it: half by default,
    # the same floor of 6; at the whole run (1.0) only the last step could be kept
    for share, kept, steps in ((0.5, 6, 10), (1.0, 12, 12)):
        calls.clear()
        (tmp_path / f"s{share}").mkdir()
        cfg = load_config(write_config(tmp_path / f"s{share}", tiny_base, tune={
            "stop_on": "voice", "max_steps": 12, "eval_every": 2, "patience": 2, "min_steps": 90,
            **({"min_steps_share": share} if share != 0.5 else {})}))
        m = tune.train(cfg, marked_posts(12), tmp_path / f"s{share}" / "a", others=others)
        assert (m["best_step"], m["steps"]) == (kept, steps)
    monkeypatch.undo()
    # without a background to compare with, it says so and stops on the held-out loss
    (tmp_path / "n").mkdir()
    plain = tune.train(load_config(write_config(tmp_path / "n", tiny_base, tune={"stop_on": "voice"})),
                       marked_posts(12), tmp_path / "b")
    assert plain["stop_on"] == "loss" and not any("voice_gain" in h for h in plain["history"])
