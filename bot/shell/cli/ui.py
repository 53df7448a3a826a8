"""CLI: `blogbot ui`: serve the review desk on this computer and print its address (with the token)."""

from __future__ import annotations

import sys

import typer

from bot.core.console import console
from bot.shell.cli import app, common


@app.command("ui")
def ui(
    port: int = typer.Option(None, "--port", help="port (default: ui.port in config.yaml, 8770)"),
    host: str = typer.Option(None, "--host", help="address to listen on (default: ui.host, 127.0.0.1)"),
    open_browser: bool = typer.Option(False, "--open", help="open the desk in the default browser"),
) -> int:
    """The review desk in the browser: drafts with previews, the topic queue, the run log and status (Korean by
    default). Only this computer can reach it, and only with the token printed here."""
    from bot.core.errors import InputError
    from bot.shell.desk import make_server
    from bot.shell.desk.i18n import gettext_for, system_language

    _ = gettext_for(system_language())
    c = common.cfg()
    common.db()  # migrations and logging to the data dir, once
    try:
        server = make_server(c, host, port)
    except OSError as exc:
        raise InputError(_("cannot listen on port %(port)s: %(why)s (set ui.port in config.yaml or use --port)")
                         % {"port": port if port is not None else c.ui.port, "why": exc.strerror}) from None
    console.print(_("The review desk is open at:"), markup=False)
    console.print(f"    {server.url}", markup=False, soft_wrap=True)
    console.print(_("Keep this address to yourself: the token in it is the desk's password. Ctrl+C stops it."),
                  markup=False)
    sys.stdout.flush()  # the address must reach a journal or a log file now, not when the buffer fills
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
