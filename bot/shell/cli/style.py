"""CLI: `style` (the author's profile table and chart) and `score` (how much does this text sound like me?)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from bot.core.console import console, print_table
from bot.core.errors import InputError
from bot.shell.cli import app, common

_SHOWN = [("end_seumnida", "-습니다"), ("end_yo", "-요"), ("end_yong", "-용"), ("end_da", "-다"), ("end_dang", "-당"),
          ("end_eum", "-음/-ㅁ"), ("end_banmal", "반말"), ("end_noun", "명사로 끝"), ("fp_humble_share", "저/제 share"),
          ("emoji", "emoji /1k"), ("kk", "ㅋㅋ /1k"), ("hh", "ㅎㅎ /1k"), ("tt", "ㅠㅠ /1k"), ("ellipsis", "… /1k"),
          ("tilde", "~ /1k"), ("excl", "! /1k"), ("question", "? /1k"), ("headings", "headings /1k"),
          ("lists", "list items /1k"), ("bold", "bold /1k"), ("contractions", "contractions /1k"),
          ("sentence_chars", "sentence chars"), ("paragraph_chars", "paragraph chars"), ("post_chars", "post chars")]


def _fmt(key: str, v: float) -> str:
    return f"{v:.0%}" if key.startswith("end_") or key.endswith("_share") else f"{v:.1f}"


def read_parts(path: Path) -> tuple[str, str]:
    """A file's (title, body): front matter understood for Markdown; any other file is a body of UTF-8 text."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() in (".md", ".markdown", ".txt", ".html", ".htm"):
        from platforms.files.read import read_file

        posts = read_file(path)
        if len(posts) == 1:
            return posts[0].title, posts[0].body_markdown
        from bot.voice.style.voice import post_text

        return "", "\n\n".join(post_text(p.title, p.body_markdown) for p in posts)
    try:
        return "", path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_text(path: Path) -> str:
    """A file's title + body as one text."""
    from bot.voice.style.voice import post_text

    return post_text(*read_parts(path))


@app.command()
def style(draft: int = typer.Option(None, "--draft", help="compare with this draft"),
          png: Path = typer.Option(None, "--png", help="chart path (default <data>/style/profile.png)"),
          as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """The author's style profile (endings, register, first person, emoticons, punctuation, layout, lengths)."""
    from bot.voice.style import features, summary, voice
    from bot.voice.style.chart import profile_chart

    c, d = common.cfg(), common.db()
    v = voice.load(c, d)
    prof = v.profile()
    other, info = None, None
    if draft is not None:
        from bot.core import drafts
        from bot.voice.style import check_draft, draft_text

        dr = drafts.get(d, draft)
        other = features.features(features.analyze(draft_text(dr)[:c.style.max_chars]).counts)
        info = check_draft(c, d, dr)
    if as_json:
        console.print_json(json.dumps({"profile": prof, "draft": other, "check": info}, ensure_ascii=False))
        return
    t = Table(title=f"style profile — {v.posts} posts, {prof['lang']}, register {prof['honorific']}",
              title_justify="left")
    t.add_column("feature")
    t.add_column("author", justify="right")
    if other:
        t.add_column(f"draft {draft}", justify="right")
    for key, name in _SHOWN:
        t.add_row(name, _fmt(key, prof["features"][key]), *([_fmt(key, other[key])] if other else []))
    print_table(t)
    if prof["lengths"]:
        ln = prof["lengths"]
        console.print(f"post length: {ln['min']}–{ln['max']} characters (median {ln['median']}); "
                      f"natural overlap between own posts {prof['natural_copy_rate']:.1%} of "
                      f"{prof['copy_window_chars']}-character windows")
    if prof["expressions"]:
        console.print("characteristic expressions: " + ", ".join(e for e, _ in prof["expressions"]), markup=False)
    if not v.reliable:
        console.print(f"[yellow]score unreliable:[/yellow] {v.reason}")
    if info:
        console.print(f"draft {draft}: {summary(info['score'])}", markup=False)
        for g in info["gates"]:
            console.print(f"  {'ok  ' if g['passed'] else 'FAIL'} {g['name']}: {g['detail']}", markup=False)
    out = png or c.data_path / "style" / ("profile.png" if draft is None else f"draft-{draft}.png")
    profile_chart(prof["features"], other, out, title="author vs " + (f"draft {draft}" if other else "—"),
                  other_name=f"draft {draft}")
    console.print(f"chart: {out}", markup=False)


def gates_by_name(gates: list[dict]) -> dict[str, dict]:
    """The gates keyed by name, each with pass, figure, threshold and the sentence."""
    return {g["name"]: {"pass": g["passed"], "figure": g.get("figure"), "threshold": g.get("threshold"),
                        "detail": g["detail"]} for g in gates}


@app.command()
def score(files: list[Path] = typer.Argument(..., help="text or Markdown files to score"),
          topic: str = typer.Option("", "--topic", help="the topic the text should be about (topic gate)"),
          tags: list[str] = typer.Option([], "--tag", help="a tag of the topic (repeatable)"),
          notes: str = typer.Option(None, "--notes", help="the topic's notes: their key points must be covered"),
          as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """How much does this sound like me, and would it pass the gates? Score and every gate of each file."""
    from bot.voice.style import check_text, in_words, summary, voice

    c, d = common.cfg(), common.db()
    v = voice.load(c, d)
    results = {}
    for f in files:
        title, body = read_parts(f)
        r = check_text(c, v, title, body, topic=topic, tags=tags, notes=notes)
        results[str(f)] = {"passed": r["passed"], "score": r["score"], "meaning": in_words(r["score"]),
                           "gates": gates_by_name(r["gates"])}
    if as_json:
        console.print_json(json.dumps(results, ensure_ascii=False, default=str))
        return
    for name, r in results.items():
        s = r["score"]
        console.print(f"{name}: {summary(s)}", markup=False)
        if s.get("fidelity") is not None:
            console.print(f"  authorship classifier: topic-masked p={s['p_masked']:.3f} (ceiling {s['ceiling']:.0%}), "
                          f"plain p={s['p_plain']:.3f}; {s['chars']} chars"
                          + (" (truncated for scoring)" if s["truncated"] else ""), markup=False)
        for gname, g in r["gates"].items():
            console.print(f"  {'ok  ' if g['pass'] else 'FAIL'} {gname}: {g['detail']}", markup=False)
        console.print("  → " + ("passes every gate" if r["passed"] else "would go to review"), markup=False)
