"""Benchmark: tokens/s of blogbot's drafting path (adapter merged into a cached base, int8/bf16 by measurement)
vs a naive baseline (transformers `generate` on the fp32 base with the peft adapter unmerged), same prompt, same
number of new tokens; each path in its own process for its peak RSS. Prints JSON. Target: ≥3× and ≤2 GiB."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TOPIC = "첫눈 오는 날 한강까지 걸어간 이야기"


def make_adapter(cfg, out: Path) -> Path:
    """A LoRA adapter with random (non-zero) weights in blogbot's folder layout: speed does not depend on values."""
    import torch
    from peft import LoraConfig, get_peft_model

    from bot.voice import corpus
    from bot.voice import model as bm

    torch.manual_seed(0)
    model, _ = bm.load_model(cfg, dtype=torch.float32)
    lc = LoraConfig(r=cfg.tune.lora_r, lora_alpha=cfg.tune.lora_alpha, target_modules=cfg.tune.target_modules,
                    init_lora_weights=False, task_type="CAUSAL_LM")
    get_peft_model(model, lc).save_pretrained(str(out))
    (out / "prompt_template.json").write_text(json.dumps({"version": corpus.TEMPLATE_VERSION, "typical_chars": 1400,
                                                          "typical_tokens": 1000}))
    from transformers import AutoTokenizer

    from platforms import files

    posts = [p for f in sorted((ROOT / "examples" / "demo" / "posts").glob("*.md")) for p in files.read_file(f)]
    tok = AutoTokenizer.from_pretrained(bm.resolve_base(cfg).path)
    (out / "vocab_ids.json").write_text(json.dumps(corpus.vocab_ids(tok, posts)))  # as `tune` writes it
    return out


def worker(kind: str, cache: str, adapter: str, n: int) -> dict:
    import torch
    from _mem import peak_rss_gib

    from bot.core.config import Config

    cfg = Config(data_dir=Path(cache) / "bench-data", model={"cache_dir": cache},
                 generate={"max_new_tokens": n, "min_new_tokens": n, "temperature": 0.0, "repetition_penalty": 1.0,
                           "no_repeat_ngram_size": 0})  # the baseline's decoding settings
    t0 = time.monotonic()
    if kind == "fast":
        from bot.voice import generate

        b = generate.load_backend(cfg, Path(adapter))
        load = time.monotonic() - t0
        b.generate(TOPIC, [], seed=0)  # warm-up (first call builds kernels)
        g = b.generate(TOPIC, [], seed=0)
        tps, new, dtype = g.tokens_per_s, g.new_tokens, b.dtype
    else:
        from peft import PeftModel

        from bot.voice import corpus
        from bot.voice import model as bm

        model, tok = bm.load_model(cfg, dtype=torch.float32)
        model = PeftModel.from_pretrained(model, adapter).eval()
        load = time.monotonic() - t0
        enc = tok(corpus.render_prompt(TOPIC, [], "보통"), return_tensors="pt")
        with torch.inference_mode():
            model.generate(**enc, do_sample=False, max_new_tokens=8, min_new_tokens=8)
            t1 = time.monotonic()
            out = model.generate(**enc, do_sample=False, max_new_tokens=n, min_new_tokens=n)
        new = int(out.shape[1] - enc["input_ids"].shape[1])
        tps, dtype = new / (time.monotonic() - t1), "float32 + unmerged peft"
    return {"tokens_per_s": round(tps, 2), "new_tokens": new, "dtype": dtype, "load_s": round(load, 1),
            "peak_rss_gib": peak_rss_gib(),
            "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--new-tokens", type=int, default=96)
    ap.add_argument("--cache", default=str(ROOT / "data" / "bench-models"), help="model.cache_dir to use/reuse")
    ap.add_argument("--adapter", help="an adapter folder (default: a random LoRA made for the run)")
    ap.add_argument("--worker", choices=["fast", "naive"])
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.cache, a.adapter, a.new_tokens)))
        return
    from bot.core.config import Config
    from bot.voice import model as bm

    cfg = Config(data_dir=Path(a.cache) / "bench-data", model={"cache_dir": a.cache})
    base = bm.resolve_base(cfg)  # converts once; not timed
    with tempfile.TemporaryDirectory() as tmp:
        adapter = a.adapter or str(make_adapter(cfg, Path(tmp) / "bench-adapter"))
        from bot.voice.generate import merged_path

        merged_path(cfg, base, Path(adapter))  # built once per adapter version, not per draft: not timed
        res = {}
        for kind in ("naive", "fast"):
            cmd = [sys.executable, __file__, "--worker", kind, "--cache", a.cache, "--adapter", adapter,
                   "--new-tokens", str(a.new_tokens)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            res[kind] = json.loads(out)
    speedup = res["fast"]["tokens_per_s"] / res["naive"]["tokens_per_s"]
    print(json.dumps({"bench": "generate", "base": base.identity, "new_tokens": a.new_tokens,
                      "blogbot": res["fast"], "naive": res["naive"], "speedup": round(speedup, 2),
                      "target_speedup": 3.0, "target_peak_rss_gib": 2.0,
                      "meets_targets": speedup >= 3.0 and res["fast"]["peak_rss_gib"] <= 2.0}, ensure_ascii=False))


if __name__ == "__main__":
    main()
