"""The tune job and the adapter registry: versions, the promotion gate, skip when unchanged, broken folders,
activate and rollback, and the CLI around them (tiny random model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _tiny_model import marked_posts, write_config

from platforms import load_config


@pytest.fixture
def env(tmp_path: Path, tiny_base: Path):
    from bot.core.posts import save_post
    from bot.core.store import open_db

    cfg = load_config(write_config(tmp_path, tiny_base))
    db = open_db(cfg.data_path)
    for p in marked_posts(12):
        save_post(db, p)
    yield cfg, db
    db.close()


def _status(db) -> dict[str, str]:
    return {r["version"]: r["status"] for r in db.query("select version, status from adapters")}


def test_first_adapter_is_activated_then_unchanged_corpus_is_skipped(env) -> None:
    from jobs import tune as tune_job

    cfg, db = env
    r = tune_job.run(cfg, db)
    assert r["status"] == "active" and r["version"] == "v0001"
    assert r["held_out_ppl_adapter"] < r["held_out_ppl_base"]
    assert r["voice_gain"] > 0  # learned the marked posts more than the background authors
    assert _status(db) == {"v0001": "active"}
    again = tune_job.run(cfg, db)
    assert again["status"] == "skipped" and "no posts changed since adapter v0001" in again["reason"]
    last = next(db.query("select status, details from runs where job = 'tune' order by id desc limit 1"))
    assert last["status"] == "skipped" and "no posts changed" in last["details"]
    cfg.tune.checkpoint_every = 5  # operational only: still skipped
    cfg.tune.voice_posts = 4  # how the gate judges, not what is learned: still skipped
    assert tune_job.run(cfg, db)["status"] == "skipped"
    cfg.tune.lora_r = 4  # what the adapter learns changes: tune again without --force
    r = tune_job.run(cfg, db)
    assert r["status"] in ("active", "rejected") and r["version"] == "v0002"
    assert tune_job.settings_changed(cfg, Path(r["path"])) == []
    assert tune_job.run(cfg, db)["status"] == "skipped"


def test_an_adapter_tuned_before_a_setting_existed_counts_as_tuned_with_its_old_value(tmp_path) -> None:
    import json

    from bot.core.config import Config
    from jobs import tune as tune_job

    cfg = Config(data_dir=tmp_path)
    before = {k: v for k, v in cfg.tune.model_dump().items() if not k.startswith("preference_")
              and k not in ("window_context", "mark_continuations", "min_steps_share")}
    (tmp_path / "training.json").write_text(json.dumps({"tune": before}), encoding="utf-8")
    assert tune_job.settings_changed(cfg, tmp_path) == ["tune.min_steps_share: 1.0 -> 0.5",  # the floor uncapped
                                                        "tune.preference_steps: 0 -> 30"]  # on by default now
    cfg.tune.preference_steps, cfg.tune.min_steps_share = 0, 1.0
    assert tune_job.settings_changed(cfg, tmp_path) == []  # windows without context: how it was tuned
    cfg.tune.window_context = 64
    assert tune_job.settings_changed(cfg, tmp_path) == ["tune.window_context: 0 -> 64"]
    cfg.tune.window_context = 0
    cfg.tune.mark_continuations = True
    assert tune_job.settings_changed(cfg, tmp_path) == ["tune.mark_continuations: False -> True"]
    cfg.tune.mark_continuations = False
    cfg.tune.preference_pairs = 64  # the round's own settings do not matter while it is off
    assert tune_job.settings_changed(cfg, tmp_path) == []
    cfg.tune.voice_posts = 4  # judged only while early stopping reads the loss; learned from when it reads the voice
    assert tune_job.settings_changed(cfg, tmp_path) == []
    cfg.tune.stop_on = "voice"
    assert tune_job.settings_changed(cfg, tmp_path) == ["tune.stop_on: 'loss' -> 'voice'"]
    (tmp_path / "training.json").write_text(json.dumps({"tune": cfg.tune.model_dump()}), encoding="utf-8")
    cfg.tune.voice_posts = 8
    assert tune_job.settings_changed(cfg, tmp_path) == ["tune.voice_posts: 4 -> 8"]


def test_a_worse_adapter_is_kept_but_not_activated(env) -> None:
    from jobs import tune as tune_job

    cfg, db = env
    assert tune_job.run(cfg, db)["status"] == "active"
    cfg.tune.learning_rate = 1e-9  # learns nothing: cannot beat the active adapter
    r = tune_job.run(cfg, db, force=True)
    assert r["status"] == "rejected" and r["version"] == "v0002"
    assert "does not beat" in r["reason"]
    assert _status(db) == {"v0001": "active", "v0002": "rejected"}
    assert Path(r["path"]).is_dir()  # kept
    row = next(db.query("select details from runs where job = 'tune' order by id desc limit 1"))
    assert "does not beat" in row["details"]


def test_gate_rules() -> None:
    from bot.core.adapters import gate

    m = {"held_out_ppl_adapter": 10.0, "held_out_ppl_base": 20.0, "held_out_ppl_compare": {"v0001": 9.0}}
    assert gate(m, None)[0] is True
    ok, why = gate(m, "v0001")
    assert not ok and "v0001" in why
    assert gate({**m, "held_out_ppl_adapter": 25.0}, None) == (
        False, "held-out perplexity 25.00 does not beat the base model's 20.00")
    assert gate({**m, "held_out_ppl_compare": {}}, "v0001")[0] is False


def test_gate_needs_the_voice_measure_too() -> None:
    """Perplexity alone is not enough: the adapter must learn more of the author than of other authors, and more
    than the active adapter did."""
    from bot.core.adapters import gate

    m = {"held_out_ppl_adapter": 10.0, "held_out_ppl_base": 20.0, "held_out_ppl_compare": {"v0001": 11.0},
         "voice_gain": 0.05, "voice_gain_compare": {"v0001": 0.03}}
    assert gate(m, "v0001")[0] is True and "voice +0.0500 > v0001 +0.0300" in gate(m, "v0001")[1]
    ok, why = gate({**m, "voice_gain_compare": {"v0001": 0.08}}, "v0001")
    assert not ok and why.startswith("voice measure +0.0500 does not beat the active adapter v0001's +0.0800")
    ok, why = gate({**m, "voice_gain": -0.01}, None)  # generic blog text learned, not the author
    assert not ok and "does not beat the base model's 0" in why
    assert gate({**m, "voice_gain_compare": {}}, "v0001")[0] is False
    old = {k: v for k, v in m.items() if not k.startswith("voice")}  # adapters tuned before the measure existed
    assert gate(old, "v0001")[0] is True


def test_voice_measure_reads_other_authors_never_the_author(env) -> None:
    from bot.core.posts import live_posts
    from bot.voice import tune

    cfg, db = env
    own = live_posts(db)
    others = tune.other_authors(cfg, own)
    assert len(others) == cfg.tune.voice_posts and len({p.source_id.split("-")[0] for p in others}) >= 4
    assert all(len(p.body_markdown) <= cfg.tune.voice_chars for p in others)
    cfg.style.background_builtin = False
    assert tune.other_authors(cfg, own) == []
    cfg.style.background_builtin, cfg.tune.voice_posts = True, 0
    assert tune.other_authors(cfg, own) == []


def test_broken_folders_are_ignored_and_the_active_adapter_is_unchanged(env, tmp_path: Path) -> None:
    from bot.core import adapters
    from bot.core.errors import ModelError
    from jobs import tune as tune_job

    cfg, db = env
    v1 = tune_job.run(cfg, db)
    partial = adapters.root(cfg) / "v0002"
    partial.mkdir()
    (partial / "adapter_config.json").write_text("{}")
    adapters.register(db, "v0002", partial, {"base_model": v1.get("base_model"), "data_hash": "x"}, "ready", "test")
    with pytest.raises(ModelError, match="incomplete: missing"):
        adapters.activate(db, "v0002")
    assert _status(db)["v0001"] == "active" and _status(db)["v0002"] == "broken"
    # the active one gets corrupted on disk: drafting ignores it with an error instead of loading garbage
    (Path(v1["path"]) / "adapter_model.safetensors").write_bytes(b"\x00garbage")
    assert adapters.active(db) is None
    assert _status(db)["v0001"] == "active"


def test_activate_and_rollback_through_the_cli(env, cli) -> None:
    from jobs import tune as tune_job

    cfg, db = env
    tune_job.run(cfg, db)
    cfg.tune.learning_rate = 1e-9
    tune_job.run(cfg, db, force=True)
    r = cli("adapters", "activate", "v0002")
    assert r.code == 0 and "active adapter: v0002" in r.out
    r = cli("adapters", "list")
    assert r.code == 0 and "v0001" in r.out and "v0002" in r.out and "active" in r.out
    r = cli("adapters", "rollback")
    assert r.code == 0, r.err
    assert _status(db) == {"v0001": "active", "v0002": "ready"}
    assert cli("adapters", "activate", "v0009").code == 2


def test_too_few_posts_in_the_store(tmp_path: Path, tiny_base: Path) -> None:
    from bot.core.errors import InputError
    from bot.core.store import open_db
    from jobs import tune as tune_job

    cfg = load_config(write_config(tmp_path, tiny_base))
    db = open_db(cfg.data_path)
    with pytest.raises(InputError, match="too few posts to tune: 0 stored"):
        tune_job.run(cfg, db)
    assert next(db.query("select status from runs where job = 'tune'"))["status"] == "failed"
