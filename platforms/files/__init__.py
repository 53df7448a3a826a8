"""Local files: Markdown with front matter, plain text, HTML and WordPress WXR exports (read.py)."""

from __future__ import annotations

from platforms.files.read import find_files, read_file

name = "files"

__all__ = ["find_files", "read_file", "name"]
