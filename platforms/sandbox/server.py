"""Serving a sandbox app (the platforms' imitation, or the simulated blogs) on 127.0.0.1 in a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask


def serve(app: Flask, port: int = 0, host: str = "127.0.0.1") -> tuple[str, Any]:
    """Serve `app` in a daemon thread on 127.0.0.1; returns (base URL, server) — call server.shutdown() to stop.
    A port in use raises OSError."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:  # no access log on the console
            pass

    try:
        server = make_server(host, port, app, threaded=True, request_handler=Quiet)
    except SystemExit:  # werkzeug reports a taken port on stderr and exits; callers choose another port
        raise OSError(f"port {port} on {host} is in use") from None
    threading.Thread(target=server.serve_forever, daemon=True, name="sandbox").start()
    return f"http://{host}:{server.server_port}", server


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """`serve` on a free port for the length of a `with` block; yields the base URL."""
    base, server = serve(app)
    try:
        yield base
    finally:
        server.shutdown()
