"""A random PEFT LoRA adapter shaped for a GGUF base (tests and benches of the served-adapter paths)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HF = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
      "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
      "ffn_down": "mlp.down_proj"}


def make_adapter(out: Path, base_gguf: Path, r: int = 8, b_scale: float = 0.05, seed: int = 0) -> Path:
    """A PEFT folder (adapter_config.json, adapter_model.safetensors, prompt_template.json) with random A and B
    (B = 0 when b_scale is 0: an adapter that changes nothing)."""
    from safetensors.numpy import save_file

    from bot.voice.backends.lora_gguf import gguf_arch, gguf_meta

    arch, blocks = gguf_arch(base_gguf)
    keys = ["embedding_length", "feed_forward_length", "attention.head_count", "attention.head_count_kv",
            "attention.key_length", "attention.value_length"]
    meta = gguf_meta(base_gguf, {f"{arch}.{k}" for k in keys})
    hidden, ffn, heads, kv, kd, vd = (int(meta[f"{arch}.{k}"]) for k in keys)
    shapes = {"attn_q": (hidden, heads * kd), "attn_k": (hidden, kv * kd), "attn_v": (hidden, kv * vd),
              "attn_output": (heads * vd, hidden), "ffn_gate": (hidden, ffn), "ffn_up": (hidden, ffn),
              "ffn_down": (ffn, hidden)}
    rng = np.random.default_rng(seed)
    tensors = {}
    for b in range(blocks or 0):
        for name, (n_in, n_out) in shapes.items():
            key = f"base_model.model.model.layers.{b}.{HF[name]}"
            tensors[f"{key}.lora_A.weight"] = (rng.standard_normal((r, n_in)) / np.sqrt(n_in)).astype(np.float32)
            tensors[f"{key}.lora_B.weight"] = (rng.standard_normal((n_out, r)) * b_scale).astype(np.float32)
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "adapter_model.safetensors"), metadata={"format": "pt"})
    conf = {"peft_type": "LORA", "r": r, "lora_alpha": 2 * r, "target_modules": sorted({v.split(".")[1]
            for v in HF.values()}), "task_type": "CAUSAL_LM", "use_rslora": False, "use_dora": False,
            "modules_to_save": None, "bias": "none", "base_model_name_or_path": str(base_gguf), "lora_dropout": 0.0}
    (out / "adapter_config.json").write_text(json.dumps(conf), encoding="utf-8")
    (out / "prompt_template.json").write_text(json.dumps({"version": "v1", "typical_chars": 300}), encoding="utf-8")
    return out


def register_active(cfg: object, version: str, folder: Path) -> None:
    """Record `folder` (an adapter for the embedded model) as the active adapter `version` in cfg's store, as a
    finished tune would."""
    from bot.core import adapters
    from bot.core.store import open_db

    for f in ("metrics.json", "training.json"):
        (folder / f).write_text(json.dumps({"base_model": "embedded:gemma"}), encoding="utf-8")
    db = open_db(cfg.data_path)
    adapters.register(db, version, folder, {"base_model": "embedded:gemma"}, "active", "test")
    db.close()
