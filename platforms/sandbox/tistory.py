"""Sandbox Tistory, owner side: the new-post editor (TinyMCE iframe, tags, category, publish layer) and the
editor's JSON endpoints (`POST manage/post.json`, `manage/posts.json`), under /tistory/<blog>/."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, request

from platforms.sandbox.web import count_publish, current_user, fault, login_required, store

bp = Blueprint("sandbox_tistory", __name__, url_prefix="/tistory")
CATEGORIES = ["일상", "개발", "여행"]


@bp.get("/<blog>/manage/post")
@bp.get("/<blog>/manage/newpost/")
def newpost(blog: str) -> Response | str:
    need = login_required("tistory", as_200=True)  # an expired session answers 200 with the login page
    if need is not None:
        return need
    config = {"blog": {"name": blog, "title": f"{blog}의 블로그"}, "returnURL": f"/tistory/{blog}/manage/posts/",
              "postJson": f"/tistory/{blog}/manage/post.json",
              "restore": fault("restore_popup", "tistory"), "categories": CATEGORIES}
    return render_template("tistory_editor.html", blog=blog, config=config, categories=CATEGORIES,
                           changed=fault("changed_selector", "tistory"))


@bp.get("/<blog>/manage/posts/")
def manage_posts(blog: str) -> Response | str:
    need = login_required("tistory", as_200=True)
    if need is not None:
        return need
    items = store().posts("tistory", blog, include_private=True, limit=50)
    rows = "".join(f'<li><a href="/tistory/{blog}/{p["remote_id"]}">{p["title"]}</a> ({p["visibility"]})</li>'
                   for p in items)
    return ('<!doctype html><html lang="ko"><meta charset="utf-8"><title>글 관리</title>'
            f'<ul class="post-list">{rows}</ul>')


@bp.post("/<blog>/manage/post.json")
def post_json(blog: str) -> Response | tuple:
    need = login_required("tistory", as_200=True)
    if need is not None:
        return need
    data = request.get_json(silent=True) or {}
    count_publish("tistory")
    if fault("publish_500", "tistory"):
        return jsonify({"error": "Internal Server Error"}), 500
    vis = {20: "public", 15: "protected", 0: "private"}.get(int(data.get("visibility", 0)), "private")
    cat = int(data.get("category") or 0)
    category = CATEGORIES[cat - 1] if 0 < cat <= len(CATEGORIES) else None
    tags = [t for t in str(data.get("tag") or "").split(",") if t]
    root = request.host_url.rstrip("/") + f"/tistory/{blog}"
    if fault("publish_noop", "tistory"):  # answers like a success, stores nothing
        return jsonify({"entryUrl": f"{root}/{store().next_remote_id('tistory', blog)}"})
    # Like the real server: the title is required, an empty content is published as is.
    if not str(data.get("title") or "").strip():
        return jsonify({"error": "제목을 입력하세요"}), 400
    post = store().add_post("tistory", blog, data["title"], str(data.get("content") or ""), "html", tags, category, vis)
    if fault("publish_lost", "tistory"):  # saved, but the answer never reaches the client
        return Response("upstream timed out", 504)
    return jsonify({"entryUrl": f"{root}/{post['remote_id']}"})


@bp.get("/<blog>/manage/posts.json")
def posts_json(blog: str) -> Response:
    """Owner listing (includes private posts); items shaped as in tistory-mcp docs/api.md §3.2 (string id,
    visibility PUBLIC | PRIVATE | PROTECTED, permalink)."""
    if not current_user("tistory"):
        return login_required("tistory", as_200=True) or Response(status=401)
    kw = request.args.get("searchKeyword") or ""
    items = [p for p in store().posts("tistory", blog, include_private=True) if kw in p["title"]]
    root = request.host_url.rstrip("/") + f"/tistory/{blog}"
    return jsonify({"items": [{"id": p["remote_id"], "title": p["title"], "permalink": f"{root}/{p['remote_id']}",
                               "visibility": {"public": "PUBLIC", "protected": "PROTECTED"}.get(p["visibility"],
                                                                                              "PRIVATE"),
                               "slogan": p["slug"] or "", "published": p["created_at"], "created": p["created_at"]}
                              for p in items],
                    "totalCount": len(items)})
