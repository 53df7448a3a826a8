"""How faithfully a merged GGUF reproduces base + the run-time LoRA, per type the merged weights are written in.

For each adapter and prompt, llama.cpp's next-token top-20 on: the bare base, base + the GGUF LoRA (`--lora`, the
reference), and the base with the adapter merged into its LoRA targets written as Q8_0 (what blogbot writes), Q5_0 (a
4-5-bit type like the base's own Q4_K/Q5_0/Q6_K) and F16 (no rounding of the merged weight at all). Printed: the
adapter's own shift (L1 of bare vs reference) and each merge's distance from the reference, summed over prompts;
the F16 row is llama.cpp's numeric floor (its quantized kernels round the activations of the 4-bit base too).

    .venv/bin/python bench/merge_gguf.py [ADAPTER_DIR ...]   (default: two random r=16 adapters, B at 0.01)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
TOPICS = [("동네 빵집에서 산 소금빵 이야기", ["빵"]), ("주말 가을 산책", ["여행"]), ("새 노트북 첫인상", ["IT"]),
          ("비 오는 날 듣는 노래", ["음악"])]
TYPES = ("Q8_0", "Q5_0", "F16")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("adapters", nargs="*", type=Path)
    a = ap.parse_args(argv)
    from _llama_server import embedded_gguf
    from _lora_adapter import make_adapter
    from test_merge_gguf import l1, top_probs

    from bot.voice import corpus
    from bot.voice.backends.lora_gguf import to_gguf
    from bot.voice.backends.merge_gguf import merge

    work = Path(tempfile.mkdtemp(prefix="bench-merge-"))
    base = embedded_gguf(work)
    adapters = a.adapters or [make_adapter(work / f"random{s}", base, r=16, b_scale=0.01, seed=s) for s in (1, 2)]
    prompts = [corpus.render_prompt(t, tags, "보통") for t, tags in TOPICS]
    bare = top_probs(base, prompts)
    print(f"{len(prompts)} prompts, next-token top-20, L1 distance summed over prompts (lower = closer)\n")
    print(f"{'adapter':16s} {'shift':>7s} " + " ".join(f"{t:>7s}" for t in TYPES) + "   (merged vs base+LoRA)")
    try:
        for ad in adapters:
            ref = top_probs(base, prompts, to_gguf(ad, work / "lora.gguf", base))
            row = [sum(l1(r, b) for r, b in zip(ref, bare, strict=True))]
            for t in TYPES:
                mine = top_probs(merge(ad, base, work / "merged.gguf", t), prompts)
                row.append(sum(l1(r, m) for r, m in zip(ref, mine, strict=True)))
            print(f"{ad.name[:16]:16s} " + " ".join(f"{x:7.3f}" for x in row) + "   share of the shift: "
                  + ", ".join(f"{t} {x / row[0]:.0%}" for t, x in zip(TYPES, row[1:], strict=True)), flush=True)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
