"""The api Lambda handler as a WSGI app, so that HTTP tools (schemathesis) can drive it in-process: each
request becomes the API Gateway HTTP API event the local system builds (path percent-decoded, as API
Gateway delivers it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from litemx_local.system import api_event
from tests.apigw import FakeLambdaContext

Invoke = Callable[[dict[str, Any], Any], dict[str, Any]]


def lambda_wsgi(handler: Invoke) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        headers = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        uri = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        event = api_event(environ["REQUEST_METHOD"], uri, headers, body)
        result = handler(event, FakeLambdaContext())
        status = int(result["statusCode"])
        payload = (result.get("body") or "").encode()
        out = [(name, str(value)) for name, value in (result.get("headers") or {}).items()]
        out.append(("Content-Length", str(len(payload))))
        start_response(f"{status} {HTTPStatus(status).phrase}", out)
        return [payload]

    return app
