"""What the API checks on the raw event before Powertools routes, parses or validates anything.

One direction through a request: the route is known (else 404, or 405 with `Allow`), the bearer token is
verified (else 401/403: an unauthenticated caller costs one token read, no parsing, no write), then the
content type (415), the size (413) and the JSON's shape (depth, number length: 400) are checked before
the body is parsed. Every refusal is `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from functions.api.answers import Answer, error
from litemx.directory.auth import Principal
from litemx.directory.models import Scope, Token

# Lambda takes at most 6 MB per synchronous invocation (request and response), and API Gateway hands it the
# body inside a JSON event: escaped, beside up to 10,240 bytes of request line and headers and the request
# context. A body of at most MAX_BODY_BYTES, counted as the event carries it, always arrives with room to
# spare; a larger one that still fits gets the 413 below, and one past 6 MB never reaches the function
# (API Gateway answers it, without LiteMX's error shape). Bigger attachments go by upload (POST /v1/uploads).
LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024
MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_JSON_DEPTH = 16
MAX_NUMBER_DIGITS = 32
MAX_IDEMPOTENCY_KEY = 255
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")
_LONG_NUMBER = re.compile(rf"[0-9]{{{MAX_NUMBER_DIGITS + 1},}}")

SEND = frozenset({Scope.SEND, Scope.SEND_REPLY})
READ = frozenset({Scope.READ})
DRAFT = frozenset({Scope.DRAFT})
# A draft is read by the agent that wrote it and by whoever may approve it (a send scope).
DRAFT_READERS = frozenset({Scope.DRAFT, Scope.SEND, Scope.SEND_REPLY})
ANY = frozenset(Scope)


@dataclass(frozen=True)
class RouteRule:
    method: str
    pattern: re.Pattern[str]
    scopes: frozenset[Scope] | None  # None: public (the OpenAPI document)
    whole_principal: bool = True  # False: only the token (sends: the decision checks the rest, audited)
    json_body: bool = False


def _rule(method: str, path: str, scopes: frozenset[Scope] | None, **kw: bool) -> RouteRule:
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return RouteRule(method, re.compile(f"^{pattern}$"), scopes, **kw)


# The API's routes (a test checks that they are exactly the OpenAPI document's operations).
ROUTES = (
    _rule("POST", "/v1/messages", SEND, whole_principal=False, json_body=True),
    _rule("GET", "/v1/messages/{message_id}", ANY),
    _rule("GET", "/v1/usage", ANY),
    _rule("POST", "/v1/policy/check", SEND, whole_principal=False, json_body=True),
    _rule("POST", "/v1/uploads", SEND, json_body=True),
    _rule("GET", "/v1/status", ANY),
    _rule("GET", "/v1/mailboxes/{address}/messages", READ),
    _rule("GET", "/v1/mailboxes/{address}/messages/{message_id}", READ),
    _rule(
        "POST",
        "/v1/mailboxes/{address}/messages/{message_id}/reply",
        SEND,
        whole_principal=False,
        json_body=True,
    ),
    _rule("GET", "/v1/drafts", DRAFT_READERS),
    _rule("POST", "/v1/drafts", DRAFT, json_body=True),
    _rule("GET", "/v1/drafts/{draft_id}", DRAFT_READERS),
    _rule("PUT", "/v1/drafts/{draft_id}", DRAFT, json_body=True),
    _rule("DELETE", "/v1/drafts/{draft_id}", DRAFT),
    # Approving sends: the approving token's send scope, and the decision checks the rest (audited).
    _rule("POST", "/v1/drafts/{draft_id}/send", SEND, whole_principal=False),
    _rule("GET", "/v1/openapi.json", None),
)

_token: ContextVar[Token | None] = ContextVar("token", default=None)
_principal: ContextVar[Principal | None] = ContextVar("principal", default=None)


def verified_token() -> Token:
    """The token the guard verified for this request (routes run only after it)."""
    token = _token.get()
    assert token is not None, "the guard admits no request to an authenticated route without a token"
    return token


def principal() -> Principal:
    found = _principal.get()
    assert found is not None, "the guard admits no request to this route without a principal"
    return found


def forget() -> None:
    _token.set(None)
    _principal.set(None)


@dataclass(frozen=True)
class Credentials:
    """How the guard proves a bearer secret: the token alone, or the token and everything above it."""

    verify_token: Callable[[str, frozenset[Scope]], Token]
    authenticate: Callable[[str, frozenset[Scope]], Principal]


def bearer(headers: Mapping[str, str]) -> str:
    scheme, _, secret = (headers.get("authorization") or "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else ""


def admit(event: Mapping[str, Any], credentials: Credentials) -> Answer | None:
    """None when the request may go on to its route (the verified token or principal is then set);
    otherwise the answer. AuthError propagates for the app's handler to answer."""
    forget()
    http = (event.get("requestContext") or {}).get("http") or {}
    method = str(http.get("method") or "").upper()
    path = str(event.get("rawPath") or http.get("path") or "")
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    matching = [rule for rule in ROUTES if rule.pattern.match(path)]
    if not matching:
        return error(404, "route_not_found", f"There is no route {path[:200]!r}.")
    rule = next((r for r in matching if r.method == method), None)
    if rule is None:
        allow = ", ".join(sorted({r.method for r in matching}))
        return error(405, "method_not_allowed", f"{path[:200]} answers {allow} only.", {"Allow": allow})
    if rule.scopes is not None:
        secret = bearer(headers)
        if rule.whole_principal:
            _principal.set(credentials.authenticate(secret, rule.scopes))
        else:
            _token.set(credentials.verify_token(secret, rule.scopes))
    return _body_refusal(event, headers) if rule.json_body else None


def _body_refusal(event: Mapping[str, Any], headers: Mapping[str, str]) -> Answer | None:
    media = headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/json":
        return error(415, "unsupported_media_type", "Send the body as application/json.")
    key = headers.get("idempotency-key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        return error(
            400,
            "malformed_request",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters.",
        )
    body = event.get("body") or ""
    size = event_body_bytes(body)
    if size > MAX_BODY_BYTES:
        return error(
            413,
            "request_too_large",
            f"The request body takes {size} bytes in the Lambda event; the API accepts at most "
            f"{MAX_BODY_BYTES} bytes (Lambda's 6 MB invocation limit, less the event around the body). "
            "Send larger attachments by upload (POST /v1/uploads).",
        )
    if event.get("isBase64Encoded"):
        return error(400, "malformed_request", "The body must be JSON text, not base64-encoded bytes.")
    return json_shape_refusal(body)


def event_body_bytes(body: str) -> int:
    """The bytes `body` takes inside the JSON event Lambda receives: UTF-8, with quotes, backslashes and
    whitespace control characters escaped (two bytes each)."""
    escaped = sum(body.count(c) for c in '"\\\n\r\t')
    return len(body.encode("utf-8", "surrogatepass")) + escaped


def json_shape_refusal(body: str) -> Answer | None:
    """Refuses JSON nested deeper than MAX_JSON_DEPTH or with numbers longer than MAX_NUMBER_DIGITS,
    without parsing it (the stdlib parser recurses, and int() refuses over 4,300 digits)."""
    structure = _STRING.sub('""', body)
    depth = deepest = 0
    for bracket in _BRACKETS.findall(structure):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            return error(400, "malformed_request", f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels.")
    if _LONG_NUMBER.search(structure):
        return error(400, "malformed_request", f"A JSON number has more than {MAX_NUMBER_DIGITS} digits.")
    return None
