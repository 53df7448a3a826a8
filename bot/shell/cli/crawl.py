"""CLI: `crawl` (read the configured blogs into the store) and `parse` (debug one saved page or URL)."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.core.console import console, write_data
from bot.core.errors import InputError
from bot.shell.cli import app, common


@app.command()
def crawl(
    platform: str = typer.Option(None, "--platform", "-p", help="only this platform (one that reads: naver, ...)"),
    full: bool = typer.Option(False, "--full", help="re-read every post and mark deleted ones (default: only new)"),
) -> None:
    """Read your posts from the sources in the config into the store; ends with new/updated/unchanged/failed."""
    from jobs import crawl as job

    c = common.cfg()
    if not c.sources:
        console.print("no sources in the config: add `sources:` (see README, \"Reading your blogs\")", style="yellow")
    counts = common.run_job(job.run, platform=platform, full=full)
    summary = ", ".join(f"{k} {counts.get(k, 0)}" for k in ("new", "updated", "unchanged", "gone", "failed"))
    console.print(f"crawl{' (full)' if full else ''}: {summary}")
    if counts.get("failed"):
        console.print("some pages failed; see `blogbot log` for their URLs", style="yellow")


def render_post(post) -> str:  # noqa: ANN001 - platforms.base.Post
    """Front matter + Markdown: what `parse` prints."""
    import yaml

    meta = {"platform": post.platform, "source_id": post.source_id, "title": post.title, "url": post.url,
            "published_at": post.published_at.isoformat() if post.published_at else None,
            "category": post.category, "tags": post.tags, "status": post.status}
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=1 << 30)  # a long title stays one line
    return "---\n" + front + "---\n\n" + post.body_markdown + "\n"


@app.command()
def parse(
    platform: str = typer.Argument(..., help="naver, tistory or velog"),
    target: str = typer.Argument(..., help="a saved page (HTML, or GraphQL JSON for velog) or a post URL"),
    url: str = typer.Option(None, "--url", help="the page's original URL, for a saved file"),
) -> None:
    """Print the normalized post (front matter + Markdown) of one saved page or one URL."""
    import importlib

    import platforms
    from platforms.http import decode_body

    if platform not in platforms.names(reads=True):
        raise InputError(f'platform "{platform}": expected one of {", ".join(platforms.names(reads=True))}')
    mod = importlib.import_module(f"platforms.{platform}.read")
    c = common.cfg()
    if target.startswith(("http://", "https://")):
        post = mod.read_url(target, c)
    else:
        path = Path(target)
        if not path.is_file():
            raise InputError(f"{target}: no such file (give a saved page or an http(s) URL)")
        text = decode_body(path.read_bytes(), None)
        post = mod.parse_page(text, url or path.resolve().as_uri(), c.crawl.timezone)
    write_data(render_post(post))  # data for a file or a pipe: never wrapped at the terminal's width
