"""CLI: `config check`, `status` and `log`: looking at the configuration, the state and the run log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from bot.core.console import console, err_console, print_table, write_data
from bot.core.errors import InputError
from bot.shell.cli import app, common

config_app = typer.Typer(help="Check and show the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("check")
def config_check() -> None:
    """Validate the config and print the effective settings (secrets masked)."""
    from bot.core.config import masked_dump

    c = common.cfg()
    where = c.source_path or "built-in defaults (no config.yaml here)"
    # YAML meant to be read back (`config check > effective.yaml`): raw bytes, no wrapping, no colour
    write_data(f"# config: {where} — valid\n"
               + yaml.safe_dump(masked_dump(c), allow_unicode=True, sort_keys=False, width=1 << 30))
    for w in config_warnings(c):
        err_console.print(f"warning: {w}", markup=False, soft_wrap=True)


def config_warnings(c) -> list[str]:
    """What a valid config would still do wrong: publish to the local sandbox instead of a blog."""
    from bot.core import topics

    out = []
    local = [n for n in c.publish.enabled() if c.publish.platforms[n].local]
    for n in local:
        if n in c.publish.defaults():
            out.append(f"topics without `platforms:` are published to {n}, the local imitation, not a real blog "
                       "(enable a real platform, or set publish.default_platforms)")
    try:
        entries = topics.read_file(c.topics_path, c.schedule.timezone, c.generate.max_topic_chars).entries
    except Exception as exc:  # the topics file's own errors are reported by `topics list` and the draft job
        return [*out, f"{c.topics_path}: {exc}"]
    for n in local:
        named = [e.topic for e in entries if n in e.platforms]
        if named:
            out.append(f"{len(named)} topic(s) in {c.topics_path.name} name {n}, the local imitation: "
                       + ", ".join(repr(t) for t in named[:3]))
    return out


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    check: bool = typer.Option(False, "--check", help="health check: exit 1 with the reasons when a warning holds"),
) -> int:
    """Corpus, queue, last runs, active adapter, publishing, review, logins, next runs and warnings."""
    from bot.core.runlog import reconcile_interrupted
    from bot.shell.report import gather

    reconcile_interrupted(common.db())  # runs whose process is gone read `interrupted` here as in `log`
    info = gather(common.cfg(), common.db())
    if check:
        for w in info["warnings"]:
            err_console.print(f"unhealthy: {w}", markup=False, soft_wrap=True)
        if not info["warnings"]:
            console.print("ok")
        return 1 if info["warnings"] else 0
    if as_json:
        console.print_json(json.dumps(info, ensure_ascii=False, default=str))
        return 0
    t = Table(title=f"blogbot status — {info['data_dir']}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    corpus = ", ".join(f"{p}: {v['posts']} posts ({v['chars']:,} chars)" for p, v in info["corpus"].items())
    if info["corpus_gone"]:
        corpus += "  [dim](" + ", ".join(f"{n} {s}" for s, n in info["corpus_gone"].items()) + ")[/dim]"
    t.add_row("corpus", corpus or "empty — run `blogbot ingest PATH` or `blogbot crawl`")
    t.add_row("queue", ", ".join(f"{s}: {n}" for s, n in sorted(info["queue"].items())) or "empty")
    a = info["active_adapter"]
    t.add_row("active adapter", f"{a['version']} ({a['created_at']})" if a else "none — run `blogbot tune`")
    lp = info["last_published"]
    t.add_row("last published", f"{lp['title']} — {lp['platform']} {lp['url']} ({lp['updated_at']})" if lp else "never")
    mu = info.get("model_usage") or {}
    if mu.get("drafts"):
        cost = f", cost {mu['cost']:.4f}" if mu.get("cost") is not None else ""
        per = "; ".join(f"{k}: {v['prompt_tokens']:,} in / {v['completion_tokens']:,} out" for k, v in
                        mu["by_model"].items())
        t.add_row("model usage", escape(f"{mu['drafts']} drafts, {mu['prompt_tokens']:,} prompt + "
                                        f"{mu['completion_tokens']:,} completion tokens{cost} ({per})"))
    held = info.get("held_back") or {}
    if held:
        n = sum(1 for _ in held)  # reasons; a draft failing two gates counts under each
        t.add_row("held back", escape(", ".join(f"{k} {v}" for k, v in sorted(held.items(), key=lambda kv: -kv[1]))
                                      + f" ({n} reason{'s' if n != 1 else ''}; `blogbot review`)"))
    _watchdog_rows(t, info)
    shown = {"data_dir", "corpus", "corpus_gone", "queue", "active_adapter", "last_published", "last_runs", "held_back",
             "model_usage", "last_publish_by_platform", "review_waiting", "needs_login", "next_runs", "scheduler",
             "warnings"}
    for key, value in info.items():  # sections added by later features render as plain rows
        if key not in shown:
            t.add_row(key.replace("_", " "), value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    print_table(t)
    runs = Table(title="last run of each job", title_justify="left")
    for col in ("job", "run", "status", "finished", "counts / error"):
        runs.add_column(col)
    for r in info["last_runs"]:
        detail = r["error"] or ", ".join(f"{k}={v}" for k, v in r["counts"].items())
        runs.add_row(r["job"], str(r["id"]), r["status"], r["finished_at"] or "-", detail)
    print_table(runs)
    for w in info["warnings"]:
        err_console.print(f"[yellow]warning:[/yellow] {escape(w)}", soft_wrap=True)
    return 0


def _watchdog_rows(t: Table, info: dict) -> None:
    """The watchdog's rows of the status table: publishing per platform, review, logins, scheduler, next runs."""
    per = info["last_publish_by_platform"]
    t.add_row("last publish per platform",
              "\n".join(f"{p}: {v['at']} {v['url'] or ''}" for p, v in per.items()) or "never")
    waiting = info["review_waiting"]
    t.add_row("waiting for review", (f"{len(waiting)}: " + ", ".join(f"#{d['id']}" for d in waiting[:10])
                                     + " — `blogbot review`") if waiting else "none")
    t.add_row("needs login", ", ".join(info["needs_login"]) or "none")
    h = info["scheduler"]
    t.add_row("scheduler", f"running (pid {h.get('pid')} on {h.get('host')} since {h.get('since')})" if h
              else "not running")
    t.add_row("next runs", "\n".join(f"{j}: {n or 'disabled'}" for j, n in info["next_runs"].items()))


def _since(value: str) -> str:
    """'2d', '12h', '30m' or an ISO date → an ISO timestamp."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if value[:-1].isdigit() and value[-1] in units:
        return (datetime.now(UTC) - timedelta(**{units[value[-1]]: int(value[:-1])})).isoformat(timespec="seconds")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"--since: expected 2d, 12h, 30m or an ISO date, got {value!r}") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).isoformat(timespec="seconds")


@app.command("log")
def log_cmd(
    run_id: int = typer.Argument(None, help="show one run with its log lines"),
    job: str = typer.Option(None, "--job", help="only runs of this job"),
    since: str = typer.Option(None, "--since", help="only runs started since (2d, 12h, 30m, or a date)"),
    failed: bool = typer.Option(False, "--failed", help="only failed or interrupted runs"),
    limit: int = typer.Option(30, "--limit", "-n"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The run log: every job run with its status and counts."""
    from bot.core import runlog
    from bot.core.runlog import reconcile_interrupted, run_log_lines

    db, c = common.db(), common.cfg()
    reconcile_interrupted(db)
    if run_id is not None:
        r = runlog.get(db, run_id)
        if r is None:
            raise InputError(f"no run with id {run_id}")
        r["lines"] = run_log_lines(c.data_path, run_id)
        if as_json:
            console.print_json(json.dumps(r, ensure_ascii=False))
            return
        for k in ("id", "job", "status", "started_at", "finished_at", "error"):
            console.print(f"[bold]{k}[/bold]: {r[k]}")
        console.print(f"[bold]counts[/bold]: {r['counts']}", markup=True)
        console.print(f"[bold]details[/bold]: {json.dumps(r['details'], ensure_ascii=False)}")
        for ln in r["lines"]:
            console.print(f"  {ln['time'][11:19]} {ln['level']:<7} {ln['message']}", markup=False)
        return
    rows = runlog.find(db, job=job, since=_since(since) if since else None, failed=failed, limit=limit)
    if as_json:
        console.print_json(json.dumps(rows, ensure_ascii=False))
        return
    t = Table(title="run log", title_justify="left")
    for col in ("run", "job", "started", "status", "counts / error"):
        t.add_column(col)
    for r in rows:
        detail = r["error"] or ", ".join(f"{k}={v}" for k, v in r["counts"].items())
        t.add_row(str(r["id"]), r["job"], r["started_at"], r["status"], detail)
    print_table(t)
