"""The review desk's Flask app: the token gate (once in the URL, then a cookie), CSRF on every form, the language,
one store connection per request, and jobs started in the background."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, abort, g, redirect, render_template, request, url_for

from bot.core.config import Config
from bot.core.errors import BlogbotError
from bot.shell.desk import i18n
from bot.shell.desk.common import running_jobs, version, when

HERE = Path(__file__).parent
COOKIE = "blogbot_desk"  # + the port: cookies are per host, and two desks (two data dirs) may run side by side
LANG_COOKIE = "blogbot_lang"


def cookie_name() -> str:
    host = request.host
    return f"{COOKIE}_{host.rpartition(':')[2] if ':' in host else 'default'}"


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _mac(token: str, purpose: str) -> str:
    return hmac.new(token.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def make_app(cfg: Config, token: str) -> Flask:
    """The desk for `cfg`'s data dir; every request needs `token` (as ?token= once, then the cookie it sets)."""
    from bot.shell.desk import views_drafts, views_queue, views_status

    app = Flask("bot.shell.desk", root_path=str(HERE), template_folder="templates", static_folder="static")
    app.config.update(CFG=cfg, TOKEN=token, MAX_CONTENT_LENGTH=2_000_000, JOBS={}, THREADS=[])
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.autoescape = True
    session_value, csrf_value = _mac(token, "session"), _mac(token, "csrf")

    @app.before_request
    def _gate() -> Any:
        given = request.args.get("token")
        if given is not None:
            if not hmac.compare_digest(given, token):
                abort(403)
            args = {k: v for k, v in request.args.items() if k != "token"}
            resp = redirect(request.path + (("?" + urlencode(args)) if args else ""))
            resp.set_cookie(cookie_name(), session_value, httponly=True, samesite="Strict", max_age=30 * 86400)
            return resp
        if not hmac.compare_digest(request.cookies.get(cookie_name(), ""), session_value):
            abort(403)
        if request.method == "POST":
            sent = request.form.get("csrf") or request.headers.get("X-CSRF-Token", "")
            if not hmac.compare_digest(sent, csrf_value):
                abort(403)
            origin = request.headers.get("Origin")
            if origin and origin.rstrip("/") != request.host_url.rstrip("/"):
                abort(403)
        lang = request.cookies.get(LANG_COOKIE) or cfg.ui.language
        g.lang = lang if lang in i18n.LANGUAGES else i18n.DEFAULT
        g.csrf = csrf_value
        app.jinja_env.install_gettext_callables(i18n.gettext_for(g.lang), i18n.ngettext_for(g.lang), newstyle=True)
        return None

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.close()

    @app.errorhandler(403)
    def _refused(_e: Any) -> Any:
        g.lang = request.cookies.get(LANG_COOKIE) or cfg.ui.language
        _ = i18n.gettext_for(g.lang if g.lang in i18n.LANGUAGES else i18n.DEFAULT)
        return (_("This desk needs its token: open the address `blogbot ui` printed (it ends in ?token=…).")
                + "\n", 403, {"Content-Type": "text/plain; charset=utf-8"})

    @app.errorhandler(BlogbotError)
    def _blogbot_error(exc: BlogbotError) -> Any:
        return render_template("error.html", message=str(exc)), 400

    @app.post("/lang")
    def set_lang() -> Any:
        lang = request.form.get("lang", i18n.DEFAULT)
        nxt = request.form.get("next") or ""
        resp = redirect(nxt if nxt.startswith("/") and not nxt.startswith("//") else url_for("drafts.index"))
        if lang in i18n.LANGUAGES:
            resp.set_cookie(LANG_COOKIE, lang, samesite="Strict", max_age=365 * 86400)
        return resp

    @app.get("/")
    def home() -> Any:
        return redirect(url_for("drafts.index"))

    def _alerts() -> dict[str, Any] | None:
        from bot.shell.desk.views_status import alerts

        try:
            return alerts()
        except BlogbotError:  # the error page itself may be about the store: show it without the banner
            return None

    @app.context_processor
    def _helpers() -> dict[str, Any]:
        return {"csrf": g.get("csrf", ""), "lang": g.get("lang", i18n.DEFAULT), "languages": i18n.LANGUAGES,
                "when": lambda ts: when(cfg, ts), "tz": cfg.schedule.timezone, "version": version(),
                "running": running_jobs(app), "alerts": _alerts()}

    app.register_blueprint(views_drafts.bp)
    app.register_blueprint(views_queue.bp)
    app.register_blueprint(views_status.bp)
    return app
