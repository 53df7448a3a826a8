"""Decode speed and memory per backend, on the embedded GGUF, same threads, same adapter, in one run:

  plain     llama.cpp (xllamacpp) on the GGUF, no adapter — the reference
  llamacpp  blogbot's llamacpp backend with the adapter applied at run time (`--lora`; model.llamacpp_adapter: lora)
  merged    the same backend on the GGUF with the adapter merged in (model.llamacpp_adapter: merge, which auto picks
            for a GGUF under 1 GiB; written once before the rounds, not timed) — both: target ≥ 0.95× plain,
            RSS ≤ 0.5 GiB
  torch     blogbot's local backend (transformers, adapter merged, int8, output layer cut to the author's vocabulary)
  torch-channel  the same with int8 scales per output row (generate.int8_scales: channel; not in the default arms)
  server    llama.cpp's server with the adapter, read directly over HTTP (its own tokens/s)
  openai    blogbot's openai backend against that server (target: ≤ 5 % slower than `server`)

Each arm runs in a fresh process (its peak RSS is its own); rounds are interleaved; speeds shown are the best round
of each arm, ratios the median over rounds of the ratio within a round (the CPUs here are shared). The RSS figures
leave out the Korean analyser that suggests tags (kiwi, ~0.5 GiB): every backend and the style gates load it alike.

    .venv/bin/python bench/backends.py [--tokens 128] [--threads 1] [--rounds 3] [--adapter DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]
ARMS = ("plain", "merged", "llamacpp", "torch", "server", "openai")
TOPIC, TAGS = "동네 빵집에서 산 소금빵 이야기", ["빵", "동네"]


def _cfg(work: Path, backend: str, gguf: Path, threads: int, tokens: int, extra: str = "") -> object:
    from bot.core import config

    p = work / f"config-{backend}.yaml"
    p.write_text(f"data_dir: {work / 'data'}\nmodel:\n  backend: {backend}\n  gguf: {gguf}\n  threads: {threads}\n"
                 f"  cache_dir: {Path.home() / '.cache' / 'blogbot-bench'}\n  context_tokens: 1024\n{extra}"
                 f"generate:\n  temperature: 0\n  max_new_tokens: {tokens}\n  min_new_tokens: {tokens}\n",
                 encoding="utf-8")
    return config.load(p)


def _no_tags(topic: str, tags: list[str], body: str, examples: object = None, k: int = 5) -> list[str]:
    return tags


def worker(arm: str, a: argparse.Namespace) -> dict:
    """One arm in this process: (tokens/s, peak RSS)."""
    from _mem import peak_rss_gib

    work = Path(a.work)
    gguf, adapter = Path(a.gguf), Path(a.adapter)
    if arm == "plain":
        import xllamacpp as x

        from bot.voice.backends.llamacpp import params

        s = x.Server(params(gguf, None, a.threads, 1024))
        from bot.voice import corpus

        r = s.handle_completions({"prompt": corpus.render_prompt(TOPIC, TAGS, "보통"), "n_predict": a.tokens,
                                  "temperature": 0, "ignore_eos": True})
        return {"tokens_per_s": r["timings"]["predicted_per_second"], "tokens": r["timings"]["predicted_n"],
                "rss_gib": peak_rss_gib()}
    if arm in ("llamacpp", "merged", "torch", "torch-channel"):
        import bot.voice.backends.llamacpp as lb
        import bot.voice.generate as gen

        lb.suggest_tags = gen.suggest_tags = _no_tags
        torch_arm = arm.startswith("torch")
        cfg = _cfg(work, "local" if torch_arm else "llamacpp", gguf, a.threads, a.tokens,
                   "  base: null\n" if torch_arm else f"  llamacpp_adapter: {'merge' if arm == 'merged' else 'lora'}\n")
        if torch_arm:
            cfg.model.gguf = None
            cfg.generate.int8_scales = "channel" if arm == "torch-channel" else "tensor"
        b = gen.load_backend(cfg, adapter, "bench")
        g = b.generate(TOPIC, TAGS, seed=1)
        tps = g.params.get("decode_tokens_per_s") or g.tokens_per_s
        return {"tokens_per_s": tps, "tokens": g.new_tokens, "rss_gib": peak_rss_gib(),
                "note": g.params.get("dtype", "")}
    if arm in ("server", "openai"):
        import bot.voice.generate as gen

        gen.suggest_tags = _no_tags
        import bot.voice.backends.openai_compat as oc

        oc.suggest_tags = _no_tags
        cfg = _cfg(work, "openai", gguf, a.threads, a.tokens,
                   f"  base_url: {a.url}\n  name: bench\n  api: completions\n  max_tokens: {a.tokens}\n")
        b = gen.load_backend(cfg, adapter, "bench")
        if arm == "openai":
            g = b.generate(TOPIC, TAGS, seed=1)
            return {"tokens_per_s": g.tokens_per_s, "tokens": g.new_tokens, "rss_gib": peak_rss_gib()}
        import httpx2

        req, _ = b._request(TOPIC, TAGS, None, 1, None)
        body = {k: v for k, v in req.items() if k != "extra_body"} | req.get("extra_body", {})
        t0, n = time.monotonic(), 0
        with httpx2.Client(timeout=600) as c, c.stream("POST", f"{a.url}/completions", json=body) as r:
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    d = json.loads(line[6:])
                    n = (d.get("usage") or {}).get("completion_tokens") or n
        return {"tokens_per_s": n / (time.monotonic() - t0), "tokens": n, "rss_gib": peak_rss_gib()}
    raise SystemExit(f"unknown arm {arm}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--arms", default=",".join(ARMS))
    ap.add_argument("--adapter", help="a PEFT adapter folder (default: a random r=16 adapter on all 7 projections)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--gguf", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        print("RESULT " + json.dumps(worker(a.worker, a)), flush=True)
        return 0
    from _llama_server import LlamaServer, embedded_gguf
    from _lora_adapter import make_adapter

    from bot.voice.backends.llamacpp import merge_adapter
    from bot.voice.backends.lora_gguf import to_gguf

    work = Path(tempfile.mkdtemp(prefix="bench-backends-"))
    gguf = embedded_gguf(work)
    road = "merged" if merge_adapter("auto", gguf) else "llamacpp"  # what backend: llamacpp runs by default here
    adapter = Path(a.adapter) if a.adapter else make_adapter(work / "adapter", gguf, r=16, b_scale=0.01)
    arms = [x for x in a.arms.split(",") if x]
    server = None
    if "merged" in arms:  # the merge is written once per adapter version; the arm times decoding only
        from bot.voice.backends.llamacpp import merged_path

        t0 = time.monotonic()
        merged = merged_path(_cfg(work, "llamacpp", gguf, a.threads, a.tokens), adapter, gguf)
        print(f"merged GGUF written in {time.monotonic() - t0:.1f} s ({merged.stat().st_size / 2**20:.0f} MiB; "
              f"base {gguf.stat().st_size / 2**20:.0f} MiB)", flush=True)
    if {"server", "openai"} & set(arms):
        server = LlamaServer(gguf, to_gguf(adapter, work / "adapter.gguf", gguf), alias="bench")
    results: dict[str, list[dict]] = {arm: [] for arm in arms}
    try:
        for rnd in range(a.rounds):
            # every other round runs the arms in reverse order (the server and the client arms: the second one meets a
            # warm prompt cache; the local arms: the load drifts)
            order = arms if rnd % 2 == 0 else list(reversed(arms))
            for arm in order:
                cmd = [sys.executable, __file__, "--worker", arm, "--gguf", str(gguf), "--adapter", str(adapter),
                       "--work", str(work), "--tokens", str(a.tokens), "--threads", str(a.threads)]
                if server:
                    cmd += ["--url", server.url]
                p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                                   env={**os.environ, "OMP_NUM_THREADS": str(a.threads)})
                line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
                if line is None:
                    print(f"{arm} failed:\n{p.stderr[-2000:]}", file=sys.stderr)
                    continue
                r = json.loads(line[7:])
                results[arm].append(r)
                print(f"round {rnd + 1} {arm:9s} {r['tokens_per_s']:7.2f} tok/s  {r['tokens']} tokens  "
                      f"RSS {r['rss_gib']:.3f} GiB", flush=True)
    finally:
        if server:
            server.stop()
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    best = {arm: max(rs, key=lambda r: r["tokens_per_s"]) for arm, rs in results.items() if rs}
    print(f"\nbest of {a.rounds} rounds, {a.tokens} tokens, {a.threads} thread(s), load {os.getloadavg()[0]:.1f}:")
    for arm, r in best.items():
        print(f"  {arm:9s} {r['tokens_per_s']:7.2f} tok/s  peak RSS {r['rss_gib']:.3f} GiB")
    # ratios within each round (the arms ran back to back, under the same load), then their median over the rounds:
    # on shared CPUs the load drifts between rounds far more than between two neighbouring arms
    ratios = {}
    for arm, ref in (("llamacpp", "plain"), ("merged", "plain"), ("merged", "llamacpp"), ("torch", "plain"),
                     ("llamacpp", "torch"), ("torch-channel", "torch"), ("openai", "server")):
        pairs = [a["tokens_per_s"] / b["tokens_per_s"] for a, b in zip(results.get(arm, []), results.get(ref, []),
                                                                       strict=False) if b["tokens_per_s"] > 0]
        if pairs:
            ratios[f"{arm}/{ref}"] = round(statistics.median(pairs), 3)
            print(f"  {arm + '/' + ref:15s} {ratios[f'{arm}/{ref}']:.3f} (median of {len(pairs)} rounds: "
                  + ", ".join(f"{x:.2f}" for x in pairs) + ")")
    checks = {f"{arm} {what}": ok for arm in ("llamacpp", "merged") if arm in best
              for what, ok in (("≥ 0.95× plain", ratios.get(f"{arm}/plain", 0) >= 0.95),
                               ("RSS ≤ 0.5 GiB", best[arm]["rss_gib"] <= 0.5))}
    if "openai" in best:
        checks["openai ≥ 0.95× server"] = ratios.get("openai/server", 0) >= 0.95
    for k, ok in checks.items():
        print(f"  {'ok  ' if ok else 'MISS'} {k}")
    if road in best:
        print(f"  backend llamacpp's default road for this GGUF (llamacpp_adapter: auto) is {road}: "
              f"{ratios.get(f'{road}/plain', 0):.3f}× plain")
    if "llamacpp/torch" in ratios:  # the rule: llamacpp drafts by default only where it beats the torch path
        faster = ratios["llamacpp/torch"] > 1
        print(f"  default for drafting on this machine: {'llamacpp' if faster else 'local (torch)'} "
              f"(llamacpp/torch {ratios['llamacpp/torch']:.3f}; blogbot ships `local`)")
    if a.json:
        Path(a.json).write_text(json.dumps({"best": best, "ratios": ratios, "rounds": results, "checks": checks,
                                            "tokens": a.tokens, "threads": a.threads}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
