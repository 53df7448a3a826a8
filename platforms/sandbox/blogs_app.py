"""The Flask app of the simulated blogs (routes, fault injection, request counting) and `serve` for tests."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, abort, redirect, request

from platforms.sandbox import blogs as R
from platforms.sandbox.blogs_naver import render_naver_list, render_naver_post

LOGIN_PAGE = '<html><body><form id="frmNIDLogin" action="https://nid.naver.com/nidlogin.login"></form></body></html>'
CAPTCHA_PAGE = "<html><body><div id='captcha'>자동입력 방지 문자를 입력해 주세요 (captcha)</div></body></html>"
NOBODY_PAGE = ("<html><head><meta property='og:title' content='x'/></head>"
               "<body><div class='header'>메뉴</div></body></html>")
PRIVATE_PAGE = "<html><body><p>비공개 글입니다.</p></body></html>"


def _page(text: str, fault: str | None = None, ctype: str = "text/html; charset=utf-8",
          etag: R.Faults | None = None) -> Response:
    if etag is not None and etag.etags and not fault:
        tag = '"' + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == tag:
            etag.requests["304"] += 1
            return Response(status=304, headers={"ETag": tag})
        return Response(text, content_type=ctype, headers={"ETag": tag})
    if fault == "truncated":
        return Response(text[: len(text) // 3], content_type=ctype)
    if fault == "euckr":  # EUC-KR bytes under a UTF-8 label
        return Response(text.replace('<meta charset="utf-8">', "").encode("euc-kr", "replace"), content_type=ctype)
    return Response(text, content_type=ctype)


def blog_blueprint(store: Any, faults: R.Faults) -> Blueprint:
    """Routes of the three platforms' public read endpoints over `store` (see blogs.py for its interface)."""
    bp = Blueprint("blogs", __name__)

    @bp.before_app_request
    def _count() -> Response | None:
        faults.requests[request.path] += 1
        if request.path != "/robots.txt":
            faults.requests["total"] += 1
        if faults.storm and request.path != "/robots.txt":
            return Response("storm", status=500)
        return None

    def post_fault(platform: str, key: str) -> str | None:
        f = faults.by_key.get(f"{platform}:{key}") or faults.by_key.get(key)
        if f == "slow":
            time.sleep(faults.slow_s)
        if f in ("404", "deleted"):
            abort(404)
        if f == "500":
            abort(500)
        if f == "loop":  # ?hop=1 -> ?hop=2 -> ?hop=1 ...
            args = {k: v for k, v in request.args.items() if k != "hop"}
            args["hop"] = "2" if request.args.get("hop") == "1" else "1"
            abort(redirect(f"{request.path}?{urlencode(args)}", 302))
        return f

    def blocked_page(f: str | None) -> Response | None:
        pages = {"login": LOGIN_PAGE, "captcha": CAPTCHA_PAGE, "nobody": NOBODY_PAGE, "private": PRIVATE_PAGE}
        return Response(pages[f], content_type="text/html; charset=utf-8") if f in pages else None

    @bp.get("/robots.txt")
    def robots() -> Response:
        return Response(faults.robots, content_type="text/plain")

    @bp.get("/api/blogs/<blog_id>/post-list")
    def naver_list(blog_id: str) -> Response:
        if faults.list_fault == "badjson":
            return Response('{"isSuccess": true, "result": {"items": [', content_type="application/json")
        page, count = int(request.args.get("page", 1)), int(request.args.get("itemCount", 30))
        return Response(json.dumps(render_naver_list(store.posts("naver", blog_id), page, count)),
                        content_type="application/json")

    @bp.get("/PostView.naver")
    def naver_post() -> Response:
        blog_id, log_no = request.args.get("blogId", ""), request.args.get("logNo", "")
        f = post_fault("naver", log_no)
        p = store.get("naver", blog_id, log_no)
        if p is None:
            abort(404)
        if p.visibility != "public":
            f = "private"
        return blocked_page(f) or _page(render_naver_post(p, blog_id), f, etag=faults)

    @bp.get("/tistory/<blog>/rss")
    def tistory_rss(blog: str) -> Response:
        posts = [p for p in store.posts("tistory", blog) if p.visibility == "public"][: faults.tistory_rss_count]
        return Response(R.render_tistory_rss(posts, request.host_url.rstrip("/") + f"/tistory/{blog}",
                                             faults.tistory_slug_urls), content_type="application/rss+xml")

    @bp.get("/tistory/<blog>/sitemap.xml")
    def tistory_sitemap(blog: str) -> Response:
        if not faults.tistory_sitemap:
            abort(404)
        posts = [p for p in store.posts("tistory", blog) if p.visibility == "public"]
        return Response(R.render_tistory_sitemap(posts, request.host_url.rstrip("/") + f"/tistory/{blog}",
                                                 faults.tistory_slug_urls), content_type="application/xml")

    @bp.get("/tistory/<blog>/")
    def tistory_home(blog: str) -> Response:
        posts = [p for p in store.posts("tistory", blog) if p.visibility == "public"]
        return _page(R.render_tistory_list(posts, int(request.args.get("page", 1)), f"/tistory/{blog}",
                                           faults.tistory_slug_urls))

    @bp.get("/tistory/<blog>/<int:post_id>")
    @bp.get("/tistory/<blog>/entry/<path:slug>")
    def tistory_post(blog: str, post_id: int | None = None, slug: str | None = None) -> Response:
        key = str(post_id) if post_id is not None else str(slug)
        p = store.get("tistory", blog, key)
        f = post_fault("tistory", p.id if p else key)
        if p is None:
            abort(404)
        if p.visibility != "public":
            f = "private"
        return blocked_page(f) or _page(R.render_tistory_post(p, blog, skin=int(p.id)), f, etag=faults)

    @bp.post("/graphql")
    def graphql() -> Response:
        body = request.get_json(silent=True) or {}
        q, v = body.get("query", ""), body.get("variables") or {}
        user = str(v.get("username") or "")
        if "posts(" in q:
            if faults.list_fault in ("badjson", "gqlerror"):
                text = ('{"data": {"posts": [' if faults.list_fault == "badjson"
                        else json.dumps({"errors": [{"message": "simulated failure"}]}))
                return Response(text, content_type="application/json")
            posts = [p for p in store.posts("velog", user)]
            return Response(json.dumps(R.velog_posts_json(posts, v.get("cursor"), int(v.get("limit") or 20))),
                            content_type="application/json")
        p = store.get("velog", user, str(v.get("url_slug") or ""))
        f = post_fault("velog", p.id if p else str(v.get("url_slug")))
        if f == "badjson":
            return Response('{"data": {"post": {"id": ', content_type="application/json")
        if f == "gqlerror":
            return Response(json.dumps({"errors": [{"message": "Internal error"}], "data": {"post": None}}),
                            content_type="application/json")
        return Response(json.dumps(R.velog_post_json(p, user), ensure_ascii=False), content_type="application/json")

    return bp


def make_blog_app(store: Any, faults: R.Faults | None = None) -> Flask:
    """A Flask app serving the simulated blogs of `store`; `app.extensions["blogs"]` is its Faults."""
    app = Flask("blogbot-blogs")
    faults = faults or R.Faults()
    app.register_blueprint(blog_blueprint(store, faults))
    app.extensions["blogs"] = faults
    return app
