"""Manual review of drafts: list the waiting ones, show one with its score and edit diff, edit in $EDITOR (then
score and gates are recomputed), approve, reject."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import sqlite_utils
from loguru import logger

from bot.core import drafts
from bot.core.config import Config
from bot.core.errors import InputError

REVIEWABLE = ("pending_review", "rejected", "failed")  # what `approve` accepts (a person may change their mind)


def pending(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Drafts waiting for a person, oldest first."""
    return drafts.by_status(db, "pending_review")


def score_summary(draft: dict[str, Any]) -> str | None:
    """The stored score (bot.voice.style's one-line summary) and each quality gate, as text; None when never scored."""
    if not draft.get("score") and not draft.get("gates"):
        return None
    lines = []
    try:
        from bot.voice.style import summary

        lines.append(summary(draft.get("score")))
    except Exception as exc:  # the style model is optional here: fall back to the raw numbers
        logger.debug("style summary unavailable: {}", exc)
        score = draft.get("score")
        if isinstance(score, dict):
            plain = {k: v for k, v in score.items() if not isinstance(v, dict | list)}
            lines.append("score: " + ", ".join(f"{k}={_fmt(v)}" for k, v in plain.items()))
    for g in draft.get("gates") or []:
        mark = "pass" if g.get("passed") else "FAIL"
        lines.append(f"  {mark} {g.get('name')}" + (f": {g['detail']}" if g.get("detail") else ""))
    before = (draft.get("score") or {}).get("before_edit") if isinstance(draft.get("score"), dict) else None
    if before:
        failed = ", ".join(before.get("failed") or []) or "none"
        lines.append(f"  before the edit: {before.get('summary')}; gates failed: {failed}")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def show(db: sqlite_utils.Database, draft_id: int) -> dict[str, Any]:
    """One draft with `summary` (score and gates as text, or None) and, for an edited draft, `diff` (a unified diff
    from the generated original to the current text, or None)."""
    d = drafts.get(db, draft_id)
    d["summary"] = score_summary(d)
    d["diff"] = edit_diff(d)
    return d


def best_of(params: dict[str, Any] | None) -> str | None:
    """How the draft was chosen among its candidates (best-of-n), as one line; None for a draft written alone."""
    p = params or {}
    n, budget = p.get("n_candidates") or 1, p.get("best_of") or {}
    if n > 1:
        stop = (f"; the {budget['budget_s'] / 60:g}-minute budget (generate.draft_minutes) left no time for more"
                if budget.get("stopped_by") == "draft_minutes" else "")
        kept = p.get("candidate_index", 0) + 1
        chosen = next((d for d in p.get("selection") or [] if d.get("chosen")), None)
        copiers = [d for d in p.get("selection") or [] if chosen and d.get("copy_within_yours") is False
                   and d.get("passed") == chosen.get("passed") and (d.get("value") or 0) > (chosen.get("value") or 0)]
        passed_over = (f" (candidate {', '.join(str(d['index'] + 1) for d in copiers)} scored higher but copied more "
                       f"of your posts than your posts copy each other)") if copiers else ""
        return (f"best of {n} candidates written in {budget.get('seconds', '?')} s: candidate {kept} sounds most like "
                f"you x topic{passed_over}{stop}")
    if budget.get("stopped_by") == "draft_minutes":
        return (f"one candidate: it took {budget.get('seconds')} s, so another would not fit the "
                f"{budget['budget_s'] / 60:g}-minute budget (generate.draft_minutes)")
    return None


def edit_diff(d: dict[str, Any]) -> str | None:
    """The person's edit as a unified diff (generated original → current text); None when never edited."""
    if not d.get("original_body"):
        return None
    import difflib

    before = d["original_body"].strip().splitlines()
    after = to_text(d).strip().splitlines()
    return "\n".join(difflib.unified_diff(before, after, "generated", "edited", lineterm="", n=1))


def rescore(cfg: Config, db: sqlite_utils.Database, draft_id: int) -> dict[str, Any]:
    """Score the draft's current text and run every gate again (with its topic's notes); store the result, keeping
    the previous headline and failed gates under score["before_edit"]. Returns the check result."""
    from bot.core import topics
    from bot.voice.style import check_draft, summary

    d = drafts.get(db, draft_id)
    row = topics.get(db, d["topic_id"]) if d.get("topic_id") else None
    result = check_draft(cfg, db, d, notes=(row or {}).get("notes"))
    old = d.get("score") if isinstance(d.get("score"), dict) else None
    if old is not None or d.get("gates"):
        before = (old or {}).get("before_edit") or {
            "summary": summary(old), "failed": [g.get("name") for g in d.get("gates") or [] if not g.get("passed")]}
        result["score"]["before_edit"] = before
    drafts.set_score(db, draft_id, result["score"], result["gates"])
    return result


def to_text(d: dict[str, Any]) -> str:
    return f"# {d['title']}\n\n{d['body_markdown'].strip()}\n"


def from_text(text: str, where: str = "the edited file") -> tuple[str, str]:
    """Split an edited file back into (title, body): the first `# ` line is the title."""
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines or not lines[0].startswith("# ") or not lines[0][2:].strip():
        raise InputError(f"{where}:1: the first line must be the title as `# Title`; nothing was saved")
    body = "\n".join(lines[1:]).strip()
    if not body:
        raise InputError(f"{where}: the body is empty; nothing was saved (use `blogbot review reject` instead)")
    return lines[0][2:].strip(), body


def edit(cfg: Config, db: sqlite_utils.Database, draft_id: int, editor: str | None = None) -> bool:
    """Open the draft in $EDITOR (a temp file); save the edit through drafts.edit, which keeps the original.
    Returns whether anything changed. A failed editor or an unreadable edit saves nothing."""
    d = drafts.get(db, draft_id)
    if d["status"] == "published":
        raise InputError(f"draft {draft_id} is already published; edit it on the blog")
    cmd = editor or os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    fd, tmp = tempfile.mkstemp(prefix=f"blogbot-draft-{draft_id}-", suffix=".md")
    path = Path(tmp)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(to_text(d))
        try:
            rc = subprocess.call([*shlex.split(cmd), str(path)])
        except OSError as exc:
            raise InputError(f"cannot start the editor {cmd!r}: {exc.strerror}; set $EDITOR") from None
        if rc != 0:
            raise InputError(f"the editor {cmd!r} exited with status {rc}; nothing was saved")
        title, body = from_text(path.read_text(encoding="utf-8"), str(path))
    finally:
        path.unlink(missing_ok=True)
    changed = drafts.edit(db, cfg, draft_id, title, body)
    if changed:
        try:
            rescore(cfg, db, draft_id)
        except Exception as exc:  # the edit is saved either way; a stale score must not pass for a fresh one
            logger.warning("draft {}: the edit is saved but could not be rescored ({})", draft_id, exc)
            drafts.set_score(db, draft_id, {"reliable": False, "reason": f"not rescored after the edit: {exc}"}, [])
    return changed


def approve(db: sqlite_utils.Database, draft_id: int) -> dict[str, Any]:
    d = drafts.get(db, draft_id)
    if d["status"] == "approved":
        return d
    if d["status"] not in REVIEWABLE:
        raise InputError(f"draft {draft_id} is {d['status']}; only drafts that wait for review can be approved")
    drafts.set_status(db, draft_id, "approved", "approved by a person")
    return drafts.get(db, draft_id)


def reject(db: sqlite_utils.Database, draft_id: int, reason: str | None) -> dict[str, Any]:
    reason = (reason or "").strip()
    if not reason:
        raise InputError("a rejection needs a reason (--reason '...'); it is kept with the draft")
    d = drafts.get(db, draft_id)
    if d["status"] in ("published",):
        raise InputError(f"draft {draft_id} is already published")
    drafts.set_status(db, draft_id, "rejected", reason)
    return drafts.get(db, draft_id)
