"""How much of a merged adapter survives the torch path's int8 rounding: for each projection the adapter targets,
the rounding error of the merged weight (W + scale·B·A, rounded as the drafting path rounds it) against the
adapter's own change, |round(W + ΔW) − (W + ΔW)| / |ΔW| (median over the projections). Above 1, the rounding noise
is larger than what the adapter changed. Rows: bf16 (the merged copy on disk), int8 with one scale per tensor
(generate.int8_scales: tensor), int8 with one scale per output row (channel), each after bf16.

    .venv/bin/python bench/int8_noise.py ADAPTER_DIR [ADAPTER_DIR …] [--base HF_FOLDER]

The base defaults to the embedded model converted by bench/style (~/.cache/blogbot-bench/converted/gemma-3-270m-*).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _per_tensor(w: np.ndarray) -> np.ndarray:
    s = np.abs(w).max() / 127 or 1.0
    return np.round(w / s).clip(-128, 127) * s


def _per_row(w: np.ndarray) -> np.ndarray:
    s = np.abs(w).max(axis=1, keepdims=True) / 127
    s[s == 0] = 1.0
    return np.round(w / s).clip(-128, 127) * s


def _bf16(w: np.ndarray) -> np.ndarray:
    import torch

    return torch.from_numpy(w).bfloat16().float().numpy()


ROUNDINGS = {"bf16": _bf16, "bf16 + int8 per tensor": lambda w: _per_tensor(_bf16(w)),
             "bf16 + int8 per row": lambda w: _per_row(_bf16(w))}


def noise(adapter: Path, base: dict) -> dict[str, tuple[float, int]]:
    from bot.voice.backends.lora_gguf import adapter_config, read_safetensors

    conf = adapter_config(adapter)
    scale = float(conf["lora_alpha"]) / int(conf["r"])
    t = read_safetensors(adapter / "adapter_model.safetensors")
    out: dict[str, list[float]] = {k: [] for k in ROUNDINGS}
    for key in (k for k in t if ".lora_A." in k):
        name = key.split("base_model.model.")[-1].replace(".lora_A.weight", ".weight")
        if name not in base:
            continue
        w = base[name].float().numpy()
        d = scale * (t[key.replace("lora_A", "lora_B")].astype(np.float32) @ t[key].astype(np.float32))
        for label, rnd in ROUNDINGS.items():
            out[label].append(float(np.linalg.norm(rnd(w + d) - (w + d)) / np.linalg.norm(d)))
    return {k: (float(np.median(v)), len(v)) for k, v in out.items() if v}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("adapters", type=Path, nargs="+")
    ap.add_argument("--base", type=Path)
    a = ap.parse_args(argv)
    from safetensors.torch import load_file

    base_dir = a.base or next(iter(sorted((Path.home() / ".cache" / "blogbot-bench" / "converted")
                                          .glob("gemma-3-270m-*"))), None)
    if base_dir is None or not list(base_dir.glob("*.safetensors")):
        ap.error("no converted base found: give --base (a Hugging Face folder with safetensors)")
    base: dict = {}
    for f in sorted(base_dir.glob("*.safetensors")):
        base.update(load_file(f))
    print(f"rounding error / adapter change (median over projections), base {base_dir.name}:")
    for ad in a.adapters:
        r = noise(ad, base)
        print(f"  {ad.name:12s} " + "  ".join(f"{k} {v:.2f}" for k, (v, _) in r.items())
              + f"  (n={next(iter(r.values()))[1]} projections)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
