"""bot.tune on a tiny random model: the loss goes down, the adapter round-trips, too few posts, kill and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _tiny_model import build_tiny, marked_posts, write_config


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture
def tcfg(tmp_path: Path, tiny_base: Path):
    from bot import config

    return config.load(write_config(tmp_path, tiny_base))


def test_training_lowers_held_out_loss_and_writes_a_complete_folder(tcfg, tmp_path: Path) -> None:
    from bot import adapters, tune

    out = tmp_path / "adapters" / "v0001"
    m = tune.train(tcfg, marked_posts(12), out)
    assert m["held_out_ppl_adapter"] < m["held_out_ppl_base"] * 0.8
    first, last = m["history"][0]["loss"], m["history"][-1]["loss"]
    assert last < first
    assert m["steps"] == 12 and m["n_held_out_posts"] == 3 and m["n_train_posts"] == 9
    assert adapters.validate(out)["data_hash"] == m["data_hash"]
    for f in ("adapter_model.safetensors", "prompt_template.json", "training.json", "metrics.json"):
        assert (out / f).is_file()
    assert json.loads((out / "training.json").read_text())["tune"]["max_steps"] == 12
    assert not (tmp_path / "adapters" / "v0001.work").exists()


def test_adapter_round_trip_gives_the_same_perplexity(tcfg, tmp_path: Path) -> None:
    from bot import corpus, tune

    posts = marked_posts(12)
    out = tmp_path / "a"
    m = tune.train(tcfg, posts, out)
    _, held = corpus.split(posts, tcfg.tune.holdout, tcfg.tune.seed, tcfg.tune.min_posts)
    assert tune.perplexity_of(tcfg, held, out) == pytest.approx(m["held_out_ppl_adapter"], rel=1e-3)
    assert tune.perplexity_of(tcfg, held) == pytest.approx(m["held_out_ppl_base"], rel=1e-3)


def test_too_few_posts_is_a_clear_error(tcfg, tmp_path: Path) -> None:
    from bot import tune
    from bot.errors import InputError

    with pytest.raises(InputError, match="too few posts to tune: 3 stored, at least 4"):
        tune.train(tcfg, marked_posts(3), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_kill_during_tuning_resumes_from_the_checkpoint(tcfg, tmp_path: Path) -> None:
    from bot import tune

    out, work = tmp_path / "v1", tmp_path / "work"

    def kill(step: int, loss: float) -> None:
        if step == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tune.train(tcfg, marked_posts(12), out, work_dir=work, on_step=kill)
    assert not out.exists() and not list(tmp_path.glob(".v1*"))  # never a half-written adapter
    assert (work / "checkpoint.pt").is_file()
    m = tune.train(tcfg, marked_posts(12), out, work_dir=work)
    assert m["resumed_from_step"] == 6 and m["steps"] == 12
    assert [h["step"] for h in m["history"]] == list(range(1, 13))
    assert not work.exists()


def test_packing_keeps_loss_on_completions_only(tcfg, tiny_base: Path) -> None:
    from transformers import AutoTokenizer

    from bot import corpus

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
