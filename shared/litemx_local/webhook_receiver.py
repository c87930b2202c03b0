"""A real webhook receiver for the tests and the demo (what a customer runs): an HTTP server on
127.0.0.1 that verifies each request's Standard Webhooks signature and answers from a script ("200",
"500", "hang")."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from litemx.webhooks import signing


@dataclass
class Request:
    headers: dict[str, str]
    body: bytes
    valid: bool


@dataclass
class Receiver:
    now: Callable[[], datetime]
    script: list[str] = field(default_factory=list)  # one answer per request; "200" once it runs out
    secret: str = ""
    requests: list[Request] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/litemx"

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                valid = signing.verify(receiver.secret, headers, body, now=receiver.now())
                receiver.requests.append(Request(headers, body, valid))
                answer = receiver.script.pop(0) if receiver.script else "200"
                if answer == "hang":
                    receiver.release.wait(timeout=30)
                    answer = "200"
                status = int(answer) if valid else 401
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
