"""One webhook POST (stdlib http.client): to the vetted address only, with a hard deadline, no redirects.

The connection goes to `Target.address` (checked by `destinations.vet`), while TLS verifies the
certificate for the URL's host name (SNI) and the Host header names it too. `timeout` bounds the whole
attempt, not each socket operation: a timer shuts the socket down when it runs out, so a receiver that
trickles bytes cannot hold the function. Redirects are answers like any other non-2xx: never followed.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from litemx.webhooks.destinations import Target

MAX_RESPONSE_BYTES = 4096
USER_AGENT = "LiteMX-Webhooks/1"


@dataclass(frozen=True)
class Response:
    """The receiver's status, or `error` when no status arrived (timeout, refused, TLS, ...)."""

    status: int | None
    error: str = ""
    elapsed_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Transport(Protocol):
    def post(self, target: Target, body: bytes, headers: dict[str, str], *, timeout: float) -> Response: ...


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


class HttpTransport:
    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self._context = context or ssl.create_default_context()

    def post(self, target: Target, body: bytes, headers: dict[str, str], *, timeout: float) -> Response:
        url = target.url
        connection: http.client.HTTPConnection = (
            _PinnedHTTPConnection(url.host, url.port, target.address, timeout)
            if url.scheme == "http"
            else _PinnedHTTPSConnection(url.host, url.port, target.address, timeout, self._context)
        )
        timer = threading.Timer(timeout, _abort, args=(connection,))
        timer.daemon = True
        started = time.monotonic()
        timer.start()
        try:
            connection.request(
                "POST",
                url.path,
                body=body,
                headers={**headers, "content-type": "application/json", "user-agent": USER_AGENT},
            )
            answer = connection.getresponse()
            answer.read(MAX_RESPONSE_BYTES)
            status = answer.status
        except (OSError, http.client.HTTPException, ValueError) as error:
            elapsed = int((time.monotonic() - started) * 1000)
            reason = (
                "timed out" if elapsed >= timeout * 1000 or isinstance(error, TimeoutError) else str(error)
            )
            return Response(status=None, error=f"{type(error).__name__}: {reason}"[:300], elapsed_ms=elapsed)
        finally:
            timer.cancel()
            connection.close()
        return Response(status=status, elapsed_ms=int((time.monotonic() - started) * 1000))


def _abort(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
