"""The one factory for Playwright: system Chromium, Korean contexts with the saved session, failure artifacts."""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loguru import logger

from bot.core.config import Config
from bot.core.errors import InputError
from bot.core.fsio import atomic_path

# Flags for a closed network: no background connections, no sandbox (containers), no GPU.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-blink-features=AutomationControlled",
]
MASK = "***"


def session_path(cfg: Config, platform: str) -> Path:
    """Where the saved login (Playwright storage state) of a platform lives."""
    return cfg.data_path / "sessions" / f"{platform}.json"


def chromium_path(cfg: Config) -> str:
    path = cfg.browser.executable_path
    if not (os.path.isfile(path) and os.access(path, os.X_OK)) and not shutil.which(path):
        raise InputError(f"browser.executable_path: {path} is not an executable Chromium "
                         "(install it: `apt-get install chromium fonts-noto-cjk`, or set browser.executable_path)")
    return path


class BrowserSession:
    """A browser started on first use and reused across the posts of one run; one context per platform.

    Use as a context manager: `with BrowserSession(cfg) as bs: ctx = bs.context("tistory")`."""

    def __init__(self, cfg: Config, headless: bool | None = None, browser: Any = None) -> None:
        """`browser`: an already started Playwright Browser to reuse (left open on close)."""
        self.cfg = cfg
        self.headless = cfg.browser.headless if headless is None else headless
        self._pw: Any = None
        self._browser: Any = browser
        self._external = browser is not None
        self._contexts: dict[str, Any] = {}
        self.started_s: float | None = None

    def __enter__(self) -> BrowserSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def browser(self) -> Any:
        if self._browser is None:
            import time

            from playwright.sync_api import sync_playwright

            t0 = time.perf_counter()
            exe = chromium_path(self.cfg)
            self._pw = sync_playwright().start()
            self._browser = self._pw.chromium.launch(executable_path=exe, headless=self.headless, args=CHROMIUM_ARGS)
            self.started_s = time.perf_counter() - t0
            logger.debug("browser started in {:.2f}s ({})", self.started_s, self._browser.version)
        return self._browser

    def context(self, platform: str, storage_state: Path | dict | None | bool = True) -> Any:
        """The context of `platform`, created once: ko-KR, Asia/Seoul, config timeouts, saved session loaded.

        storage_state=True loads `<data_dir>/sessions/<platform>.json` when it exists; False starts empty."""
        if platform in self._contexts:
            return self._contexts[platform]
        b = self.cfg.browser
        state: Any = None
        if storage_state is True:
            p = session_path(self.cfg, platform)
            state = str(p) if p.exists() else None
        elif storage_state:
            state = str(storage_state) if isinstance(storage_state, Path) else storage_state
        ctx = self.browser.new_context(
            locale=b.locale, timezone_id=b.timezone, storage_state=state, viewport={"width": 1280, "height": 900},
            permissions=["clipboard-read", "clipboard-write"],
        )
        ctx.set_default_timeout(b.timeout_ms)
        ctx.set_default_navigation_timeout(b.navigation_timeout_ms)
        ctx.tracing.start(screenshots=True, snapshots=True, sources=False)
        self._contexts[platform] = ctx
        return ctx

    def drop_context(self, platform: str) -> None:
        """Close a platform's context. Its trace is stopped first: Playwright keeps a running trace in a temporary
        folder of its own, and closing the context without stopping it leaves that folder behind (one per run of a
        long-lived scheduler)."""
        ctx = self._contexts.pop(platform, None)
        if ctx is None:
            return
        try:
            ctx.tracing.stop()
        except Exception as exc:  # no trace running (a failure artifact's chunk may have failed): close anyway
            logger.debug("stopping the trace of {}: {}", platform, exc)
        ctx.close()

    def close(self) -> None:
        for name in list(self._contexts):
            try:
                self.drop_context(name)
            except Exception as exc:  # closing must not hide the run's own error
                logger.debug("closing context {}: {}", name, exc)
        if self._browser is not None and not self._external:
            self._browser.close()
        self._browser = None
        if self._pw is not None:
            self._pw.stop()
            self._pw = None


# --- failure artifacts -----------------------------------------------------------------------------------------


def context_secrets(ctx: Any, extra: Iterable[str] = ()) -> list[str]:
    """Values that must never be written out: every cookie value of the context, plus `extra`."""
    vals = [c.get("value", "") for c in ctx.cookies()]
    vals += list(extra)
    return sorted({v for v in vals if v and len(v) >= 4}, key=len, reverse=True)


def mask_text(text: str, secrets: Iterable[str]) -> str:
    for s in secrets:
        text = text.replace(s, MASK)
    return text


def _mask_zip(path: Path, secrets: list[str]) -> None:
    """Rewrite a trace zip with every secret masked in its text entries (network log, DOM snapshots)."""
    with atomic_path(path) as tmp, zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if not info.filename.endswith((".png", ".jpeg", ".jpg", ".webp")):
                try:
                    data = mask_text(data.decode("utf-8"), secrets).encode("utf-8")
                except UnicodeDecodeError:
                    for s in secrets:
                        data = data.replace(s.encode(), MASK.encode())
            dst.writestr(info, data)


def save_artifacts(cfg: Config, platform: str, step: str, page: Any, extra_secrets: Iterable[str] = ()) -> str:
    """Screenshot, page HTML and the context's trace under <data_dir>/artifacts/<platform>/<time>-<step>/,
    with cookie values and given secrets masked (password fields are masked in the screenshot). Returns the folder."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    out = cfg.data_path / "artifacts" / platform / f"{stamp}-{re.sub(r'[^a-z0-9_-]+', '-', step.lower())}"
    out.mkdir(parents=True, exist_ok=True)
    ctx = page.context
    secrets = context_secrets(ctx, extra_secrets)
    try:
        page.screenshot(path=str(out / "screenshot.png"), full_page=True,
                        mask=[page.locator("input[type=password]")], timeout=10_000)
    except Exception as exc:
        logger.debug("screenshot failed: {}", exc)
    try:
        (out / "page.html").write_text(mask_text(page.content(), secrets), encoding="utf-8")
    except Exception as exc:
        logger.debug("page html failed: {}", exc)
    try:
        ctx.tracing.stop_chunk(path=str(out / "trace.zip"))
        _mask_zip(out / "trace.zip", secrets)
        ctx.tracing.start_chunk()
    except Exception as exc:
        logger.debug("trace failed: {}", exc)
    for f in out.iterdir():
        f.chmod(0o600)
    logger.warning("{}: page saved for step {} under {}", platform, step, out)
    return str(out)


def new_chunk(ctx: Any) -> None:
    """Start a fresh trace chunk for the next post (earlier posts' steps are dropped from the trace)."""
    try:
        ctx.tracing.stop_chunk()
        ctx.tracing.start_chunk()
    except Exception as exc:
        logger.debug("trace chunk: {}", exc)
