"""CLI: `topics add|list`: the queue of topics to write about."""

from __future__ import annotations

import typer
from rich.table import Table

from bot.core.console import console, print_table
from bot.shell.cli import app, common

topics_app = typer.Typer(help="The queue of topics (topics.yaml) and each topic's state.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")


@topics_app.command("add")
def topics_add(
    topic: str = typer.Argument(..., help="what to write about"),
    tags: str = typer.Option(None, "--tags", help="comma-separated tags"),
    platforms: str = typer.Option(None, "--platforms", help="comma-separated platforms (default: publish config)"),
    not_before: str = typer.Option(None, "--not-before", help="do not draft before this date (YYYY-MM-DD)"),
    notes: str = typer.Option(None, "--notes", help="notes for the writer"),
) -> None:
    """Append a topic to topics.yaml (its text and comments are kept)."""
    from bot.core import topics

    c = common.cfg()
    split = lambda s: [x.strip() for x in s.split(",") if x.strip()] if s else None  # noqa: E731
    entry = topics.add(c.topics_path, topic, split(tags), split(platforms), not_before, notes)
    topics.sync(common.db(), c.topics_path)
    console.print(f"added to {c.topics_path}: {entry.topic}")


@topics_app.command("list")
def topics_list(all_: bool = typer.Option(False, "--all", help="also topics removed from the file")) -> None:
    """Each topic with its state, in queue order."""
    from bot.core import topics

    c, db = common.cfg(), common.db()
    topics.sync(db, c.topics_path)
    t = Table(title=f"topics — {c.topics_path}", title_justify="left")
    for col in ("#", "id", "state", "topic", "tags", "not before"):
        t.add_column(col)
    for r in topics.list_topics(db, include_removed=all_):
        pos = str(r["position"] + 1) if r["in_file"] else "-"
        t.add_row(pos, r["id"], r["state"], r["topic"], ", ".join(r["tags"]), (r["not_before"] or "")[:10])
    print_table(t)  # wraps between words only: a Korean topic is never cut mid-word
