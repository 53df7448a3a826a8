"""CLI: `backup` and `restore`: a consistent copy of the store, and putting one back."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.core.console import console
from bot.shell.cli import app, common


@app.command()
def backup(dest: Path = typer.Argument(..., help="the file to write (e.g. backups/blogbot-2025-06-01.db)")) -> None:
    """Copy the store with SQLite's online backup API: consistent, and safe while the scheduler runs."""
    from bot.core.errors import InputError
    from bot.core.store import backup as copy

    db = common.db()
    if dest.is_dir():
        raise InputError(f"{dest}: is a folder; give a file name")
    if not dest.expanduser().resolve().parent.is_dir():
        raise InputError(f"{dest.parent}: no such folder")
    size = copy(db, dest)
    console.print(f"backup written to {dest} ({size / 1e6:.1f} MB); put it back with `blogbot restore {dest}`",
                  markup=False)


@app.command()
def restore(src: Path = typer.Argument(..., help="a file written by `blogbot backup`"),
            yes: bool = typer.Option(False, "--yes", help="replace the current store without asking")) -> int:
    """Replace the store by a backup (checked first; the current store is kept as blogbot.db.before-restore).
    Refused while the scheduler or a publish run works on the data dir."""
    from filelock import FileLock, Timeout

    from bot.core.errors import InputError
    from bot.core.store import restore as put_back
    from bot.shell.scheduler import holder
    from jobs.publish import LOCK_NAME

    c = common.cfg()
    running = holder(c.data_path)
    if running:
        raise InputError(f"the scheduler is running on {c.data_path} (pid {running.get('pid')}); stop it first")
    if not yes and not typer.confirm(f"replace the store in {c.data_path} by {src}?"):
        return 1
    c.data_path.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(c.data_path / LOCK_NAME), timeout=0):
            path = put_back(c.data_path, src)
    except Timeout:
        raise InputError(f"a publish run is working on {c.data_path}; try again when it has finished") from None
    console.print(f"restored {src} into {path} (the previous store is {path.name}.before-restore)", markup=False)
    return 0
