"""One line of logs/generations.jsonl per candidate: what was asked (prompt or its hash and the examples used), with
which backend and parameters, what came out, and every gate and score it got. The draft job appends these."""

from __future__ import annotations

import hashlib
from typing import Any

from bot.voice.style import held_back

SCORE_KEYS = ("style", "style_source", "closeness", "distance", "fidelity", "fidelity_plain", "p_masked", "p_plain",
              "attributed", "topic_overlap", "reliable", "reason", "lang", "chars", "truncated", "model")


def candidate_record(*, at: str, draft_id: int | None, topic: dict, index: int, chosen: bool, gen: Any,
                     check: dict[str, Any], backend: str, prompt: str | None = None,
                     examples: list[Any] | None = None, keep_prompt: bool = True) -> dict[str, Any]:
    """The generations.jsonl record of one candidate.

    gen: the bot.core.records.Generation; check: bot.voice.style.check_draft's result for it; backend: the
    generation backend's name (e.g. "local", "llama.cpp", "openai"); prompt: the exact prompt text (kept when
    keep_prompt, always hashed); examples: the bot.core.records.Post examples put in the prompt (their platform and
    source ids are logged)."""
    ex = [f"{getattr(e, 'platform', '?')}:{getattr(e, 'source_id', '?')}" for e in examples or []]
    rec: dict[str, Any] = {
        "at": at, "draft_id": draft_id, "topic_id": topic.get("id"), "topic": topic.get("topic"),
        "notes": topic.get("notes"), "index": index, "chosen": chosen,
        "backend": backend, "base_model": gen.base_model, "adapter_version": gen.adapter_version,
        "params": gen.params, "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest() if prompt else None,
        "prompt": prompt if keep_prompt else None, "example_ids": ex,
        "new_tokens": gen.new_tokens, "duration_s": round(gen.duration_s, 3),
        "tokens_per_s": round(gen.tokens_per_s, 2), "title": gen.title, "body_markdown": gen.body_markdown,
        "tags": gen.tags, "passed": bool(check.get("passed")), "held_back": held_back(check),
        "score": {k: (check.get("score") or {}).get(k) for k in SCORE_KEYS},
        "gates": [{"name": g["name"], "passed": g["passed"], "figure": g.get("figure"),
                   "threshold": g.get("threshold"), "detail": g.get("detail")} for g in check.get("gates") or []],
    }
    return rec
