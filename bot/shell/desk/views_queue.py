"""Desk page of the topic queue: add, edit, reorder, skip and remove topics; topics.yaml is edited in place with its
comments kept (bot.core.topics_file), then the store is brought in line with it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from bot.core import drafts, topics, topics_file
from bot.shell.desk.common import _, cfg, db

bp = Blueprint("queue", __name__)


def _limits() -> dict[str, Any]:
    import platforms

    c = cfg()
    return {"timezone": c.schedule.timezone, "max_chars": c.generate.max_topic_chars,
            "known_platforms": platforms.names(publishes=True)}


def _sync() -> Any:
    rules = _limits()
    return topics.sync(db(), cfg().topics_path, rules["timezone"], rules["max_chars"], rules["known_platforms"])


def _split(s: str | None) -> list[str]:
    return [x.strip() for x in (s or "").replace("，", ",").split(",") if x.strip()]


def _done(msg: str) -> Any:
    _sync()
    return redirect(url_for("queue.index", msg=msg))


@bp.get("/queue")
def index() -> Any:
    c = cfg()
    qf = _sync()
    rows = topics.list_topics(db())
    for r in rows:
        r["not_before_day"] = (r["not_before"] or "")[:10]
        r["draft_id"] = drafts.latest_for_topic(db(), r["id"]) if r["state"] in ("drafted", "published") else None
    import platforms

    return render_template("queue.html", rows=rows, path=c.topics_path, warnings=qf.warnings,
                           platforms=platforms.names(publishes=True), message=request.args.get("msg"))


@bp.post("/queue/add")
def add() -> Any:
    f = request.form
    text = topics_file.add(cfg().topics_path, f.get("topic", ""), _split(f.get("tags")), _split(f.get("platforms"))
                           or f.getlist("platform") or None, f.get("not_before") or None, f.get("notes") or None,
                           **_limits())
    return _done(_("Added: %(topic)s", topic=text))


@bp.post("/queue/<tid>/edit")
def edit(tid: str) -> Any:
    f = request.form
    changes = {"topic": f.get("topic", ""), "tags": _split(f.get("tags")), "platforms": f.getlist("platform"),
               "not_before": f.get("not_before") or None, "notes": (f.get("notes") or "").strip() or None}
    text = topics_file.edit(cfg().topics_path, tid, changes, **_limits())
    return _done(_("Saved: %(topic)s", topic=text))


@bp.post("/queue/<tid>/move")
def move(tid: str) -> Any:
    rows = topics.list_topics(db())
    pos = next((i for i, r in enumerate(rows) if r["id"] == tid), None)
    where = request.form.get("to", "")
    to = {"up": (pos or 0), "down": (pos or 0) + 2, "top": 1, "bottom": len(rows)}.get(where)
    if to is None:
        to = int(where) if where.isdigit() else (pos or 0) + 1
    text = topics_file.move(cfg().topics_path, tid, max(1, to), **_limits())
    return _done(_("Moved: %(topic)s", topic=text))


@bp.post("/queue/<tid>/skip")
def skip(tid: str) -> Any:
    undo = request.form.get("undo") == "1"
    text = topics_file.skip(db(), cfg().topics_path, tid, undo, **_limits())
    return _done((_("Queued again: %(topic)s") if undo else _("Skipped: %(topic)s")) % {"topic": text})


@bp.post("/queue/<tid>/remove")
def remove(tid: str) -> Any:
    text = topics_file.remove(cfg().topics_path, tid, **_limits())
    return _done(_("Removed: %(topic)s", topic=text))
