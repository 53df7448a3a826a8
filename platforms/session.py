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
from bot.core.fsio import atomic_write
from platforms.browser import BrowserSession, session_path


def _check_platform(platform: str) -> None:
    import platforms

    if platform not in platforms.names(login=True):
        raise InputError(f'no platform named "{platform}" to log in to; known: '
                         f'{", ".join(platforms.names(login=True))}')


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
    """Where a person signs in: publish.<platform>.urls.login, else the platform's own login page."""
    import platforms

    settings = cfg.publish.get(platform)
    return (settings.urls.get("login") if settings else None) or platforms.registry()[platform].login_url


def save_state(cfg: Config, platform: str, state: dict[str, Any] | str | Path) -> Path:
    """Write a storage state as <data_dir>/sessions/<platform>.json, mode 0600, atomically."""
    data = state if isinstance(state, dict) else json.loads(Path(state).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "cookies" not in data:
        raise InputError(f"{state}: not a Playwright storage state (no `cookies`)")
    dest = session_path(cfg, platform)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(dest.parent, 0o700)
    return atomic_write(dest, json.dumps(data), mode=0o600)


def keep(cfg: Config, platform: str, publisher: Any) -> None:
    """After a run: save the publisher's refreshed cookies back over the saved login (sites refresh tokens on
    use, e.g. Velog's access_token). Only for platforms with a person's login that is saved; never fatal."""
    import platforms

    if not platforms.registry()[platform].login or not session_path(cfg, platform).exists():
        return
    try:
        save_state(cfg, platform, publisher.ctx.storage_state())
    except Exception as exc:  # the old file stays; the run's result does not depend on this
        from loguru import logger

        logger.warning("{}: could not save the refreshed session: {}", platform, exc)


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

    with BrowserSession(cfg) as bs:
        pub = platforms.get(platform).publisher(cfg, bs.context(platform), cfg.publish.get(platform))
        try:
            who = pub.check_session()
        except AuthExpired as exc:
            return False, str(exc)
    return True, f"{platform}: the saved login at {path} works{f' (as {who})' if who else ''}"
