"""The review desk: `blogbot ui`, a local web app for drafts, the topic queue, the run log and the status."""

from __future__ import annotations

import os
from typing import Any

from bot.core.config import Config

TOKEN_ENV = "BLOGBOT_UI_TOKEN"  # a fixed token (systemd/compose); otherwise a new one each start


def make_server(cfg: Config, host: str | None = None, port: int | None = None, token: str | None = None) -> Any:
    """The desk's HTTP server (werkzeug, threaded), bound but not yet serving; `.url` is the address with the token."""
    from werkzeug.serving import WSGIRequestHandler
    from werkzeug.serving import make_server as _make

    from bot.shell.desk.app import make_app, new_token

    token = token or os.environ.get(TOKEN_ENV) or new_token()
    app = make_app(cfg, token)
    host = host or cfg.ui.host
    port = cfg.ui.port if port is None else port

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:  # the URL carries the token: no access log
            pass

    if port:  # werkzeug exits the process on a busy port; say it as an OSError the caller can explain
        import socket

        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    server = _make(host, port, app, threaded=True, request_handler=Quiet)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    server.url = f"http://{shown}:{server.server_port}/?token={token}"
    server.app = app
    return server
