"""``zkpot explorer``: the explorer page served live on 127.0.0.1 (stdlib HTTP server).

Each request re-reads the source, so the page follows a running federation. ``/`` is the
page, ``/view.json`` the same data as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from zkpot.explorer.page import render
from zkpot.explorer.view import ChainView

__all__ = ["make_server"]


def make_server(source: Callable[[], ChainView], port: int = 0) -> ThreadingHTTPServer:
    """A server on 127.0.0.1:``port`` (0: any free port) rendering ``source()`` per request."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in ("/", "/index.html", "/view.json"):
                self.send_error(404)
                return
            try:
                view = source()
            except Exception as exc:  # the source is a chain or files: report, keep serving
                self.send_error(502, f"cannot read the task: {exc}")
                return
            if self.path == "/view.json":
                body, kind = json.dumps(asdict(view)).encode(), "application/json"
            else:
                body, kind = render(view).encode(), "text/html; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)
