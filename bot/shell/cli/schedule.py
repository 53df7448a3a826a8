"""CLI: `run` (the scheduler, or everything once), `jobs` (next fire times) and `review` (manual review of drafts)."""

from __future__ import annotations

import signal

import typer
from rich.markup import escape
from rich.table import Table

from bot.core.console import console, err_console, print_table
from bot.shell.cli import app, common


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@app.command("run")
def run_cmd(
    once: bool = typer.Option(False, "--once", help="crawl → tune (if due) → draft → publish once, then exit"),
    dry_run: bool = typer.Option(False, "--dry-run", help="never publish (the publish job only rehearses)"),
) -> int:
    """Run the scheduler (until SIGTERM/Ctrl-C), or every job once with --once."""
    from bot.shell.runner import Runner
    from bot.shell.scheduler import SchedulerLock, serve

    c = common.cfg()  # an invalid cron or timezone stops here, with its file and line, before anything starts
    common.db()  # migrations and logging
    with SchedulerLock(c.data_path):
        runner = Runner(c, dry_run=dry_run)
        runner.echo_children = once
        if not once:
            return serve(c, runner)
        signal.signal(signal.SIGTERM, _interrupt)  # like Ctrl-C: the running job is recorded as interrupted
        results = runner.once()
    t = Table(title="blogbot run --once" + (" (dry run)" if dry_run else ""), title_justify="left")
    t.add_column("job")
    t.add_column("result")
    for job, result in results.items():
        t.add_row(job, {"failed": "[red]failed[/red] (see `blogbot log --failed`)"}.get(result, result))
    print_table(t)
    return 1 if "failed" in results.values() else 0


@app.command("jobs")
def jobs_cmd() -> None:
    """Scheduled jobs: cron, next fire time, last run; and whether a scheduler is running."""
    from bot.core import schedule_state
    from bot.shell.scheduler import holder, upcoming

    c, db = common.cfg(), common.db()
    states = schedule_state.rows(db)
    t = Table(title=f"jobs — timezone {c.schedule.timezone}", title_justify="left")
    for col in ("job", "cron", "next run", "last fired", "last result"):
        t.add_column(col)
    for j in upcoming(c):
        st = states.get(j["job"], {})
        last = st.get("last_status") or "-"
        if st.get("last_error"):
            last += f": {st['last_error']}"
        t.add_row(j["job"], j["cron"], j["next_run"] or "[dim]disabled[/dim]", st.get("last_fire") or "never",
                  escape(last))
    print_table(t)
    h = holder(c.data_path)
    console.print(f"scheduler: running (pid {h.get('pid')} on {h.get('host')} since {h.get('since')})" if h
                  else "scheduler: not running — start it with `blogbot run`")


review_app = typer.Typer(help="Manual review of drafts: list, show, edit, approve, reject.")
app.add_typer(review_app, name="review")


@review_app.callback(invoke_without_command=True)
def review_root(ctx: typer.Context) -> None:
    """Without a command: list the drafts waiting for review."""
    if ctx.invoked_subcommand is None:
        review_list(ids=False)


@review_app.command("list")
def review_list(ids: bool = typer.Option(False, "--ids", help="only the ids, one per line (for scripts)")) -> None:
    """Drafts waiting for review, oldest first."""
    from bot.shell import review

    rows = review.pending(common.db())
    if ids:
        for d in rows:
            console.print(str(d["id"]))
        return
    if not rows:
        console.print("no draft waits for review")
        return
    t = Table(title="drafts waiting for review", title_justify="left")
    for col in ("id", "created", "title", "topic", "why"):
        t.add_column(col)
    for d in rows:
        t.add_row(str(d["id"]), d["created_at"], escape(d["title"]), escape(d["topic"] or ""),
                  escape(d["review_reason"] or ""))
    print_table(t)


@review_app.command("show")
def review_show(draft_id: int = typer.Argument(..., help="draft id")) -> None:
    """One draft: its text, status, and score summary."""
    from bot.shell import review

    d = review.show(common.db(), draft_id)
    console.print(f"[bold]#{d['id']} {escape(d['title'])}[/bold]  [dim]{d['status']} · topic: "
                  f"{escape(d['topic'] or '')} · adapter {d['adapter_version'] or 'none'}[/dim]")
    if d["review_reason"]:
        console.print(f"[dim]why: {escape(d['review_reason'])}[/dim]")
    if chosen := review.best_of(d.get("params")):
        console.print(f"[dim]{escape(chosen)}[/dim]")
    if d["summary"]:
        console.print(d["summary"], markup=False)
    if d["original_body"]:
        console.print("[dim](edited; the generated original is kept; score and gates are for the edited text)[/dim]")
    console.print()
    console.print(d["body_markdown"], markup=False)
    if d.get("diff"):
        console.print()
        console.print("[bold]your edit[/bold] (generated → edited):")
        console.print(d["diff"], markup=False)


@review_app.command("edit")
def review_edit(draft_id: int = typer.Argument(..., help="draft id")) -> None:
    """Open the draft in $EDITOR; the edit is saved and the generated original kept."""
    from bot.shell import review

    db = common.db()
    changed = review.edit(common.cfg(), db, draft_id)
    console.print(f"draft {draft_id}: " + ("saved (original kept); score and gates recomputed" if changed
                                           else "unchanged"))
    if changed:
        summary = review.show(db, draft_id)["summary"]
        if summary:
            console.print(summary, markup=False)


@review_app.command("approve")
def review_approve(draft_id: int = typer.Argument(..., help="draft id")) -> None:
    """Approve a draft: the publish job takes it at its next run."""
    from bot.shell import review

    d = review.approve(common.db(), draft_id)
    console.print(f"draft {draft_id} approved: {escape(d['title'])}")


@review_app.command("reject")
def review_reject(
    draft_id: int = typer.Argument(..., help="draft id"),
    reason: str = typer.Option(None, "--reason", "-r", help="why (required; kept with the draft)"),
) -> None:
    """Reject a draft with a reason; it is kept, never published."""
    from bot.shell import review

    review.reject(common.db(), draft_id, reason)
    err_console.print(f"draft {draft_id} rejected: {escape(reason)}")
