"""Base model resolution (offline only, clear errors), dtype/device choice, and the GPU path (skips without CUDA)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _tiny_model import build_tiny, marked_posts, write_config


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


def test_folder_base_identity_and_dtype_choice(tmp_path: Path) -> None:
    import torch

    from bot.voice import model

    base = build_tiny(tmp_path / "tiny")
    ref = model.resolve_base(_cfg(tmp_path, base=str(base)))
    assert ref.kind == "folder" and ref.path == base and ref.identity == f"folder:{base.resolve()}"
    assert model.choose_dtype(_cfg(tmp_path, dtype="float32")) is torch.float32
    auto = model.choose_dtype(_cfg(tmp_path))
    assert auto in (torch.bfloat16, torch.float32)
    assert (tmp_path / "models" / "cpu_dtype.json").is_file()  # measured once, remembered


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the CPU-only error")
def test_4bit_without_cuda_is_a_clear_error(tmp_path: Path) -> None:
    from bot.core.errors import ModelError
    from bot.voice import model

    base = build_tiny(tmp_path / "tiny")
    with pytest.raises(ModelError, match="load_in_4bit needs a CUDA GPU"):
        model.load_model(_cfg(tmp_path, base=str(base), load_in_4bit=True))


@pytest.mark.gpu
def test_gpu_tune_and_generate_in_bf16_and_4bit(tmp_path: Path) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    from bot.core import config
    from bot.voice import generate, tune

    base = build_tiny(tmp_path / "tiny")
    cfg = config.load(write_config(tmp_path, base, model={"dtype": "auto", "device": "auto"}))
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
