"""Benchmark: trained tokens/s (real, non-padding tokens) of `bot.tune.train` (packed rows, completion-only chunked
loss, bf16 by measurement) vs a naive baseline in the same run: HF Trainer + peft, same LoRA and dtype, every example
padded to the max length. Each side in its own process for its peak RSS. Prints JSON. Target: ≥2× and ≤3 GiB."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def load_posts() -> list:
    from platforms import files

    return [p for f in sorted((ROOT / "examples" / "demo" / "posts").glob("*.md")) for p in files.read_file(f)]


def config(cache: str, steps: int):
    from bot.config import Config

    # both arms on the same number of threads (blogbot would otherwise pick 1 on a machine it finds busy)
    threads = len(os.sched_getaffinity(0))
    return Config(data_dir=Path(cache) / "bench-data", model={"cache_dir": cache, "threads": threads},
                  tune={"max_steps": steps, "eval_every": 10**6, "checkpoint_every": 10**6, "max_minutes": 60})


def worker(kind: str, cache: str, steps: int) -> dict:
    import torch
    from _mem import peak_rss_gib

    from bot import corpus
    from bot import model as bm

    cfg = config(cache, steps)
    torch.set_num_threads(cfg.model.threads)
    posts = load_posts()
    if kind == "blogbot":
        from bot import tune

        with tempfile.TemporaryDirectory() as tmp:
            m = tune.train(cfg, posts, Path(tmp) / "v")
        out = {"tokens_per_s": m["tokens_per_s"], "tokens": m["tokens"], "seconds": m["seconds"], "steps": m["steps"]}
    else:
        from transformers import Trainer, TrainingArguments

        from bot.tune import _lora

        model, tok = bm.load_model(cfg, for_training=True)
        model = _lora(cfg, model)
        train, _ = corpus.split(posts, cfg.tune.holdout, cfg.tune.seed, cfg.tune.min_posts)
        exs = corpus.encode(tok, train, cfg.tune.seq_len)
        L = cfg.tune.seq_len
        data = [{"input_ids": e.input_ids + [tok.pad_token_id] * (L - len(e.input_ids)),
                 "labels": e.labels + [corpus.IGNORE] * (L - len(e.labels)),
                 "attention_mask": [1] * len(e.input_ids) + [0] * (L - len(e.input_ids))} for e in exs]
        per = max(1, cfg.tune.batch_tokens // L)
        counted = {"tokens": 0}

        def collate(batch: list[dict]) -> dict:
            counted["tokens"] += sum(sum(b["attention_mask"]) for b in batch)
            return {k: torch.tensor([b[k] for b in batch]) for k in batch[0]}

        with tempfile.TemporaryDirectory() as tmp:
            args = TrainingArguments(output_dir=tmp, per_device_train_batch_size=per, max_steps=steps,
                                     learning_rate=cfg.tune.learning_rate, logging_steps=10**6, save_strategy="no",
                                     report_to=[], use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0,
                                     remove_unused_columns=False, disable_tqdm=True)
            tr = Trainer(model=model, args=args, train_dataset=data, data_collator=collate)
            t0 = time.monotonic()
            tr.train()
            sec = time.monotonic() - t0
        out = {"tokens_per_s": round(counted["tokens"] / sec, 1), "tokens": counted["tokens"], "seconds": round(sec, 1),
               "steps": steps, "padded_tokens": steps * per * L}
    out["peak_rss_gib"] = peak_rss_gib()
    out["threads"] = torch.get_num_threads()
    out["dtype"] = str(bm.choose_dtype(cfg)).removeprefix("torch.")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--cache", default=str(ROOT / "data" / "bench-models"))
    ap.add_argument("--worker", choices=["blogbot", "naive"])
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.cache, a.steps)))
        return
    from bot import model as bm

    base = bm.resolve_base(config(a.cache, a.steps))  # converts once; not timed
    res = {}
    for kind in ("naive", "blogbot"):
        cmd = [sys.executable, __file__, "--worker", kind, "--cache", a.cache, "--steps", str(a.steps)]
        res[kind] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
    speedup = res["blogbot"]["tokens_per_s"] / res["naive"]["tokens_per_s"]
    print(json.dumps({"bench": "tune", "base": base.identity, "blogbot": res["blogbot"], "naive": res["naive"],
                      "speedup": round(speedup, 2), "target_speedup": 2.0, "target_peak_rss_gib": 3.0,
                      "meets_targets": speedup >= 2.0 and res["blogbot"]["peak_rss_gib"] <= 3.0}))


if __name__ == "__main__":
    main()
