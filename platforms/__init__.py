"""The registry of platforms: one line each below, one folder each beside this file. Everything that needs the
list of platforms (the config schema, the CLI's choices, the jobs, the login code) reads it from here. A platform
package is light to import: its SPEC and two factories (`reader`, `publisher`) that import the heavy parts lazily."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from bot.core.config import Config, Source, load
from bot.core.errors import AuthExpired
from bot.core.records import PlatformSpec

NAMES = (
    "files",
    "naver",
    "tistory",
    "velog",
    "sandbox",
)


def get(name: str) -> ModuleType:
    """The package of platform `name`."""
    if name not in NAMES:
        raise LookupError(f'No platform named "{name}"; known: {", ".join(NAMES)}')
    return importlib.import_module(f"platforms.{name}")


@cache
def registry() -> Mapping[str, PlatformSpec]:
    """Every platform's SPEC, by name, in registry order."""
    return {name: get(name).SPEC for name in NAMES}


def names(*, reads: bool = False, publishes: bool = False, login: bool = False) -> list[str]:
    """The platforms that can do all of what is asked (e.g. `names(publishes=True)` for `--platform` choices)."""
    return [n for n, s in registry().items()
            if (s.reads or not reads) and (s.publishes or not publishes) and (s.login or not login)]


def load_config(path: Path | str | None = None) -> Config:
    """config.yaml validated against this registry (the one way the shell loads the config)."""
    return load(path, registry())


def reader(cfg: Config, source: Source, client: Any = None) -> Any:
    """The reader (platforms.base.Reader) of one configured source."""
    return get(source.platform).reader(source, cfg, client)


def publisher(cfg: Config, name: str, session: Any) -> Any:
    """The publisher (platforms.base.Publisher) of platform `name`, in a browser context of `session`
    (platforms.browser.BrowserSession) holding the platform's saved login. A platform that needs a person's login
    and has none saved raises AuthExpired."""
    from platforms.browser import session_path

    spec = registry()[name]
    if spec.login and not session_path(cfg, name).exists():
        raise AuthExpired(name, "no saved login")
    settings = cfg.publish.get(name)
    return get(name).publisher(cfg, session.context(name), settings)
