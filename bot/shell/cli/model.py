"""CLI: `tune`, `write "topic"`, `draft`, `adapters list|activate|rollback`: the voice and the drafts written in it."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape
from rich.table import Table

from bot.core.console import console, err_console, print_table
from bot.shell.cli import app, common

adapters_app = typer.Typer(help="The style adapters: versions, metrics, which one is active.", no_args_is_help=True)
app.add_typer(adapters_app, name="adapters")


@app.command()
def tune(force: bool = typer.Option(False, "--force", help="tune even when no post changed")) -> None:
    """Tune a new style adapter on the stored posts; it becomes active only if it beats base and active."""
    from jobs import tune as tune_job

    r = tune_job.run(common.cfg(), common.db(), force=force)
    if r["status"] == "skipped":
        console.print(f"skipped: {r['reason']}", markup=False)
        return
    colour = "green" if r["status"] == "active" else "yellow"
    console.print(f"[{colour}]adapter {r['version']}: {r['status']}[/{colour}] — {escape(r['reason'])}")
    cmp = "".join(f", {k} {v}" for k, v in r["held_out_ppl_compare"].items())
    console.print(f"held-out perplexity: base {r['held_out_ppl_base']}{cmp}, new {r['held_out_ppl_adapter']}; "
                  f"{r['steps']} steps ({r['stopped']}), {r['tokens_per_s']} tok/s, {r['seconds']} s")
    console.print(f"folder: {r['path']}", markup=False)


def _stream(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _show(draft_id: int | None, streamed: bool) -> None:
    from bot.core import drafts

    if draft_id is None:
        console.print("no eligible topic in the queue (see `blogbot topics list`)")
        return
    d = drafts.get(common.db(), draft_id)
    if streamed:
        console.print()
    console.rule(f"draft {draft_id}: {escape(d['title'])}")
    if not streamed:
        console.print(d["body_markdown"], markup=False)
    console.print(f"tags: {', '.join(d['tags'])}", markup=False)
    console.print(f"adapter {d['adapter_version'] or 'none'} · {d['new_tokens']} tokens in {d['duration_s']} s "
                  f"({d['tokens_per_s']} tok/s) · status {d['status']}" + (f" ({d['review_reason']})"
                                                                            if d["review_reason"] else ""))
    console.print(f"file: {d['outbox_path']}", markup=False)
    run = next(common.db().query("select id from runs where job = 'draft' order by id desc limit 1"), None)
    if run:
        console.print(f"run log: blogbot log {run['id']}", markup=False)


@app.command()
def write(
    topic: str = typer.Argument(..., help="what to write about"),
    stream: bool = typer.Option(None, "--stream/--no-stream", help="print the text as it is generated"),
) -> None:
    """Draft a post on TOPIC now, in the author's voice."""
    from jobs import draft as draft_job

    live = sys.stdout.isatty() if stream is None else stream
    draft_id = draft_job.run(common.cfg(), common.db(), topic=topic, on_text=_stream if live else None)
    _show(draft_id, live)


@app.command()
def draft(stream: bool = typer.Option(None, "--stream/--no-stream", help="print the text as it is generated")) -> None:
    """Draft a post on the next eligible topic of the queue."""
    from jobs import draft as draft_job

    live = sys.stdout.isatty() if stream is None else stream
    _show(draft_job.run(common.cfg(), common.db(), on_text=_stream if live else None), live)


@adapters_app.command("list")
def adapters_list() -> None:
    """Every adapter version with its status, held-out perplexity and reason."""
    from bot.core import adapters

    t = Table(title="adapters", title_justify="left")
    for col in ("version", "status", "created", "ppl base", "ppl adapter", "steps", "data", "reason"):
        t.add_column(col)
    rows = adapters.list_all(common.db())
    for a in rows:
        m = a["metrics"]
        style = "green" if a["status"] == "active" else ("red" if a["status"] in ("rejected", "broken") else None)
        t.add_row(a["version"], a["status"], (a["created_at"] or "")[:16], str(m.get("held_out_ppl_base", "")),
                  str(m.get("held_out_ppl_adapter", "")), str(m.get("steps", "")), a["data_hash"] or "",
                  escape(a["reason"] or ""), style=style)
    if rows:
        print_table(t)  # wraps between words only: a Korean reason is never cut mid-word
    else:
        console.print("no adapters yet — run `blogbot tune`")


@adapters_app.command("activate")
def adapters_activate(version: str = typer.Argument(..., help="e.g. v0002")) -> None:
    """Make VERSION the active adapter (its folder is checked first)."""
    from bot.core import adapters

    a = adapters.activate(common.db(), version)
    console.print(f"active adapter: {a['version']}")


@adapters_app.command("rollback")
def adapters_rollback() -> None:
    """Go back to the adapter that was active before the current one."""
    from bot.core import adapters

    a = adapters.rollback(common.db())
    err_console.print(f"rolled back; active adapter: {a['version']}")
