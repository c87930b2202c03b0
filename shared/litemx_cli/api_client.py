"""A minimal client of the LiteMX HTTP API (stdlib urllib): `litemx send` goes through the real API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from litemx_cli.output import EXIT_UNAVAILABLE, CliError


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error_code(self) -> str:
        return str(self.body.get("error", {}).get("code", f"http_{self.status}"))

    @property
    def error_message(self) -> str:
        return str(self.body.get("error", {}).get("message", ""))


def post(
    url: str, token: str, payload: dict[str, Any], *, idempotency_key: str | None = None, timeout: float = 30
) -> ApiAnswer:
    if not url.startswith(("http://", "https://")):
        raise CliError(f"the API URL {url!r} is not http(s)", EXIT_UNAVAILABLE)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, data=json.dumps(payload).encode("utf-8"), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return ApiAnswer(response.status, _body(response.read()))
    except urllib.error.HTTPError as refused:
        return ApiAnswer(refused.code, _body(refused.read()))
    except (urllib.error.URLError, OSError) as problem:
        reason = getattr(problem, "reason", problem)
        raise CliError(f"cannot reach the API at {url}: {reason}", EXIT_UNAVAILABLE) from None


def _body(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {"error": {"code": "bad_response", "message": raw[:200].decode(errors="replace")}}
    return data if isinstance(data, dict) else {"value": data}
