"""The `blogbot` command line: a thin layer over the jobs; errors become a clean message only here."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import typer

from bot.core.errors import BlogbotError
from bot.shell.cli import common

app = typer.Typer(
    help="blogbot: learn your blogging voice, write posts in it, publish them on a schedule.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)

# Command groups, one module each; every module registers its commands on `app`.
COMMAND_MODULES = ["core", "corpus", "topics", "schedule", "style", "crawl", "publish", "model", "store"]


def _print_version(value: bool) -> None:
    if value:
        from bot.shell.desk.common import version

        typer.echo(f"blogbot {version()}")
        raise typer.Exit()


@app.callback()
def _root(
    config: Path = typer.Option(None, "--config", "-c", envvar="BLOGBOT_CONFIG",
                                help="config file (default: ./config.yaml, else built-in defaults)"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="debug output"),
    version: bool = typer.Option(False, "--version", is_eager=True, expose_value=False, callback=_print_version,
                                 help="print blogbot's version and exit"),
) -> None:
    common.reset()
    common.state.config_path = config
    common.state.verbose = verbose


for _name in COMMAND_MODULES:
    importlib.import_module(f"bot.shell.cli.{_name}")
importlib.import_module("bot.shell.cli.ui")  # `blogbot ui`, the review desk (bot/shell/desk)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script. A command's int return value is the exit status; usage errors are
    click's (printed with usage, exit 2); blogbot's errors print one clean line with their exit code; anything
    else is a bug and keeps its traceback."""
    from rich.markup import escape

    from bot.core.console import err_console

    try:
        rv = app(args=argv, prog_name="blogbot", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except BlogbotError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:
        # typer vendors click: its usage errors and aborts are recognised by what they offer, not by class
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            return exc.exit_code
        if type(exc).__name__ == "Abort":
            err_console.print("aborted")
            return 1
        raise
    finally:
        common.reset()


if __name__ == "__main__":
    sys.exit(main())
