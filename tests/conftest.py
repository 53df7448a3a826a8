"""Shared fixtures: every test gets its own data dir and config under tmp_path; nothing touches the user's data."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CHROMIUM = Path("/usr/bin/chromium")
NEEDS_CHROMIUM = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing (apt-get install chromium)")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point blogbot at a config and data dir in tmp_path; clear BLOGBOT_* secrets from the environment."""
    for k in list(os.environ):
        if k.startswith("BLOGBOT_"):
            monkeypatch.delenv(k)
    (tmp_path / "config.yaml").write_text("data_dir: data\ntopics_file: topics.yaml\n", encoding="utf-8")
    monkeypatch.setenv("BLOGBOT_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def shared() -> Path:
    """../shared (fixtures, corpora); tests that need it skip with a reason on a fresh clone without it."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not here (it is beside the checkout in CI, not in a fresh clone)")
    return SHARED


@pytest.fixture
def cfg(tmp_path: Path):
    from bot.core import config

    return config.load(tmp_path / "config.yaml")


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Gemma 3 and its tokenizer (tests/_tiny_model.py), built once per test session."""
    from _tiny_model import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture
def tiny_cfg(tmp_path: Path, tiny_base: Path):
    """A config in tmp_path that points blogbot at the tiny base with small tune/generate settings."""
    from _tiny_model import write_config

    from bot.core import config

    return config.load(write_config(tmp_path, tiny_base))


@pytest.fixture
def db(cfg):
    from bot.core.store import open_db

    d = open_db(cfg.data_path)
    yield d
    d.close()


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture):
    """Run `blogbot ARGS...` in-process; returns exit code, stdout and stderr."""
    from bot.shell.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="module")
def sandbox():
    """The local sandbox of all three platforms on 127.0.0.1, one per test module."""
    from platforms.sandbox.app import make_app, serve
    from platforms.sandbox.store import SandboxStore

    app = make_app(SandboxStore())
    base, server = serve(app)
    yield SimpleNamespace(app=app, base=base, store=app.config["STORE"])
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium under Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    from platforms.browser import CHROMIUM_ARGS

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()
    pw.stop()
