"""CLI: `ingest`: read the author's posts from local files."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.core.console import console
from bot.shell.cli import app, common


@app.command()
def ingest(paths: list[Path] = typer.Argument(..., help="Markdown/text/HTML files, WXR exports, or folders")) -> None:
    """Read posts from local files into the store (incremental: unchanged files are skipped)."""
    from jobs import ingest as job

    counts = common.run_job(job.run, paths=paths)
    console.print("ingest: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no files found"))
