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


def check_draft(cfg: Config, db: sqlite_utils.Database, draft: dict, notes: str | None = None) -> dict[str, Any]:
    """Score a draft and run the gates: {"score": {...}, "gates": [{"name", "passed", "detail", "figure",
    "threshold"}], "passed": bool}. `notes` (the topic's notes; else draft["notes"]) are checked by the topic gate."""
    from bot.voice.style import voice

    v = voice.load(cfg, db)
    tags = draft.get("tags") or []
    if isinstance(tags, str):
        from bot.core.store import loads

        tags = loads(tags, [])
    notes = notes if notes is not None else draft.get("notes")
    return check_text(cfg, v, draft.get("title") or "", draft.get("body_markdown") or "",
                      topic=draft.get("topic") or "", tags=tags, notes=notes)


def check_text(cfg: Config, v: Any, title: str, body: str, topic: str = "", tags: list[str] | None = None,
               notes: str | None = None) -> dict[str, Any]:
    """Every gate and the score of one text against a fitted voice (bot.voice.style.voice.Voice)."""
    from bot.voice.style import gates as G
    from bot.voice.style import layout, lmorder, sense

    body = body.strip()
    text = draft_text({"title": title, "body_markdown": body}) if body else ""
    score = v.score(text, cfg.style.max_chars)
    g = cfg.gates
    tags = [str(t) for t in tags or []]
    # topic adherence is judged on the body: the title usually restates the topic and would always match
    rare = v.sense.allowed_rare if v.sense is not None else frozenset()
    results = [G.repetition_gate(g, body, v.max_hashtags, rare), G.copy_gate(g, v.copy_index, text),
               G.length_gate(g, v.length_range, body), G.topic_gate(g, topic, tags, body, notes),
               G.forbidden_gate(g, text), G.title_gate(g, title, topic if cfg.generate.title_step else "",
                                                    getattr(v, "title_lengths", None), rare)]
    if g.sense:
        if v.sense is None:
            results.append(G.gate("sense", True, "no reference posts to calibrate the sense gate on"))
        elif not body:
            results.append(G.gate("sense", False, "empty text"))
        else:
            r = v.sense.check(body[:cfg.style.max_chars], lm=lmorder.judge(cfg) if g.sense_lm else None)
            sig = {k: (round(x, 4) if isinstance(x, float) else x) for k, x in r["signals"].items()}
            ref = f" [reference: {v.sense.source}" + ("" if v.sense.order is not None else
                                                       "; sentence order not checked: it does not separate your "
                                                       "posts from their shuffled sentences") + "]"
            results.append(G.gate("sense", r["passed"], sense.describe(r) + ref,
                                  {"failed": r["failed"], "signals": sig},
                                  {k: round(b, 4) for k, b in r["bounds"].items()}))
    if g.layout and v.layout is not None and body:
        r = layout.LayoutProfile.check(v.layout, body[:cfg.style.max_chars], g.layout_slack)
        results.append(G.gate("layout", r["passed"], layout.describe(r),
                              {k: round(x, 2) for k, x in r["figures"].items()},
                              {k: [round(lo, 2), round(hi, 2)] for k, (lo, hi) in r["bounds"].items()}))
    topic_ov = G.topic_overlap(topic, tags, body)
    score["topic_overlap"] = None if topic_ov is None else round(topic_ov, 3)
    if body and v.posts:
        lang = score.get("lang")
        results.append(G.gate("language", lang == v.lang, f"text language {lang}; the author writes {v.lang}",
                              lang, v.lang))
    if g.require_reliable_score:
        results.append(G.gate("reliable score", bool(score["reliable"]),
                              "score is reliable" if score["reliable"] else f"unreliable: {score['reason']}",
                              bool(score["reliable"]), True))
    if score.get("fidelity") is not None and g.min_fidelity > 0:
        results.append(G.gate("fidelity", score["fidelity"] >= g.min_fidelity,
                              f"fidelity {score['fidelity']:.0%} (min {g.min_fidelity:.0%})",
                              score["fidelity"], g.min_fidelity))
    if score.get("distance") is not None and g.max_distance is not None:
        results.append(G.gate("distance", score["distance"] <= g.max_distance,
                              f"distance {score['distance']:.2f} (max {g.max_distance:.2f})",
                              score["distance"], g.max_distance))
    return {"score": score, "gates": results, "passed": all(r["passed"] for r in results)}


def held_back(result: dict[str, Any]) -> str | None:
    """Why a checked draft must not be published without a person, or None when every gate passed. A failed sense
    gate always holds a draft back, whatever its other scores (jobs/draft.route: review instead of auto)."""
    failed = [r["name"] for r in result.get("gates") or [] if not r.get("passed")]
    if not failed:
        return None
    if "sense" in failed:
        return "nonsense: the sense gate failed" + (f" (also {', '.join(f for f in failed if f != 'sense')})"
                                                    if len(failed) > 1 else "")
    return "gates failed: " + ", ".join(failed)


def in_words(score: dict | None) -> str | None:
    """What the headline figure means, in words."""
    if not score or score.get("style") is None:
        return None
    if score.get("style_source") == "distance":
        c = score["style"]
        n = round(c * 10)
        if n >= 10:
            return "closer to your style than every one of your own posts"
        if n <= 0:
            return "farther from your style than every one of your own posts"
        return f"closer to your style than {n} of 10 of your own posts"
    return f"the style classifier rates it {score['style']:.0%} as typical of you as your own posts"


def summary(score: dict | None) -> str:
    """One line for `blogbot review` / `blogbot status`: the headline style figure (0–100 %), what it means, and
    the distance it comes from (0 = as close as your own posts, 1 = as far as a typical other author)."""
    if not score:
        return "style: not scored"
    if score.get("style") is None:
        if score.get("fidelity") is None:
            return f"style: unreliable — {score.get('reason') or 'no score'}"
        score = {**score, "style": score["fidelity"], "style_source": "classifier"}  # drafts scored before v7
    s = f"style {score['style']:.0%} — {in_words(score)}"
    extra = []
    if score.get("style_source") == "distance" and score.get("distance") is not None:
        extra.append(f"distance {score['distance']:.2f}")
    if score.get("topic_overlap") is not None:
        extra.append(f"topic {score['topic_overlap']:.0%}")
    if extra:
        s += " (" + ", ".join(extra) + ")"
    if not score.get("reliable", True):
        s += " unreliable"
    if score.get("warning"):
        s += f" — {score['warning']}"
    return s
