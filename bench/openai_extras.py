"""Benchmark of model.sampling_extras: the openai backend (api: chat, the style brief) against llama.cpp's server on
the embedded GGUF, the same topics and seeds with `none` (the OpenAI API's fields only: what a chat request sent
before) and `llamacpp` (+ generate.top_k and repeat_penalty, what `auto` now sends to a llama.cpp server).

    .venv/bin/python -m bench.openai_extras                      # demo blogger, 4 topics x 2 seeds x 2 arms (~5 min)
    .venv/bin/python -m bench.openai_extras --topics 2 --seeds 1 # a quick look

Topics: the topic lines (bot.voice.title.topic_line) of the demo blogger's held-out posts (bench/style's split); the
brief carries the training posts. Figures per arm, mean over drafts with n: rep3 (share of word trigrams that repeat
an earlier one in the draft), dup_lines (sense signal: repeated lines), broken (rare syllables the author never
uses, sense.broken), judge (share attributed to the demo blogger by bench/style's plain judge trained on all
invented Korean authors), new tokens, seconds, tokens/s. Drafts of one (topic, seed) run back to back, arms
alternating first."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.style import metrics, models
from bot.core.config import Config

ARMS = ("none", "llamacpp")


def rep3(text: str) -> float:
    ws = text.split()
    grams = [tuple(ws[i:i + 3]) for i in range(len(ws) - 2)]
    return (len(grams) - len(set(grams))) / len(grams) if grams else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--topics", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=200, help="model.max_tokens of each draft")
    ap.add_argument("--example-tokens", type=int, default=800)
    ap.add_argument("--out", type=Path, help="write the rows as JSON")
    a = ap.parse_args(argv)

    from bot.voice.generate import load_backend
    from bot.voice.style import sense
    from bot.voice.title import topic_line

    authors = metrics.split(metrics.load_korean())
    demo = next(x for x in authors if x.name == "demo_blogger")
    judges = metrics.Judges(authors)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = models.author_store(Path(tmp) / "store", demo.train)
        base = Config(data_dir=store)
        base.model.threads = 1
        server = models.ApiServer(base, ctx=4096)
        try:
            url = server.url
            for i, post in enumerate(demo.test[:a.topics]):
                topic = topic_line(post.title, post.tags)
                for seed in range(a.seeds):
                    arms = ARMS if (i + seed) % 2 == 0 else tuple(reversed(ARMS))
                    for arm in arms:
                        cfg = models.arm_config(base, "api-prompting", url, store)  # bench/style's api arm
                        m = cfg.model
                        m.max_tokens, m.example_tokens, m.sampling_extras = a.tokens, a.example_tokens, arm
                        cfg.generate.title_step = False
                        t0 = time.monotonic()
                        g = load_backend(cfg).generate(topic, post.tags, seed=seed)
                        dt = time.monotonic() - t0
                        body = g.body_markdown
                        row = {"arm": arm, "topic": topic, "seed": seed, "extra_body": g.params["extra_body"],
                               "rep3": rep3(body), "dup_lines": sense.measure(body)["dup_lines"],
                               "broken": sense.broken(body), "new_tokens": g.new_tokens, "seconds": round(dt, 2),
                               "tokens_per_s": round(g.new_tokens / dt, 2) if dt else 0.0,
                               "judge": float(judges.attribute([body])["plain"][0] == "demo_blogger"
                                              and bool(body.strip())),
                               "body": body}
                        rows.append(row)
                        print(json.dumps({k: v for k, v in row.items() if k != "body"}, ensure_ascii=False),
                              flush=True)
        finally:
            server.close()
    if a.out:
        a.out.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    report(rows)
    return 0


def report(rows: list[dict[str, Any]]) -> None:
    keys = ("rep3", "dup_lines", "broken", "judge", "new_tokens", "seconds", "tokens_per_s")
    means = {arm: {k: statistics.mean(r[k] for r in rows if r["arm"] == arm) for k in keys} for arm in ARMS}
    n = {arm: sum(r["arm"] == arm for r in rows) for arm in ARMS}
    print("\n| arm | n | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for arm in ARMS:
        print(f"| {arm} | {n[arm]} | " + " | ".join(f"{means[arm][k]:.3f}" for k in keys) + " |")
    base = means["none"]
    print("| llamacpp / none | | " + " | ".join(f"{means['llamacpp'][k] / base[k]:.2f}" if base[k] else "-"
                                               for k in keys) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
