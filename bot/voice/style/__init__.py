"""Style: the author's profile, the fidelity score of a text, the quality gates, best-of-n selection."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from bot.core.config import Config


def score_text(cfg: Config, db: sqlite_utils.Database, text: str) -> dict[str, Any]:
    """How much a text sounds like the author: topic-masked and plain fidelity, distance, reliability."""
    from bot.voice.style import voice

    return voice.load(cfg, db).score(text, cfg.style.max_chars)


def draft_text(draft: dict) -> str:
    from bot.voice.style.voice import post_text

    return post_text(draft.get("title") or "", draft.get("body_markdown") or "")


def check_draft(cfg: Config, db: sqlite_utils.Database, draft: dict) -> dict[str, Any]:
    """Score a draft and run the gates: {"score": {...}, "gates": [{"name", "passed", "detail"}], "passed": bool}."""
    from bot.voice.style import gates as G
    from bot.voice.style import voice

    v = voice.load(cfg, db)
    body = (draft.get("body_markdown") or "").strip()
    text = draft_text(draft) if body else ""
    score = v.score(text, cfg.style.max_chars)
    g = cfg.gates
    tags = draft.get("tags") or []
    if isinstance(tags, str):
        from bot.core.store import loads

        tags = loads(tags, [])
    # topic adherence is judged on the body: the title usually restates the topic and would always match
    results = [G.repetition_gate(g, body), G.copy_gate(g, v.copy_index, text), G.length_gate(g, v.length_range, body),
               G.topic_gate(g, draft.get("topic") or "", tags, body), G.forbidden_gate(g, text)]
    topic = G.topic_overlap(draft.get("topic") or "", tags, body)
    score["topic_overlap"] = None if topic is None else round(topic, 3)
    if body and v.posts:
        lang = score.get("lang")
        results.append(G.gate("language", lang == v.lang, f"text language {lang}; the author writes {v.lang}"))
    if g.require_reliable_score:
        results.append(G.gate("reliable score", bool(score["reliable"]),
                              "score is reliable" if score["reliable"] else f"unreliable: {score['reason']}"))
    if score.get("fidelity") is not None and g.min_fidelity > 0:
        results.append(G.gate("fidelity", score["fidelity"] >= g.min_fidelity,
                              f"fidelity {score['fidelity']:.0%} (min {g.min_fidelity:.0%})"))
    if score.get("distance") is not None and g.max_distance is not None:
        results.append(G.gate("distance", score["distance"] <= g.max_distance,
                              f"distance {score['distance']:.2f} (max {g.max_distance:.2f})"))
    return {"score": score, "gates": results, "passed": all(r["passed"] for r in results)}


def summary(score: dict | None) -> str:
    """One line for `blogbot review` / `blogbot status`: e.g. 'style 87% (plain 92%, distance 0.31)'."""
    if not score:
        return "style: not scored"
    if score.get("fidelity") is None:
        return f"style: unreliable — {score.get('reason') or 'no score'}"
    s = f"style {score['fidelity']:.0%} (plain {score['fidelity_plain']:.0%}"
    if score.get("distance") is not None:
        s += f", distance {score['distance']:.2f}"
    if score.get("topic_overlap") is not None:
        s += f", topic {score['topic_overlap']:.0%}"
    s += ")"
    if not score.get("reliable", True):
        s += " unreliable"
    if score.get("warning"):
        s += f" — {score['warning']}"
    return s
