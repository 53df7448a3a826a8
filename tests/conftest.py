"""Shared fixtures: every test gets its own data dir and config under tmp_path; nothing touches the user's data."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from platforms import load_config

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
    # gates.sense_lm off: a test's own data dir would convert the 270M base for the sense gate (tests that want that
    # check turn it on with a cache: embedded_cache)
    (tmp_path / "config.yaml").write_text("data_dir: data\ntopics_file: topics.yaml\ngates:\n  sense_lm: false\n",
                                          encoding="utf-8")
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
    return load_config(tmp_path / "config.yaml")


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Gemma 3 and its tokenizer (tests/_tiny_model.py), built once per test session."""
    from _tiny_model import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture
def tiny_cfg(tmp_path: Path, tiny_base: Path):
    """A config in tmp_path that points blogbot at the tiny base with small tune/generate settings."""
    from _tiny_model import write_config


    return load_config(write_config(tmp_path, tiny_base))


@pytest.fixture(scope="session")
def tiny_adapter(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path) -> SimpleNamespace:
    """One adapter trained on the tiny base with tiny_cfg's settings on marked_posts(12), once per session, for the
    tests that check a trained adapter or only need one. Read-only: `path` (…/adapters/v0001) and `metrics`."""
    from _tiny_model import marked_posts, write_config

    from bot.voice import tune

    d = tmp_path_factory.mktemp("tiny_adapter")
    out = d / "adapters" / "v0001"
    metrics = tune.train(load_config(write_config(d, tiny_base)), marked_posts(12), out)
    return SimpleNamespace(path=out, metrics=metrics)


def user_cache() -> Path:
    """Where tests keep what is slow to rebuild, between runs: $BLOGBOT_TEST_CACHE, else
    $XDG_CACHE_HOME/blogbot/tests (~/.cache/blogbot/tests). Never the data dir."""
    if os.environ.get("BLOGBOT_TEST_CACHE"):
        return Path(os.environ["BLOGBOT_TEST_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "blogbot" / "tests"


@pytest.fixture(scope="session")
def embedded_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded Gemma 3 270M converted by the product's own code (model.resolve_base) into user_cache()/models,
    kept between runs: the folder is named by the package's sha256 of its GGUF file, so a new package never reuses
    a stale conversion, and it is renamed into place only when complete. A per-session temp dir when that cache
    cannot be written (then it converts, about a minute)."""
    from bot.core.config import Config
    from bot.voice import model

    root = user_cache() / "models"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not os.access(root, os.W_OK):
            raise PermissionError(root)
    except OSError:
        root = tmp_path_factory.mktemp("models")
    path = model.resolve_base(Config(data_dir=root / "data", model={"cache_dir": str(root)})).path
    with model.file_lock(root / ".convert.lock"):  # conversions of other package versions: 0.5 GB each, never used
        for old in path.parent.glob("gemma-3-270m-*"):
            if old != path:
                shutil.rmtree(old, ignore_errors=True)
    return path


@pytest.fixture
def embedded_cache(tmp_path: Path, embedded_base: Path) -> Path:
    """A model.cache_dir in tmp_path whose converted embedded base is embedded_base (linked, only read): the test
    goes through resolve_base's embedded branch without converting again, and its merges stay in tmp_path."""
    converted = tmp_path / "models" / "converted"
    converted.mkdir(parents=True)
    (converted / embedded_base.name).symlink_to(embedded_base, target_is_directory=True)
    return converted.parent


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
    from platforms.sandbox.app import make_app
    from platforms.sandbox.server import serve
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
