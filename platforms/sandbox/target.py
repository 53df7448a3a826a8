"""The `sandbox` publish target: a real driver (publish.sandbox.driver, Tistory by default) run against the
sandbox at publish.sandbox.base_url, or against one started in this process on <data_dir>/sandbox/sandbox.db;
it signs in to the sandbox by itself (its login is a local imitation, not an account)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
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


def info(base: str) -> dict[str, Any] | None:
    """What the blogbot sandbox at `base` serves: {db (its real path), db_current (False once that file was
    deleted or replaced), pid, standalone}; None when nothing answers there, or a sandbox too old to say."""
    import httpx

    try:
        got = httpx.get(base + "/_sandbox/info", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return None
    return got if isinstance(got, dict) and "db" in got else None


def serves(found: dict[str, Any] | None, path: Path) -> bool:
    """Does that sandbox (`info()`) serve the database at `path`, the file that is there now?"""
    return bool(found and found.get("db") == os.path.realpath(path) and found.get("db_current"))


def describe(found: dict[str, Any] | None) -> str:
    """A running sandbox, for an error message."""
    if not found:
        return "a sandbox that does not say which database it serves (an older blogbot)"
    gone = "" if found.get("db_current") else ", deleted or replaced since it started"
    return f"the sandbox of pid {found.get('pid')} (database {found.get('db')}{gone})"


def in_process(cfg: Config) -> str:
    """The sandbox to use when publish.sandbox.base_url is not set: one already running on port 8765 (`blogbot
    sandbox`) when it serves <data_dir>/sandbox/sandbox.db, else one started (once per process) over that file on
    127.0.0.1:8765, or on a free port when 8765 is taken (by a sandbox of another data dir, or one whose database
    was deleted). Returns its base URL."""
    from platforms.sandbox.app import make_app
    from platforms.sandbox.server import serve
    from platforms.sandbox.store import SandboxStore

    path = cfg.data_path / "sandbox" / "sandbox.db"
    default = f"http://127.0.0.1:{DEFAULT_PORT}"
    with _LOCK:
        taken = False
        if str(path) not in _SERVED and answers(default):
            found = info(default)
            if serves(found, path):
                _SERVED[str(path)] = default
                logger.info("using the sandbox already running at {} (`blogbot sandbox`)", default)
            else:
                taken = True
                logger.warning("{} answers at {} but does not serve {}: starting one on a free port in this "
                               "process (its post URLs work while this command runs)", describe(found), default,
                               path)
        if str(path) not in _SERVED:
            app = make_app(SandboxStore(path))
            try:  # the port `blogbot sandbox` uses by default, so the URLs keep working when it serves them later
                base, _server = serve(app, port=0 if taken else DEFAULT_PORT)
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
