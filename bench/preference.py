"""The preference round's pairs (`bot.voice.preference.sample`: the model's own continuations of training passages,
over the author's training vocabulary): the output layer over the allowed tokens only (the product) against the
full 262k-row layer masked afterwards (the baseline), in the same process, on the embedded model with a fresh
LoRA, the demo blogger's posts and the demo's pair settings.

Rounds alternate the two ways; the ratio is the median over rounds of baseline / product within a round. With the
same seed both ways must sample the same continuations (the allowed tokens' logits are the same numbers).

    .venv/bin/python bench/preference.py [--rounds 2] [--pairs 12] [--tokens 48] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=12, help="passages sampled per round (the demo: 8 + 4 held out)")
    ap.add_argument("--tokens", type=int, default=48, help="tokens per continuation (tune.preference_tokens)")
    ap.add_argument("--cache", default=str(ROOT / "data" / "bench-models"), help="the converted base (kept)")
    args = ap.parse_args()

    from _ab import alternate, verdict

    from bot.core.config import Config
    from bot.voice import corpus, preference, tune
    from bot.voice import model as base_model
    from platforms import files

    cfg = Config(data_dir=Path(args.cache) / "bench-data",
                 model={"cache_dir": args.cache, "threads": len(os.sched_getaffinity(0))},
                 tune={"preference_tokens": args.tokens})
    posts = [p for f in sorted((ROOT / "examples" / "demo" / "posts").glob("*.md")) for p in files.read_file(f)]
    model, tok = base_model.load_model(cfg, for_training=True)
    t = cfg.tune
    rows = corpus.pack(corpus.encode(tok, posts, t.seq_len, corpus.Windows.of(t)), t.seq_len)
    allowed = tune._shortlist(model, tok, rows, t)
    model = tune._lora(cfg, model, keep_dtype=True)
    cuts = preference.passages(tok, posts, t.seq_len, args.pairs, t.preference_tokens, t.seed, corpus.Windows.of(t))
    contexts = [c for c, _ in cuts]
    print(f"{len(contexts)} passages, {args.tokens} tokens each, {len(allowed)} allowed tokens of "
          f"{model.get_output_embeddings().weight.shape[0]}, {cfg.model.threads} threads", flush=True)
    outs: dict[str, list] = {}

    def run(way: str, _round: int) -> float:
        t0 = time.perf_counter()
        out = preference.sample(cfg, model, tok, contexts, args.tokens, allowed, seed=7,
                                head_over_allowed=way == "allowed only")
        outs.setdefault(way, out)
        return time.perf_counter() - t0

    times = alternate(args.rounds, "full layer", "allowed only", run)
    verdict("sampling the pairs", times, "full layer", "allowed only", outs["full layer"] == outs["allowed only"],
            "continuations")


if __name__ == "__main__":
    main()
