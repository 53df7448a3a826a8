"""Sandbox public side: the crawler's renderers (blogs.py) over the sandbox's posts, plus the pages they do not
cover (Naver's desktop post page with its mainFrame iframe, Velog's post page) and the sandbox index."""

from __future__ import annotations

import html as H
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, abort, render_template_string

from platforms.sandbox.store import SandboxStore

bp = Blueprint("sandbox_public", __name__)


class ReadView:
    """The store interface blogs.py expects (posts / get → SimPost), over the sandbox's SQLite."""

    def __init__(self, store: SandboxStore) -> None:
        self.store = store

    def posts(self, platform: str, account: str) -> list:
        return [self._sim(r) for r in self.store.posts(platform, account, include_private=True)]

    def get(self, platform: str, account: str, key: str) -> Any:
        r = self.store.get(platform, account, remote_id=key) or self.store.get(platform, account, slug=key)
        return self._sim(r) if r else None

    @staticmethod
    def _sim(r: dict[str, Any]) -> Any:
        from platforms.sandbox.blogs import SimPost

        body = r["content"]
        if r["platform"] == "naver":  # SmartEditor components → plain Markdown; blogs.py renders its own components
            from markdownify import markdownify

            body = markdownify(body, heading_style="ATX").strip()
        # Tistory HTML passes through the Markdown renderer unchanged (CommonMark HTML blocks).
        return SimPost(id=r["remote_id"], title=r["title"], body_markdown=body,
                       published_at=datetime.fromisoformat(r["created_at"]), slug=r["slug"] or "",
                       tags=r["tags"], category=r["category"],
                       visibility="public" if r["visibility"] == "public" else "private")


def post_url(p: dict[str, Any]) -> str:
    """Where the sandbox serves a post (relative to its root)."""
    if p["platform"] == "tistory":
        return f"/tistory/{p['blog']}/{p['remote_id']}"
    if p["platform"] == "naver":
        return f"/naver/{p['blog']}/{p['remote_id']}"
    return f"/@{p['blog']}/{p['slug']}"


def install(app: Flask) -> None:
    """Register the blogs.py read routes over this app's store and route velog's GraphQL writes to velog.py."""
    from platforms.sandbox import velog
    from platforms.sandbox.blogs import Faults
    from platforms.sandbox.blogs_app import blog_blueprint

    faults = Faults()
    app.register_blueprint(blog_blueprint(ReadView(app.config["STORE"]), faults))
    app.extensions["blogs"] = faults
    read_view = app.view_functions["blogs.graphql"]
    app.view_functions["blogs.graphql"] = lambda: velog.graphql(read_view)
    app.register_blueprint(bp)


@bp.get("/naver/<blog>/<int:log_no>")
def naver_desktop(blog: str, log_no: int) -> str:
    """blog.naver.com/{id}/{logNo}: the desktop shell that wraps the post in iframe#mainFrame."""
    return (f'<!doctype html><html lang="ko"><head><meta charset="utf-8"><title>{H.escape(blog)} 블로그</title></head>'
            f'<body><iframe id="mainFrame" name="mainFrame" src="/PostView.naver?blogId={blog}&logNo={log_no}" '
            f'style="width:100%;height:95vh;border:0"></iframe></body></html>')


VELOG_PAGE = """<!doctype html><html lang="ko"><head><meta charset="utf-8"><title>{{ p.title }}</title>
<meta property="og:title" content="{{ p.title }}"></head><body><div class="head-wrapper"><h1>{{ p.title }}</h1>
<div class="information"><span class="username"><a href="/@{{ p.blog }}">{{ p.blog }}</a></span></div>
<div class="tags">{% for t in p.tags %}<a href="/tags/{{ t }}">{{ t }}</a>{% endfor %}</div></div>
<div class="atom-one">{{ body|safe }}</div></body></html>"""


@bp.get("/@<user>/<path:slug>")
def velog_post(user: str, slug: str) -> str:
    from flask import current_app

    from platforms.sandbox.blogs import md_html

    p = current_app.config["STORE"].get("velog", user, slug=slug)
    if p is None or p["visibility"] != "public":
        abort(404)
    return render_template_string(VELOG_PAGE, p=p, body=md_html(p["content"]))


@bp.get("/_sandbox/posts")
def posts_json() -> Response:
    from flask import current_app, jsonify

    st = current_app.config["STORE"]
    return jsonify([{**p, "url": post_url(p)} for p in st.posts(include_private=True)])
