"""The API's edge guard on fake credentials: route table, token first, limits before parsing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.api import guard
from functions.api.docs import honest_document
from litemx.directory.auth import AuthError, Principal
from litemx.directory.models import Scope, Token
from litemx.policy.reasons import Reason
from tests.apigw import http_event


class Recorder:
    """Credentials that refuse every secret and record what was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, frozenset[Scope]]] = []

    def refuse(self, secret: str, scopes: frozenset[Scope]) -> Any:
        self.asked.append((secret, scopes))
        raise AuthError(Reason.TOKEN_INVALID, "unknown")

    def credentials(self) -> guard.Credentials:
        return guard.Credentials(verify_token=self.refuse, authenticate=self.refuse)


class Admits:
    def __init__(self, token: Token) -> None:
        self.token = token

    def credentials(self) -> guard.Credentials:
        def principal(secret: str, scopes: frozenset[Scope]) -> Principal:
            raise AssertionError("sends verify the token only")

        return guard.Credentials(verify_token=lambda s, sc: self.token, authenticate=principal)


def test_no_422_validation_error_is_left_in_the_document() -> None:
    generated = {"paths": {"/x": {"get": {"responses": {"422": {"description": "Validation Error"}}}}}}
    assert json.loads(honest_document(json.dumps(generated)))["paths"]["/x"]["get"]["responses"] == {}


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [
        (http_event("GET", "/nowhere"), 404, "route_not_found"),
        (http_event("PUT", "/v1/usage"), 405, "method_not_allowed"),
        (http_event("DELETE", "/v1/messages/msg-1"), 405, "method_not_allowed"),
    ],
)
def test_unknown_routes_and_methods_are_answered_before_anything_else(event, status, code) -> None:
    recorder = Recorder()
    answer = guard.admit(event, recorder.credentials())
    assert answer is not None
    assert (answer.status, answer.body["error"]["code"]) == (status, code)
    assert recorder.asked == []


def test_the_token_is_checked_before_the_body_is_looked_at() -> None:
    # Given an anonymous 11 MB body of deep JSON with the wrong content type
    recorder = Recorder()
    event = http_event(
        "POST", "/v1/messages", body="[" * (11 * 1024 * 1024), headers={"content-type": "text/x"}
    )
    # Then the refusal is the token's
    with pytest.raises(AuthError):
        guard.admit(event, recorder.credentials())
    assert recorder.asked == [("", guard.SEND)]


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ("x" * (guard.MAX_BODY_BYTES + 1), {}, 413, "request_too_large"),
        # Quotes are escaped in the Lambda event: this body counts twice its length against the limit
        ('"' * (guard.MAX_BODY_BYTES // 2 + 1), {}, 413, "request_too_large"),
        ("[" * 1000 + "]" * 1000, {}, 400, "malformed_request"),
        ('{"a": ' + "9" * 5000 + "}", {}, 400, "malformed_request"),
        ("{}", {"content-type": "multipart/form-data"}, 415, "unsupported_media_type"),
        ("{}", {"idempotency-key": "a b"}, 400, "malformed_request"),
        ("{}", {"idempotency-key": "k" * 256}, 400, "malformed_request"),
    ],
)
def test_limits_are_checked_before_parsing(
    body: str, headers: dict[str, str], status: int, code: str
) -> None:
    token = Token(
        token_id="tok-1",
        account_id="acc-1",
        mailbox="a@b.test",
        scopes=frozenset({Scope.SEND}),
        secret_hash="h",
    )
    answer = guard.admit(
        http_event("POST", "/v1/messages", body=body, headers=headers), Admits(token).credentials()
    )
    assert answer is not None
    assert (answer.status, answer.body["error"]["code"]) == (status, code)


def test_the_json_limit_leaves_room_for_the_event_inside_lambdas_6_mb() -> None:
    # Given the largest body the guard admits, with the largest headers API Gateway passes on
    assert guard.MAX_BODY_BYTES + 10_240 + 64 * 1024 <= guard.LAMBDA_PAYLOAD_BYTES
    # When it is refused, the answer names the real number
    token = Token(
        token_id="tok-1",
        account_id="acc-1",
        mailbox="a@b.test",
        scopes=frozenset({Scope.SEND}),
        secret_hash="h",
    )
    body = "x" * (guard.MAX_BODY_BYTES + 1)
    answer = guard.admit(http_event("POST", "/v1/messages", body=body), Admits(token).credentials())
    assert answer is not None
    assert f"at most {guard.MAX_BODY_BYTES} bytes" in answer.body["error"]["message"]
    assert f"takes {guard.MAX_BODY_BYTES + 1} bytes" in answer.body["error"]["message"]


def test_strings_hide_brackets_and_digits_from_the_shape_check() -> None:
    assert guard.json_shape_refusal(json.dumps({"text": "[" * 100 + "9" * 100})) is None
