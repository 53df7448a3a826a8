"""The adapter merged into a copy of the GGUF (bot/voice/backends/merge_gguf.py): the file it writes, llama.cpp's
next-token distribution on it against base + the run-time LoRA, the cache and the backend's choice of road, and
`adapters export --format gguf-merged`."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from _lora_adapter import make_adapter, register_active

from bot.core import config

TARGETS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from _llama_server import embedded_gguf

    return embedded_gguf(tmp_path_factory.mktemp("gguf"))


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory, base: Path) -> Path:
    # B at 0.01: the weights move by a few Q8_0 steps, the next-token distribution clearly (L1 ~0.3 on top-20)
    return make_adapter(tmp_path_factory.mktemp("adapter") / "v0001", base, r=8, b_scale=0.01, seed=5)


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory, base: Path, adapter: Path) -> Path:
    from bot.voice.backends.merge_gguf import merge

    return merge(adapter, base, tmp_path_factory.mktemp("merged") / "m.gguf", note="v0001 test")


def q_only(folder: Path, base: Path) -> Path:
    """A random adapter on the attention queries only (cheap to merge: the wiring tests)."""
    from safetensors.numpy import save_file

    from bot.voice.backends.lora_gguf import read_safetensors

    make_adapter(folder, base, r=4, b_scale=0.01)
    st = folder / "adapter_model.safetensors"
    save_file({k: v for k, v in read_safetensors(st).items() if ".q_proj." in k}, str(st))
    return folder


def tensor(path: Path, name: str) -> np.ndarray:
    import gguf

    from bot.voice.backends.merge_gguf import nbytes, read_layout

    lay = read_layout(path)
    t = next(t for t in lay.tensors if t.name == name)
    with path.open("rb") as fh:
        fh.seek(lay.data_start + t.offset)
        raw = np.frombuffer(fh.read(nbytes(t)), dtype=np.uint8)
    return gguf.quants.dequantize(raw, gguf.GGMLQuantizationType(t.qtype)).reshape(t.dims[1], t.dims[0])


def test_the_merged_file_is_the_base_with_the_targets_rewritten(base, adapter, merged) -> None:
    """Metadata byte for byte (plus the note), the same tensors in the same order; the 126 LoRA targets in Q8_0
    holding W + scale·B·A; every other tensor (the tied embedding table too) byte for byte in its own type."""
    from bot.voice.backends.lora_gguf import gguf_meta, read_safetensors
    from bot.voice.backends.merge_gguf import nbytes, read_layout

    a, m = read_layout(base), read_layout(merged)
    assert m.kv.startswith(a.kv) and m.n_kv == a.n_kv + 1
    assert gguf_meta(merged, {"blogbot.merged_adapter", "general.architecture"}) == {
        "blogbot.merged_adapter": "v0001 test", "general.architecture": "gemma3"}
    assert [(t.name, t.dims) for t in m.tensors] == [(t.name, t.dims) for t in a.tensors]
    targets = {t.name for t in a.tensors if t.name.split(".")[-2] in TARGETS}
    assert len(targets) == 18 * 7
    assert {t.qtype for t in m.tensors if t.name in targets} == {8}  # Q8_0
    with base.open("rb") as fa, merged.open("rb") as fm:
        for ta, tm in zip(a.tensors, m.tensors, strict=True):
            if ta.name not in targets:
                assert ta.qtype == tm.qtype
                fa.seek(a.data_start + ta.offset)
                fm.seek(m.data_start + tm.offset)
                assert fa.read(nbytes(ta)) == fm.read(nbytes(tm)), ta.name
    lora = read_safetensors(adapter / "adapter_model.safetensors")
    for name, hf in (("blk.3.attn_q.weight", "3.self_attn.q_proj"), ("blk.16.ffn_down.weight", "16.mlp.down_proj")):
        k = f"base_model.model.model.layers.{hf}"
        want = 2.0 * lora[f"{k}.lora_B.weight"] @ lora[f"{k}.lora_A.weight"]  # alpha / r = 2
        got = tensor(merged, name) - tensor(base, name)
        assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.9, name
        assert abs(float(np.linalg.norm(got) / np.linalg.norm(want)) - 1) < 0.15, name


def test_a_merged_file_is_not_merged_into_again(adapter, merged, tmp_path) -> None:
    from bot.core.errors import ModelError
    from bot.voice.backends.merge_gguf import merge

    with pytest.raises(ModelError, match=r"already has an adapter merged into it \(v0001 test\)"):
        merge(adapter, merged, tmp_path / "twice.gguf")
    assert not list(tmp_path.glob("*.gguf*"))


def top_probs(model: Path, prompts: list[str], lora: Path | None = None) -> list[dict[int, float]]:
    import xllamacpp as x

    from bot.voice.backends.llamacpp import params

    s = x.Server(params(model, lora, 1, 256))
    out = []
    for p in prompts:
        r = s.handle_completions({"prompt": p, "n_predict": 1, "temperature": 0, "logprobs": 20})
        out.append({t["id"]: math.exp(t["logprob"]) for t in r["choices"][0]["logprobs"]["content"][0]["top_logprobs"]})
    del s
    return out


def l1(ref: dict[int, float], other: dict[int, float]) -> float:
    """Total variation-like distance over ref's top tokens (a token missing from `other` counts whole)."""
    return sum(abs(p - other.get(i, 0.0)) for i, p in ref.items())


def test_llamacpp_on_the_merged_file_follows_base_plus_lora(base, adapter, merged, tmp_path) -> None:
    """Same prompts, next-token top-20: the merged model sits close to base + the run-time LoRA, far closer than the
    bare base does (writing the targets back in their own 4-5-bit types failed this: it rounded most of a small
    adapter away, 0.5-1x of the adapter's own shift)."""
    from bot.voice.backends.lora_gguf import to_gguf

    prompts = ["주제: 빵집 이야기\n태그: 빵\n분량: 짧음\n\n오늘은", "주제: 가을 여행\n태그: 여행\n분량: 보통\n\n",
               "주제: 새 노트북 첫인상\n태그: IT\n분량: 짧음\n\n"]
    ref = top_probs(base, prompts, to_gguf(adapter, tmp_path / "a.gguf", base))
    bare, mine = top_probs(base, prompts), top_probs(merged, prompts)
    shift = [l1(r, b) for r, b in zip(ref, bare, strict=True)]  # measured: 0.12, 0.36, 0.35
    err = [l1(r, m) for r, m in zip(ref, mine, strict=True)]  # measured: 0.04, 0.05, 0.04
    # llama.cpp's own noise (F32 weights, no adapter, against the Q4 file) is ~0.07-0.14 on such prompts
    assert sum(shift) > 0.5 and sum(err) < 0.35 * sum(shift) and max(err) < 0.12, (shift, err)


def llama_cfg(tmp_path: Path, extra: str) -> config.Config:
    p = tmp_path / "config.yaml"
    p.write_text(f"data_dir: data\nmodel:\n  backend: llamacpp\n  threads: 1\n  context_tokens: 512\n"
                 f"  cache_dir: {tmp_path / 'models'}\n{extra}generate:\n  temperature: 0\n  max_new_tokens: 16\n"
                 "  title_step: false\n", encoding="utf-8")
    return config.load(p)


def test_the_backend_drafts_from_the_merged_file_written_once(base, tmp_path, monkeypatch) -> None:
    from bot.voice.backends import merge_gguf
    from bot.voice.backends.llamacpp import LlamaCppBackend, merged_path

    adapter = q_only(tmp_path / "v0001", base)
    monkeypatch.setattr("bot.voice.backends.llamacpp.suggest_tags", lambda topic, tags, *a: tags)  # no analyser
    cfg = llama_cfg(tmp_path, f"  gguf: {base}\n  llamacpp_adapter: merge\n")
    with LlamaCppBackend(cfg, adapter, "v0001") as b:
        g = b.generate("빵집 이야기", ["빵"], seed=1)
    assert b.lora is None and b.model.parent == tmp_path / "models" / "merged-gguf"
    assert g.params["gguf"] == b.model.name and g.params["lora"] is None and g.new_tokens == 16
    assert g.adapter_version == "v0001" and g.base_model.startswith("gguf:gemma-3-270m-q4_k_m.gguf@")

    def no_merge(*a: object, **k: object) -> None:
        raise AssertionError("merged again")

    monkeypatch.setattr(merge_gguf, "merge", no_merge)
    assert merged_path(cfg, adapter, base) == b.model


def test_auto_merges_a_small_gguf_and_keeps_the_lora_for_a_big_one(tmp_path, base, monkeypatch) -> None:
    from bot.core.errors import ConfigError
    from bot.voice.backends import llamacpp

    assert llama_cfg(tmp_path, "").model.llamacpp_adapter == "auto"
    assert llamacpp.merge_adapter("auto", base) and llamacpp.merge_adapter("merge", base)
    assert not llamacpp.merge_adapter("lora", base)
    monkeypatch.setattr(llamacpp, "AUTO_MERGE_BYTES", base.stat().st_size)  # the same file counted as big
    assert not llamacpp.merge_adapter("auto", base) and llamacpp.merge_adapter("merge", base)
    with pytest.raises(ConfigError, match="model.llamacpp_adapter: Input should be 'auto', 'lora' or 'merge'"):
        llama_cfg(tmp_path, "  llamacpp_adapter: fuse\n")


def test_prune_keeps_the_two_most_recently_used(tmp_path) -> None:
    from bot.voice.backends.merge_gguf import prune

    tmp_path = tmp_path / "merged-gguf"
    tmp_path.mkdir()
    for i, name in enumerate(["old.gguf", "newest.gguf", "middle.gguf"]):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (1000 + i, {"old.gguf": 1, "middle.gguf": 2, "newest.gguf": 3}[name] * 1000))
    (tmp_path / ".merge.lock").write_bytes(b"")
    prune(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".merge.lock", "middle.gguf", "newest.gguf"]


def test_adapters_export_gguf_merged(tmp_path, base, cli) -> None:
    from bot.voice.backends.lora_gguf import gguf_meta
    from bot.voice.backends.merge_gguf import read_layout

    (tmp_path / "config.yaml").write_text(f"data_dir: data\nmodel:\n  gguf: {base}\n", encoding="utf-8")
    cfg = config.load(tmp_path / "config.yaml")
    folder = q_only(cfg.data_path / "adapters" / "v0002", base)
    register_active(cfg, "v0002", folder)
    r = cli("adapters", "export", "v0002", tmp_path / "out", "--format", "gguf-merged")
    assert r.code == 0, r.err
    out = tmp_path / "out" / "gemma-3-270m-q4_k_m-v0002.gguf"
    assert gguf_meta(out, {"blogbot.merged_adapter"}) == {"blogbot.merged_adapter": "v0002"}
    assert sum(t.qtype == 8 and t.name.endswith("attn_q.weight") for t in read_layout(out).tensors) == 18
    assert f"-m {out}" in r.out and "model.name: v0002" in r.out
