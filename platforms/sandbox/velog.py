"""Sandbox Velog: the GraphQL endpoint (/graphql, shared with blogs.py: writePost, currentUser, owner reads;
failures are a silent `writePost: null` as on velog.io) and the /write page of the classic client."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request

from platforms.sandbox.web import COOKIES, count_publish, fault, login_required, store

bp = Blueprint("sandbox_velog", __name__)


def username_of(user: str) -> str:
    return user.split("@")[0]


def _viewer() -> str | None:
    if fault("session_expired", "velog") or fault("captcha", "velog"):
        return None
    token = request.cookies.get(COOKIES["velog"][0])
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        token = auth[7:]
    user = store().session_user("velog", token)
    return username_of(user) if user else None


def post_json(p: dict[str, Any], body: bool = False) -> dict[str, Any]:
    out = {"id": f"velog-{p['remote_id']}", "title": p["title"], "url_slug": p["slug"], "tags": p["tags"],
           "is_private": p["visibility"] != "public", "released_at": p["created_at"], "updated_at": p["created_at"],
           "short_description": re.sub(r"\s+", " ", re.sub(r"[#*`>\[\]()!_-]|<!--.*?-->", " ",
                                                         p["content"]))[:150].strip(),
           "thumbnail": None, "likes": 0, "comments_count": 0, "is_markdown": True, "is_temp": False,
           "user": {"id": p["blog"], "username": p["blog"], "profile": {"id": p["blog"], "thumbnail": None,
                                                                        "display_name": p["blog"]}}}
    if body:
        out["body"] = p["content"]
    return out


def graphql(read_view: Any) -> Response:
    """The write side and owner reads of velog's GraphQL; public reads go to the blogs.py view `read_view`."""
    data = request.get_json(silent=True) or {}
    query, var = str(data.get("query") or ""), data.get("variables") or {}
    viewer = _viewer()
    if re.search(r"\bwritePost\s*\(", query):
        return jsonify({"data": {"writePost": _write_post(viewer, var)}})
    if "currentUser" in query:
        return jsonify({"data": {"currentUser": {"id": viewer, "username": viewer} if viewer else None}})
    if not viewer or viewer != var.get("username"):
        return read_view()
    if re.search(r"\bposts\s*\(", query):
        user = var.get("username")
        limit = int(var.get("limit") or 20)
        if limit > 100:
            return jsonify({"data": {"posts": None}, "errors": [{"message": "Max limit is 100"}]})
        items = store().posts("velog", user, include_private=bool(viewer and viewer == user), limit=10_000)
        cursor = var.get("cursor")
        if cursor:
            ids = [f"velog-{p['remote_id']}" for p in items]
            if cursor not in ids:
                return jsonify({"data": {"posts": None}, "errors": [{"message": "invalid cursor"}]})
            items = items[ids.index(cursor) + 1:]
        return jsonify({"data": {"posts": [post_json(p) for p in items[:limit]]}})
    if re.search(r"\bpost\s*\(", query):
        p = store().get("velog", str(var.get("username")), slug=str(var.get("url_slug")))
        if p and p["visibility"] != "public" and viewer != p["blog"]:
            p = None
        return jsonify({"data": {"post": post_json(p, body=True) if p else None}})
    return read_view()


def _write_post(viewer: str | None, var: dict[str, Any]) -> dict[str, Any] | None:
    if not viewer:
        return None
    count_publish("velog")
    if fault("publish_500", "velog"):
        from flask import abort

        abort(500)
    title, body, slug = str(var.get("title") or ""), str(var.get("body") or ""), var.get("url_slug")
    if not title.strip() or not body.strip() or not slug or var.get("is_temp") or fault("publish_noop", "velog"):
        return None  # velog answers every failure with writePost: null
    p = store().add_post("velog", viewer, title, body, "markdown", list(var.get("tags") or []), None,
                         "private" if var.get("is_private") else "public", slug=str(slug))
    if fault("publish_lost", "velog"):
        from flask import abort

        abort(504)
    return {"id": f"velog-{p['remote_id']}", "user": {"id": viewer, "username": viewer}, "url_slug": p["slug"]}


@bp.get("/write")  # velog.io/write
def write() -> Response | str:
    need = login_required("velog")
    if need is not None:
        return need
    return render_template("velog_write.html", changed=fault("changed_selector", "velog"))
