"""Local files: Markdown with front matter, plain text, HTML and WordPress WXR exports (read.py); read by
`blogbot ingest`, not crawled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.core.records import PlatformSpec

name = "files"
SPEC = PlatformSpec(name="files")


def read_file(path: Path, max_bytes: int = 2_000_000) -> list[Any]:
    """The posts in one file (see read.py)."""
    from platforms.files.read import read_file as _read

    return _read(path, max_bytes)


def find_files(paths: list[Path], extensions: list[str]) -> Iterator[Path]:
    """The files to read under `paths` (see read.py)."""
    from platforms.files.read import find_files as _find

    return _find(paths, extensions)
