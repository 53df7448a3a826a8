"""CLI: `tune`, `write "topic"`, `draft`, `adapters list|activate|rollback|export`, `model pull|list`: the voice,
the drafts written in it, and the models that write them."""

from __future__ import annotations

import sys
from pathlib import Path

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

    r = common.run_job(tune_job.run, force=force)
    if r["status"] == "skipped":
        console.print(f"skipped: {r['reason']}", markup=False)
        return
    colour = "green" if r["status"] == "active" else "yellow"
    console.print(f"[{colour}]adapter {r['version']}: {r['status']}[/{colour}] — {escape(r['reason'])}")
    cmp = "".join(f", {k} {v}" for k, v in r["held_out_ppl_compare"].items())
    console.print(f"held-out perplexity: base {r['held_out_ppl_base']}{cmp}, new {r['held_out_ppl_adapter']}; "
                  f"{r['steps']} steps ({r['stopped']}), {r['tokens_per_s']} tok/s, {r['seconds']} s")
    if r.get("voice_gain") is not None:
        was = "".join(f", {k} {v:+.4f}" for k, v in (r.get("voice_gain_compare") or {}).items())
        console.print(f"voice measure (nats/token learned of you more than of other authors; base 0{was}): "
                      f"new {r['voice_gain']:+.4f}")
    if (r.get("preference") or {}).get("kept") is False:
        console.print(f"preference round not kept: it left the held-out perplexity at "
                      f"{r['preference']['held_out_ppl_with_round']}, not below the base's; the adapter is the "
                      "supervised one", markup=False)
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
    from bot.core import runlog

    run_id = runlog.last_id(common.db(), "draft")
    if run_id:
        console.print(f"run log: blogbot log {run_id}", markup=False)


@app.command()
def write(
    topic: str = typer.Argument(..., help="what to write about"),
    stream: bool = typer.Option(None, "--stream/--no-stream", help="print the text as it is generated"),
) -> None:
    """Draft a post on TOPIC now, in the author's voice."""
    from jobs import draft as draft_job

    live = sys.stdout.isatty() if stream is None else stream
    draft_id = common.run_job(draft_job.run, topic=topic, on_text=_stream if live else None)
    _show(draft_id, live)


@app.command()
def draft(stream: bool = typer.Option(None, "--stream/--no-stream", help="print the text as it is generated")) -> None:
    """Draft a post on the next eligible topic of the queue."""
    from jobs import draft as draft_job

    live = sys.stdout.isatty() if stream is None else stream
    _show(common.run_job(draft_job.run, on_text=_stream if live else None), live)


@adapters_app.command("list")
def adapters_list() -> None:
    """Every adapter version with its status, held-out perplexity, voice measure and reason."""
    from bot.core import adapters

    t = Table(title="adapters", title_justify="left")
    for col in ("version", "status", "created", "ppl base", "ppl adapter", "voice", "steps", "data", "reason"):
        t.add_column(col)
    rows = adapters.list_all(common.db())
    for a in rows:
        m = a["metrics"]
        style = "green" if a["status"] == "active" else ("red" if a["status"] in ("rejected", "broken") else None)
        t.add_row(a["version"], a["status"], (a["created_at"] or "")[:16], str(m.get("held_out_ppl_base", "")),
                  str(m.get("held_out_ppl_adapter", "")),
                  "" if m.get("voice_gain") is None else f"{m['voice_gain']:+.4f}", str(m.get("steps", "")),
                  a["data_hash"] or "",
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


# --- serving the voice elsewhere, and bigger models ---------------------------------------------------------------

model_app = typer.Typer(help="Base models: download one from Hugging Face, list what is cached.", no_args_is_help=True)
app.add_typer(model_app, name="model")


@adapters_app.command("export")
def adapters_export(
    version: str = typer.Argument(..., help="e.g. v0002 (see `blogbot adapters list`)"),
    out: Path = typer.Argument(..., help="folder to write into"),
    fmt: str = typer.Option("gguf", "--format", help="gguf: llama.cpp --lora; gguf-merged: the base GGUF with the "
                                                      "adapter merged in (llama.cpp -m); peft: vLLM --enable-lora"),
) -> None:
    """Write an adapter so a server can carry it: llama.cpp (`--lora FILE`) or vLLM (`--lora-modules NAME=DIR`)."""
    from bot.core import adapters
    from bot.core.errors import InputError
    from bot.voice.backends import lora_gguf

    if fmt not in ("gguf", "gguf-merged", "peft"):
        raise InputError(f"--format must be gguf, gguf-merged or peft, not {fmt!r}")
    a = adapters.get(common.db(), version)
    src = Path(a["path"])
    adapters.validate(src)
    if fmt == "peft":
        dest = lora_gguf.to_peft(src, out / version, a.get("base_model"))
        console.print(f"PEFT adapter: {dest}", markup=False)
        console.print(f"serve: vllm serve BASE --enable-lora --max-lora-rank 64 --lora-modules {version}={dest}\n"
                      f"then set model.backend: openai, model.api: completions, model.name: {version}", markup=False)
        return
    from bot.voice.backends.llamacpp import gguf_path

    base = gguf_path(common.cfg())
    if fmt == "gguf-merged":
        from bot.voice.backends.merge_gguf import merge

        dest = merge(src, base, out / f"{base.stem}-{version}.gguf", note=version)
        console.print(f"GGUF with the adapter merged in: {dest} (from {base.name})", markup=False)
        console.print(f"serve: llama-server -m {dest} --alias {version}   (or: python -m bot.voice.backends.llamacpp "
                      f"{dest} --alias {version})\nthen set model.backend: openai, model.api: completions, "
                      f"model.name: {version}", markup=False)
        return
    dest = lora_gguf.to_gguf(src, out / f"{version}.gguf", base)
    console.print(f"GGUF LoRA: {dest} (for {base.name})", markup=False)
    console.print(f"serve: llama-server -m {base} --lora {dest} --alias {version}   (or: python -m "
                  f"bot.voice.backends.llamacpp {base} --lora {dest} --alias {version})\n"
                  f"then set model.backend: openai, model.api: completions, model.name: {version}", markup=False)


@model_app.command("pull")
def model_pull(
    repo_id: str = typer.Argument(..., help="Hugging Face model id, e.g. Qwen/Qwen2.5-3B-Instruct"),
    revision: str = typer.Option(None, "--revision", help="branch, tag or commit"),
    include: list[str] = typer.Option(None, "--include", help="file patterns (default: config, tokenizer, "
                                                                "safetensors); e.g. --include '*Q4_K_M.gguf'"),
) -> None:
    """Download a model into the Hugging Face cache (resumable; HF_ENDPOINT, HF_HOME, HF_HUB_OFFLINE respected)."""
    from bot.voice import hub

    path = hub.pull(repo_id, revision, include or None)
    ggufs = sorted(path.glob("*.gguf"))
    console.print(f"{repo_id}: {path}", markup=False)
    hint = f"model.gguf: {ggufs[0]} (with model.backend: llamacpp)" if ggufs else f"model.base: {repo_id}"
    console.print(f"use it: set {hint} in config.yaml", markup=False)


@model_app.command("list")
def model_list() -> None:
    """The models in the Hugging Face cache: size, memory needed to run them, licence."""
    from bot.voice import hub

    rows = hub.cached()
    t = Table(title=f"cached models — {hub.hf_home()}", title_justify="left")
    for col in ("model", "size", "RAM needed", "licence", "revision"):
        t.add_column(col)
    for c in rows:
        t.add_row(c.repo_id, f"{c.size_bytes / 2**30:.2f} GiB", f"~{c.ram_gib} GiB", c.licence or "?",
                  c.revision or "")
    console.print(t if rows else "no models cached — `blogbot model pull OWNER/NAME` (the embedded model needs none)")
