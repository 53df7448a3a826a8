"""The sandbox web app: login pages, sessions, fault injection and the test endpoints; the platforms'
editors and public pages are blueprints (tistory.py, naver.py, velog.py, public.py), the shared request helpers are
web.py's."""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Flask, Response, jsonify, render_template, request

from platforms.sandbox.store import SandboxStore
from platforms.sandbox.web import DEFAULT_PASSWORD, FAULTS, LOGIN_PATHS, PLATFORMS, _login_view, set_faults


def make_app(store: SandboxStore | None = None, password: str = DEFAULT_PASSWORD, standalone: bool = False,
             **faults: Any) -> Flask:
    """A sandbox of the three platforms over `store` (in memory by default); faults as keyword settings.
    `standalone`: served by a `blogbot sandbox` process of its own (which may be stopped when it went stale), not by
    a thread of another command."""
    from platforms.sandbox import naver, public, tistory, velog

    app = Flask(__name__, template_folder="templates", static_folder="static", static_url_path="/_sandbox/static")
    app.config["STORE"] = store or SandboxStore()
    app.config["PASSWORD"] = password
    app.config["FAULTS"] = {"slow_ms": 0, **{f: False for f in FAULTS}}
    set_faults(app, **faults)
    app.config["PUBLISH_CALLS"] = {p: 0 for p in PLATFORMS}

    @app.before_request
    def _slow() -> None:
        ms = app.config["FAULTS"].get("slow_ms") or 0
        if ms and not request.path.startswith("/_sandbox/"):
            time.sleep(ms / 1000)  # the sandbox imitates a slow server; drivers never sleep

    @app.get("/")
    def index() -> str:
        return render_template("index.html", store=app.config["STORE"], url=public.post_url)

    @app.route("/_sandbox/faults", methods=["GET", "POST"])
    def faults_view() -> Response:
        if request.method == "POST":
            set_faults(app, **(request.get_json(force=True) or {}))
        return jsonify(app.config["FAULTS"])

    @app.get("/_sandbox/info")
    def info_view() -> Response:
        st: SandboxStore = app.config["STORE"]
        return jsonify({"db": st.real_path, "db_current": st.current(), "pid": os.getpid(),
                        "standalone": standalone})

    @app.get("/_sandbox/count")
    def count_view() -> Response:
        st: SandboxStore = app.config["STORE"]
        return jsonify({"count": st.count(request.args.get("platform")),
                        "publish_calls": app.config["PUBLISH_CALLS"]})

    for plat in PLATFORMS:
        app.add_url_rule(LOGIN_PATHS[plat], f"login_{plat}", _login_view(plat), methods=["GET", "POST"])
    for bp in (tistory.bp, naver.bp, velog.bp):
        app.register_blueprint(bp)
    public.install(app)
    return app
