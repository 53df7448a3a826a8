"""Sandbox Naver Blog, owner side: the SmartEditor ONE write page (/naver/<blogId>/postwrite, help panel,
draft-restore popup, publish layer) and the save endpoint its publish button calls (/naver/RabbitWrite.naver)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, render_template, request

from platforms.sandbox.web import count_publish, current_user, fault, login_required, store

bp = Blueprint("sandbox_naver", __name__, url_prefix="/naver")
CATEGORIES = ["일상", "리뷰", "여행"]
OPEN_TYPES = {2: "public", 1: "neighbors", 3: "both_neighbors", 0: "private"}


@bp.get("/<blog>/postwrite")
def postwrite(blog: str) -> Response | str:
    need = login_required("naver")  # Naver redirects to nid.naver.com
    if need is not None:
        return need
    return render_template("naver_editor.html", blog=blog, categories=CATEGORIES,
                           restore=fault("restore_popup", "naver"), changed=fault("changed_selector", "naver"))


@bp.get("/GoBlogWrite.naver")
def go_write() -> Response:
    return redirect(f"/naver/{request.args.get('blogId', 'demo')}/postwrite")


@bp.post("/RabbitWrite.naver")
def rabbit_write() -> Response | tuple:
    if fault("captcha", "naver") or not current_user("naver"):
        return jsonify({"isSuccess": False, "message": "login required"}), 401
    data = request.get_json(silent=True) or {}
    count_publish("naver")
    if fault("publish_500", "naver"):
        return jsonify({"isSuccess": False, "message": "일시적인 오류"}), 500
    blog = str(data.get("blogId") or "")
    doc = data.get("documentModel") or {}
    pop = data.get("populationParams") or {}
    if fault("publish_noop", "naver"):
        no = store().next_remote_id("naver", blog)
        return jsonify({"isSuccess": True, "result": {"logNo": no, "redirectUrl": f"/naver/{blog}/{no}"}})
    cat = int(pop.get("categoryNo") or 0)
    post = store().add_post(
        "naver", blog, str(doc.get("title") or ""), "".join(doc.get("components") or []), "html",
        list(pop.get("tags") or []), CATEGORIES[cat - 1] if 0 < cat <= len(CATEGORIES) else None,
        OPEN_TYPES.get(int(pop.get("openType", 2)), "public"))
    if fault("publish_lost", "naver"):
        return Response("gateway timeout", 504)
    return jsonify({"isSuccess": True, "result": {"logNo": post["remote_id"],
                                                  "redirectUrl": f"/naver/{blog}/{post['remote_id']}"}})
