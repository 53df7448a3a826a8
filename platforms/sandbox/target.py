"""The `sandbox` publish target: a real driver (publish.sandbox.driver, Tistory by default) run against the
sandbox at publish.sandbox.base_url, or against one started in this process on <data_dir>/sandbox/sandbox.db;
it signs in to the sandbox by itself (its login is a local imitation, not an account)."""

from __future__ import annotations

import threading
from typing import Any

from loguru import logger

from bot.core.config import Config, PlatformPublish
from platforms.sandbox.web import DEFAULT_PASSWORD, LOGIN_PATHS

DEFAULT_PORT = 8765
_LOCK = threading.Lock()
_SERVED: dict[str, str] = {}  # db path → base URL of the sandbox this process serves


def answers(base: str) -> bool:
    """Is a blogbot sandbox serving at `base`?"""
    import httpx

    try:
        return "count" in httpx.get(base + "/_sandbox/count", timeout=2).json()
    except (httpx.HTTPError, ValueError, TypeError):
        return False


def in_process(cfg: Config) -> str:
    """The sandbox to use when publish.sandbox.base_url is not set: one already running on port 8765 (`blogbot
    sandbox`), else one started (once per process) on 127.0.0.1:8765 (or a free port) over
    <data_dir>/sandbox/sandbox.db. Returns its base URL."""
    from platforms.sandbox.app import make_app
    from platforms.sandbox.server import serve
    from platforms.sandbox.store import SandboxStore

    path = cfg.data_path / "sandbox" / "sandbox.db"
    with _LOCK:
        if str(path) not in _SERVED and answers(f"http://127.0.0.1:{DEFAULT_PORT}"):
            _SERVED[str(path)] = f"http://127.0.0.1:{DEFAULT_PORT}"
            logger.info("using the sandbox already running at {} (`blogbot sandbox`)", _SERVED[str(path)])
        if str(path) not in _SERVED:
            app = make_app(SandboxStore(path))
            try:  # the port `blogbot sandbox` uses by default, so the URLs keep working when it serves them later
                base, _server = serve(app, port=DEFAULT_PORT)
            except OSError:
                base, _server = serve(app)
            _SERVED[str(path)] = base
            logger.info("sandbox started in this process at {} (posts in {}); `blogbot sandbox` serves them later",
                        base, path)
        return _SERVED[str(path)]


def sandbox_cookies(base: str, platform: str, user: str, password: str = DEFAULT_PASSWORD) -> list[dict[str, Any]]:
    """Sign in to the sandbox's imitation of `platform` outside the browser (so the password never enters a
    page or a trace); the session cookies, in Playwright's storage-state shape."""
    import httpx

    field, pw = {"tistory": ("loginId", "password"), "naver": ("id", "pw"), "velog": ("email", "password")}[platform]
    resp = httpx.post(base + LOGIN_PATHS[platform], data={field: user, pw: password, "next": "/"},
                      follow_redirects=False, timeout=30)
    if resp.status_code not in (302, 303) or not resp.cookies:
        from bot.core.errors import AuthExpired

        raise AuthExpired("sandbox", f"sandbox login answered HTTP {resp.status_code}")
    host = base.split("://", 1)[1].split("/")[0].split(":")[0]
    return [{"name": k, "value": v, "domain": host, "path": "/", "expires": -1, "httpOnly": True, "secure": False,
             "sameSite": "Lax"} for k, v in resp.cookies.items()]


def storage_state(base: str, platform: str, user: str, password: str = DEFAULT_PASSWORD) -> dict[str, Any]:
    """What `blogbot login <platform>` saves, for a sandbox account (tests and the demo)."""
    return {"cookies": sandbox_cookies(base, platform, user, password), "origins": []}


def make_publisher(cfg: Config, browser_ctx: Any, settings: PlatformPublish) -> Any:
    """A real driver (publish.sandbox.driver) with its URLs on the sandbox and a sandbox account signed in."""
    import platforms
    from platforms.sandbox.urls import for_driver

    driver = settings.driver or "tistory"
    base = (settings.base_url or in_process(cfg)).rstrip("/")
    user = settings.account or "demo"
    browser_ctx.add_cookies(sandbox_cookies(base, driver, user))
    on_sandbox = settings.model_copy(update={"urls": {**for_driver(driver, base), **settings.urls}, "account": user})
    return platforms.get(driver).publisher(cfg, browser_ctx, on_sandbox)
