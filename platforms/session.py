"""Saved logins: a person signs in once in a visible browser, the storage state is kept 0600 under
<data_dir>/sessions/; `--check` tells whether it still works. blogbot never sees or stores a password."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.core.config import Config
from bot.core.errors import AuthExpired, InputError
from platforms.browser import BrowserSession, session_path

LOGIN_URLS = {
    "tistory": "https://www.tistory.com/auth/login",
    "naver": "https://nid.naver.com/nidlogin.login?url=https%3A%2F%2Fblog.naver.com%2F",
    "velog": "https://velog.io/",
}
PLATFORMS = tuple(LOGIN_URLS)  # the platforms with a login


def _check_platform(platform: str) -> None:
    if platform not in PLATFORMS:
        raise InputError(f'no platform named "{platform}" to log in to; known: {", ".join(PLATFORMS)}')


def has_display() -> bool:
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def no_display_message(cfg: Config, platform: str) -> str:
    dest = session_path(cfg, platform)
    return (f"`blogbot login {platform}` opens a browser window for you to sign in, and there is no display here "
            "(DISPLAY is not set). Either run it on a desktop: `blogbot login " + platform + "` there, then copy its "
            f"data/sessions/{platform}.json to {dest} on this machine (or `blogbot login {platform} --from-file "
            f"FILE`); or run it here under a display (e.g. `xvfb-run` with VNC, or `ssh -X`). Then check it with "
            f"`blogbot login {platform} --check`.")


def login_url(cfg: Config, platform: str) -> str:
    base = getattr(cfg.publish, platform).base_url
    if base:
        from platforms.sandbox.app import LOGIN_PATHS

        return base.rstrip("/") + LOGIN_PATHS[platform]
    return LOGIN_URLS[platform]


def save_state(cfg: Config, platform: str, state: dict[str, Any] | str | Path) -> Path:
    """Write a storage state as <data_dir>/sessions/<platform>.json, mode 0600, atomically."""
    data = state if isinstance(state, dict) else json.loads(Path(state).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "cookies" not in data:
        raise InputError(f"{state}: not a Playwright storage state (no `cookies`)")
    dest = session_path(cfg, platform)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(dest.parent, 0o700)
    tmp = dest.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.chmod(tmp, 0o600)
    os.replace(tmp, dest)
    return dest


def _ask(prompt: str, page: Any) -> None:
    input(prompt)


def login(cfg: Config, platform: str, wait: Callable[[str, Any], Any] = _ask, headless: bool = False) -> Path:
    """Open a visible browser on the platform's login page; after the person signs in (captcha, 2FA, KakaoTalk
    approval included) and confirms, save the session. `wait(prompt, page)` is the person's part."""
    _check_platform(platform)
    if not headless and not has_display():
        raise InputError(no_display_message(cfg, platform))
    with BrowserSession(cfg, headless=headless) as bs:
        ctx = bs.context(platform, storage_state=False)
        page = ctx.new_page()
        page.goto(login_url(cfg, platform))
        wait(f"Sign in to {platform} in the browser window, then press Enter here: ", page)
        return save_state(cfg, platform, ctx.storage_state())


def check(cfg: Config, platform: str) -> tuple[bool, str]:
    """Is the saved session still logged in? Loads it headless and opens the editor (or asks GraphQL for Velog)."""
    _check_platform(platform)
    path = session_path(cfg, platform)
    if not path.exists():
        return False, f"no saved login at {path}; run `blogbot login {platform}`"
    import platforms

    pc = getattr(cfg.publish, platform)
    with BrowserSession(cfg) as bs:
        pub = platforms.get(platform).publisher(cfg, bs.context(platform), base_url=pc.base_url,
                                                account=pc.account or ("-" if platform == "velog" else None))
        try:
            who = pub.check_session()
        except AuthExpired as exc:
            return False, str(exc)
    return True, f"{platform}: the saved login at {path} works{f' (as {who})' if who else ''}"
