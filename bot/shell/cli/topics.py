"""CLI: `topics add|list|edit|move|skip|remove`: the queue of topics to write about (topics.yaml, edited in place
with its comments kept)."""

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
    position: int = typer.Option(None, "--position", help="put it at this place in the queue (1 = first)"),
) -> None:
    """Add a topic to topics.yaml (at the end, or at --position); its other entries and comments are kept."""
    from bot.core import topics_file

    c = common.cfg()
    text = topics_file.add(c.topics_path, topic, _split(tags), _known_platforms(_split(platforms)), not_before, notes,
                           position, **_file_rules(c))
    _sync(c)
    _say(c, _t("Added: %(topic)s"), text)


@topics_app.command("list")
def topics_list(all_: bool = typer.Option(False, "--all", help="also topics removed from the file")) -> None:
    """Each topic with its state, in queue order."""
    from bot.core import topics

    c, db = common.cfg(), common.db()
    topics.sync(db, c.topics_path, **_rules(c))
    t = Table(title=f"topics — {c.topics_path}", title_justify="left")
    for col in ("#", "id", "state", "topic", "tags", "not before"):
        t.add_column(col)
    for r in topics.list_topics(db, include_removed=all_):
        pos = str(r["position"] + 1) if r["in_file"] else "-"
        t.add_row(pos, r["id"], r["state"], r["topic"], ", ".join(r["tags"]), (r["not_before"] or "")[:10])
    print_table(t)  # wraps between words only: a Korean topic is never cut mid-word


def _t(msgid: str) -> str:
    """A message of the review desk's catalog (bot/shell/desk/locale), in the terminal's language (Korean unless
    LANG says otherwise): the desk and these commands say the same thing."""
    from bot.shell.desk.i18n import gettext_for, system_language

    return gettext_for(system_language())(msgid)


def _say(c, message: str, topic: str) -> None:
    console.print(message % {"topic": topic} + f"  ({c.topics_path})", markup=False, soft_wrap=True)


REF_HELP = "the topic: its position in `topics list`, its id, or its text"


def _split(s: str | None) -> list[str] | None:
    return [x.strip() for x in s.split(",") if x.strip()] if s else None


def _limits(c) -> dict:
    return {"timezone": c.schedule.timezone, "max_chars": c.generate.max_topic_chars}


def _rules(c) -> dict:
    """What the queue is checked against when it is read: _limits and the registry's publishing platforms."""
    import platforms

    return {**_limits(c), "platforms": platforms.names(publishes=True)}


def _file_rules(c) -> dict:
    """The same rules for an edit of topics.yaml (checked before the file is replaced)."""
    import platforms

    return {**_limits(c), "known_platforms": platforms.names(publishes=True)}


def _known_platforms(names: list[str] | None) -> list[str] | None:
    """--platforms checked before topics.yaml is touched."""
    import platforms
    from bot.core.errors import InputError

    known = platforms.names(publishes=True)
    for n in names or []:
        if n not in known:
            raise InputError(f'--platforms: no platform named "{n}" to publish to; known: {", ".join(known)}')
    return names


def _sync(c) -> None:
    from bot.core import topics

    topics.sync(common.db(), c.topics_path, **_rules(c))


@topics_app.command("edit")
def topics_edit(
    ref: str = typer.Argument(..., help=REF_HELP),
    topic: str = typer.Option(None, "--topic", help="new text of the topic"),
    tags: str = typer.Option(None, "--tags", help="comma-separated tags ('' removes them)"),
    platforms: str = typer.Option(None, "--platforms", help="comma-separated platforms ('' = publish config)"),
    not_before: str = typer.Option(None, "--not-before", help="YYYY-MM-DD ('' removes it)"),
    notes: str = typer.Option(None, "--notes", help="notes for the writer ('' removes them)"),
) -> None:
    """Change a topic's text, tags, platforms, date or notes in topics.yaml; comments are kept."""
    from bot.core import topics_file

    c = common.cfg()
    given = {"topic": topic, "tags": tags, "platforms": platforms, "not_before": not_before, "notes": notes}
    changes = {k: (_split(v) if k in ("tags", "platforms") else v) for k, v in given.items() if v is not None}
    if not changes:
        from bot.core.errors import InputError

        raise InputError("nothing to change: give --topic, --tags, --platforms, --not-before or --notes")
    text = topics_file.edit(c.topics_path, ref, changes, **_file_rules(c))
    _sync(c)
    _say(c, _t("Saved: %(topic)s"), text)


@topics_app.command("move")
def topics_move(ref: str = typer.Argument(..., help=REF_HELP),
                to: int = typer.Argument(..., help="its new position (1 = drafted first)")) -> None:
    """Move a topic to another place in the queue (its comment lines move with it)."""
    from bot.core import topics_file

    c = common.cfg()
    text = topics_file.move(c.topics_path, ref, to, **_file_rules(c))
    _sync(c)
    _say(c, _t("Moved: %(topic)s"), text)


@topics_app.command("remove")
def topics_remove(ref: str = typer.Argument(..., help=REF_HELP)) -> None:
    """Take a topic out of topics.yaml (with the comment lines just above it); its history stays in the store."""
    from bot.core import topics_file

    c = common.cfg()
    text = topics_file.remove(c.topics_path, ref, **_file_rules(c))
    _sync(c)
    _say(c, _t("Removed: %(topic)s"), text)


@topics_app.command("skip")
def topics_skip(ref: str = typer.Argument(..., help=REF_HELP),
                undo: bool = typer.Option(False, "--undo", help="put a skipped topic back in the queue")) -> None:
    """Leave a topic in the file but do not draft it (state `skipped`); --undo queues it again."""
    from bot.core import topics_file

    c = common.cfg()
    text = topics_file.skip(common.db(), c.topics_path, ref, undo, **_file_rules(c))
    _say(c, _t("Queued again: %(topic)s") if undo else _t("Skipped: %(topic)s"), text)
