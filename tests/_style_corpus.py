"""Shared data of the style tests: the demo blogger's posts as the author, three of them held out."""

from __future__ import annotations

from pathlib import Path

from bot.core.posts import save_post
from platforms.files.read import read_file

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo" / "posts"
BACKGROUND = ROOT / "bot" / "voice" / "data" / "background"
HELD_OUT = ("03-dubu-adoption-anniversary.md", "14-", "22-")


def demo_files() -> tuple[list[Path], list[Path]]:
    """(training files, held-out files) of the demo blogger."""
    files = sorted(DEMO.glob("*.md"))
    held = [f for f in files if f.name.startswith(HELD_OUT)]
    return [f for f in files if f not in held], held


def ingest(db, files: list[Path]) -> None:
    for f in files:
        for post in read_file(f):
            save_post(db, post)


def ingest_demo(db) -> list[Path]:
    """Store the training posts; return the held-out files."""
    train, held = demo_files()
    ingest(db, train)
    return held
