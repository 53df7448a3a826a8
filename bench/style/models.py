"""Benchmark, model side: tune an adapter per author, generate for held-out topics, prompting baseline, perplexity."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bot.core.config import Config
from bot.core.records import Post


def unavailable() -> str | None:
    """Why the tune/generate side cannot run here (None when it can)."""
    try:
        from bot.voice import generate, tune
    except ImportError as exc:
        return f"model code not importable: {exc}"
    missing = [n for n, m, a in (("bot.voice.tune.train", tune, "train"),
                                 ("bot.voice.tune.perplexity_of", tune, "perplexity_of"),
                                 ("bot.voice.generate.load_backend", generate, "load_backend")) if not hasattr(m, a)]
    return ("missing: " + ", ".join(missing)) if missing else None


def bench_config(data_dir: Path, quick: bool, steps: int | None, new_tokens: int | None) -> Config:
    cfg = Config(data_dir=data_dir)
    # the converted base model is cached across runs (converting the embedded GGUF takes a while)
    cfg.model.cache_dir = os.environ.get("BLOGBOT_BENCH_CACHE", str(Path.home() / ".cache" / "blogbot-bench"))
    cfg.tune.max_steps = steps or (30 if quick else 200)
    cfg.tune.max_minutes = 3.0 if quick else 20.0
    if quick:
        cfg.tune.batch_tokens = 512
        cfg.tune.eval_every = 1000  # no intermediate evaluations in a quick run
    cfg.tune.min_posts = 4
    cfg.generate.max_new_tokens = new_tokens or (160 if quick else 700)
    cfg.generate.n_candidates = 1
    cfg.generate.retrieve_examples = 0
    return cfg


def tune(cfg: Config, posts: list[Post], out_dir: Path) -> dict[str, Any]:
    from bot.voice import tune as t

    t0 = time.perf_counter()
    metrics = t.train(cfg, posts, out_dir)
    metrics["bench_seconds"] = round(time.perf_counter() - t0, 1)
    return metrics


def _topic(p: Post) -> str:
    """What to write about: the held-out post's title, else its first sentence (EBG essays have no titles)."""
    if p.title.strip():
        return p.title.strip()
    first = p.body_markdown.strip().split("\n", 1)[0]
    return " ".join(first.split()[:14])


def generate(cfg: Config, adapter_dir: Path | None, topics: list[Post], examples: list[Post] | None = None,
             seed: int = 0) -> list[dict[str, Any]]:
    """One generation per held-out topic; with `examples` and no adapter this is the prompting baseline."""
    from bot.voice import generate as g

    backend = g.load_backend(cfg, adapter_dir)
    out = []
    for i, p in enumerate(topics):
        t0 = time.perf_counter()
        gen = backend.generate(_topic(p), p.tags, examples=examples, seed=seed + i)
        out.append({"topic": _topic(p), "title": gen.title, "body_markdown": gen.body_markdown,
                    "new_tokens": gen.new_tokens, "seconds": round(time.perf_counter() - t0, 1)})
    return out


def perplexities(cfg: Config, held_out: list[Post], adapters: dict[str, Path]) -> dict[str, float]:
    """Held-out perplexity of one author's real posts under the base model and under each adapter."""
    from bot.voice import tune as t

    out = {"base": t.perplexity_of(cfg, held_out, None)}
    for name, path in adapters.items():
        out[name] = t.perplexity_of(cfg, held_out, path)
    return {k: round(v, 3) for k, v in out.items()}
