"""Human output: the shared rich console, progress bars, tables that keep words whole, and raw data output (logs go
through loguru, not here)."""

from __future__ import annotations

import re
import sys

from rich.cells import cell_len
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

# Not a terminal (a pipe, a file): plain prints are never hard-wrapped at 80 columns.
console = Console(highlight=False, soft_wrap=not sys.stdout.isatty())
err_console = Console(stderr=True, highlight=False, soft_wrap=not sys.stderr.isatty())
WORD = re.compile(r"\S+")


def write_data(text: str) -> None:
    """Data meant for a file or a pipe (parsed posts, YAML, JSON): the exact bytes, never wrapped or styled, whatever
    the terminal's width and whether it is one at all."""
    out = sys.stdout
    try:
        out.write(text)
        out.flush()
    except BrokenPipeError:  # `blogbot parse ... | head`: the reader left; not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())


def _plain(cell: object) -> str:
    if isinstance(cell, Text):
        return cell.plain
    if isinstance(cell, str):
        return Text.from_markup(cell).plain if "[" in cell else cell
    return ""


def _widths(texts: list[str]) -> tuple[int, int]:
    """(longest word, longest line) of a column's texts, in terminal cells (a Hangul syllable is 2)."""
    word = max((cell_len(w) for t in texts for w in WORD.findall(t)), default=0)
    line = max((cell_len(ln) for t in texts for ln in t.split("\n")), default=0)
    return word, line


def print_table(table: Table, con: Console | None = None) -> None:
    """Print a table whose cells wrap only between words: a Korean word is never cut or ellipsized. Each column gets
    at least its longest word; the room left is shared in proportion to what each column would need unwrapped; when
    even the longest words cannot all fit, the table is drawn wider than the terminal rather than cutting a word."""
    con = con or console
    cols = table.columns
    sizes = [_widths([_plain(c.header), *(_plain(x) for x in c._cells)]) for c in cols]
    pad = table.padding[1] + table.padding[3]
    edges = ((2 if table.show_edge else 0) + len(cols) - 1) if table.box else 0
    fixed = edges + pad * len(cols)
    if fixed + sum(line for _, line in sizes) <= con.width:
        con.print(table)  # nothing wraps
        return
    floor = fixed + sum(word for word, _ in sizes)
    room = max(con.width - floor, 0)
    slack = [line - word for word, line in sizes]
    total = sum(slack) or 1
    for col, (word, _), extra in zip(cols, sizes, slack, strict=True):
        col.width = word + room * extra // total
        col.overflow = "fold"  # only a word wider than the whole table could reach it; never "…"
    saved = con.width
    con.width = max(saved, floor)
    try:
        con.print(table)
    finally:
        con.width = saved


def progress(transient: bool = False) -> Progress:
    """A progress bar with count, elapsed time and ETA; it draws nothing when stderr is not a terminal."""
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
        console=err_console, transient=transient, disable=not sys.stderr.isatty(),
    )
