"""The platforms blogbot reads from and publishes to, by name. Modules are imported only when asked for."""

from __future__ import annotations

import importlib
from typing import Any

PLATFORMS: dict[str, str] = {
    "files": "platforms.files",
    "naver": "platforms.naver",
    "tistory": "platforms.tistory",
    "velog": "platforms.velog",
    "sandbox": "platforms.sandbox",
}


def get(name: str) -> Any:
    """The module of platform `name`."""
    if name not in PLATFORMS:
        raise LookupError(f'No platform named "{name}"; known: {", ".join(PLATFORMS)}')
    return importlib.import_module(PLATFORMS[name])
