"""What every page of the sandbox shares: its platforms, login cookies and paths, fault switches, the store of
the running app, and the login check and login pages (app.py wires them; tistory.py, naver.py, velog.py use them)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, redirect, render_template, request

from platforms.sandbox.store import SandboxStore

PLATFORMS = ("tistory", "naver", "velog")
# Settable faults; each is False, True (every platform) or a list of platform names.
FAULTS = ("session_expired", "captcha", "publish_500", "publish_lost", "publish_noop", "restore_popup",
          "changed_selector")
DEFAULT_PASSWORD = "sandbox-demo-pw"
COOKIES = {"tistory": ("TSSESSION",), "naver": ("NID_AUT", "NID_SES"), "velog": ("access_token", "refresh_token")}
LOGIN_PATHS = {"tistory": "/tistory/auth/login", "naver": "/naver/nidlogin.login", "velog": "/velog/login"}


def set_faults(app: Flask, **faults: Any) -> None:
    for k, v in faults.items():
        if k != "slow_ms" and k not in FAULTS:
            raise ValueError(f"unknown sandbox fault {k!r}; known: slow_ms, {', '.join(FAULTS)}")
        app.config["FAULTS"][k] = v
    expired = app.config["FAULTS"].get("session_expired")
    if expired:  # the sessions are gone for good, as after a real expiry
        app.config["STORE"].expire_sessions(None if expired is True else list(expired))


def fault(name: str, platform: str) -> bool:
    from flask import current_app

    v = current_app.config["FAULTS"].get(name)
    return bool(v) and (v is True or platform in v)


def store() -> SandboxStore:
    from flask import current_app

    return current_app.config["STORE"]


def count_publish(platform: str) -> None:
    from flask import current_app

    current_app.config["PUBLISH_CALLS"][platform] += 1


def current_user(platform: str) -> str | None:
    if fault("session_expired", platform):
        return None
    return store().session_user(platform, request.cookies.get(COOKIES[platform][0]))


def login_required(platform: str, as_200: bool = False) -> Response | None:
    """None when logged in; else the captcha page, the login page (HTTP 200, as Tistory does) or a redirect."""
    if fault("captcha", platform):
        return Response(render_template("captcha.html", platform=platform), 200)
    if current_user(platform):
        return None
    if as_200:
        return Response(render_template("login.html", platform=platform, action=LOGIN_PATHS[platform],
                                        next=request.full_path), 200)
    return redirect(f"{LOGIN_PATHS[platform]}?url={request.full_path}")


def _login_view(platform: str) -> Any:
    def view() -> Any:
        if fault("captcha", platform):
            return render_template("captcha.html", platform=platform)
        nxt = request.values.get("url") or request.values.get("next") or "/"
        if request.method == "GET":
            return render_template("login.html", platform=platform, action=LOGIN_PATHS[platform], next=nxt)
        user = request.form.get("loginId") or request.form.get("id") or request.form.get("email") or ""
        pw = request.form.get("password") or request.form.get("pw") or ""
        from flask import current_app

        if not user or pw != current_app.config["PASSWORD"]:
            return render_template("login.html", platform=platform, action=LOGIN_PATHS[platform], next=nxt,
                                   error="아이디 또는 비밀번호를 잘못 입력했습니다."), 401
        token = store().new_session(platform, user)
        resp = redirect(nxt if nxt.startswith("/") else "/")
        for i, name in enumerate(COOKIES[platform]):
            resp.set_cookie(name, token if i == 0 else token[::-1], path="/", httponly=True,
                            samesite="Lax")
        return resp

    return view
