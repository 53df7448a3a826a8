"""Desk pages of the drafts: the lists by state, one draft (previews per platform, gates, score, editor with diff),
and its actions: approve, reject, re-draft, publish now."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, send_file, url_for

from bot.core import drafts, ledger
from bot.shell import review
from bot.shell.desk import render
from bot.shell.desk.common import _, cfg, db, start_job

bp = Blueprint("drafts", __name__)

# The tabs of the list, in the order a reviewer works through them.
TABS = ("pending_review", "approved", "published", "rejected", "failed")


@bp.get("/drafts")
def index() -> Any:
    state = request.args.get("state", "pending_review")
    if state not in TABS:
        state = "pending_review"
    lists = {t: drafts.by_status(db(), t) for t in TABS}
    counts = {t: len(v) for t, v in lists.items()}
    rows = []
    for d in reversed(lists[state]):
        ok, total = render.gate_counts(d.get("gates"))
        rows.append({**d, "fidelity": render.fidelity(d.get("score")), "gates_ok": ok, "gates_total": total,
                     "pubs": ledger.recent(db(), d["id"])})
    return render_template("drafts.html", state=state, tabs=TABS, counts=counts, rows=rows)


@bp.get("/drafts/<int:draft_id>")
def show(draft_id: int) -> Any:
    d = review.show(db(), draft_id)
    targets = list(d.get("platforms") or cfg().publish.defaults())
    return render_template(
        "draft.html", d=d, text=review.to_text(d), previews=render.previews(d, targets),
        pubs=ledger.recent(db(), draft_id), diff=render.diff_lines(d.get("diff")),
        fidelity=render.fidelity(d.get("score")), message=request.args.get("msg"))


@bp.post("/drafts/<int:draft_id>/edit")
def edit(draft_id: int) -> Any:
    """Save the editor's text (drafts.edit keeps the generated original), then score it and run the gates again
    (review.rescore, as `blogbot review edit` does)."""
    if drafts.get(db(), draft_id)["status"] == "published":
        from bot.core.errors import InputError

        raise InputError(_("This draft is already published."))
    title, body = review.from_text(request.form.get("text", ""), _("the editor"))
    changed = drafts.edit(db(), cfg(), draft_id, title, body)
    if changed:
        review.rescore(cfg(), db(), draft_id)
    msg = _("Saved and scored again.") if changed else _("Nothing changed.")
    return redirect(url_for("drafts.show", draft_id=draft_id, msg=msg))


@bp.get("/drafts/<int:draft_id>/style.png")
def style_chart(draft_id: int) -> Any:
    """The author's style profile beside this draft's (bot.voice.style.chart), drawn once per version of the text.
    The page asks for it only when a person opens it: the first fit of the style model takes a while."""
    import hashlib

    from bot.voice.style import draft_text, features, voice
    from bot.voice.style.chart import profile_chart

    d = drafts.get(db(), draft_id)
    version = hashlib.sha1(f"{d['title']}\n{d['body_markdown']}".encode()).hexdigest()[:10]
    out = cfg().data_path / "style" / f"desk-draft-{draft_id}-{version}.png"
    if not out.exists():
        prof = voice.load(cfg(), db()).profile()
        mine = features.features(features.analyze(draft_text(d)[:cfg().style.max_chars]).counts)
        profile_chart(prof["features"], mine, out, title=_("your posts and draft #%(id)s", id=draft_id),
                      other_name=_("draft #%(id)s", id=draft_id))
    return send_file(out, mimetype="image/png", max_age=0)


@bp.post("/preview")
def preview() -> Any:
    """The editor's live preview: the text as the publishers will send it."""
    text = request.form.get("text", "")
    lines = text.replace("\r\n", "\n").split("\n")
    title = lines[0][2:].strip() if lines and lines[0].startswith("# ") else ""
    body = "\n".join(lines[1:] if title else lines)
    return render_template("_preview.html", title=title, html=render.post_html(body))


@bp.post("/drafts/<int:draft_id>/approve")
def approve(draft_id: int) -> Any:
    review.approve(db(), draft_id)
    return redirect(url_for("drafts.show", draft_id=draft_id, msg=_("Approved: it will be published.")))


@bp.post("/drafts/<int:draft_id>/reject")
def reject(draft_id: int) -> Any:
    review.reject(db(), draft_id, request.form.get("reason"))
    return redirect(url_for("drafts.show", draft_id=draft_id, msg=_("Rejected.")))


@bp.post("/drafts/<int:draft_id>/redraft")
def redraft(draft_id: int) -> Any:
    """Write a new draft on the same topic (in the background); this one is rejected with a note saying so."""
    d = drafts.get(db(), draft_id)
    if d["status"] == "published":
        from bot.core.errors import InputError

        raise InputError(_("This draft is already published."))
    start_job("draft", _("re-draft of #%(id)s", id=draft_id), topic=d["topic"])
    if d["status"] != "rejected":
        drafts.set_status(db(), draft_id, "rejected", _("re-drafted from the desk"))
    return redirect(url_for("status.runs", msg=_("A new draft is being written; it will wait for review.")))


@bp.post("/drafts/<int:draft_id>/publish")
def publish_now(draft_id: int) -> Any:
    d = drafts.get(db(), draft_id)
    if d["status"] == "pending_review":
        review.approve(db(), draft_id)
    start_job("publish", _("publish #%(id)s", id=draft_id), draft_id=draft_id)
    return redirect(url_for("status.runs", msg=_("Publishing has started; its log is below.")))
