"""Issue 10: the API holds under hostile input. Real handler, real local AWS; one test per defect."""

from __future__ import annotations

import email
import email.policy
import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from functions import wiring
from litemx.audit.models import UNAUTHENTICATED
from litemx.directory import admin
from litemx.directory.models import EntityKind, Scope
from litemx.directory.tokens import parse_secret
from litemx_local.system import api_event
from tests.apigw import HttpAnswer, call, http_event
from tests.integration.outbound import Pipeline, make_pipeline

pytestmark = pytest.mark.integration
BOX = "box0@example.com"


@pytest.fixture
def pipeline(tables, local_aws, monkeypatch) -> Iterator[Pipeline]:
    yield make_pipeline(tables, local_aws, monkeypatch)
    wiring.reset_for_tests()


def forge(secret: str) -> str:
    """The real account and token ids, a wrong random part."""
    claims = parse_secret(secret)
    assert claims is not None
    return f"lmx_{claims.account_id}_{claims.token_id}_{'A' * 43}"


def raw_call(event: dict[str, Any]) -> HttpAnswer:
    from functions.api import handler

    return call(handler.handler, event)


def assert_error(answer: HttpAnswer, status: int, code: str | None = None) -> None:
    assert answer.status == status, answer.body
    assert set(answer.body) == {"error"}, answer.body
    assert {"code", "message"} <= set(answer.body["error"])
    if code is not None:
        assert answer.body["error"]["code"] == code, answer.body


def idempotency_items(pipeline: Pipeline) -> int:
    table = boto3.client("dynamodb")
    return int(table.scan(TableName=pipeline.world.tables.idempotency, Select="COUNT")["Count"])


# ---- 1. idempotency after authentication, bound to the verified token ----


def test_a_forged_secret_can_neither_poison_nor_replay_nor_probe_an_idempotency_key(
    pipeline: Pipeline,
) -> None:
    secret = pipeline.world.secrets[BOX]
    body = {"from": BOX, "to": ["alice@outside.test"], "text": "hi"}
    key = {"Idempotency-Key": "order-4711"}

    # Given a forger who uses A's key first
    forged = pipeline.api("POST", "/v1/messages", body=body, token=forge(secret), headers=key)
    # Then it is refused as unauthenticated and nothing is remembered
    assert_error(forged, 401, "token_invalid")
    assert idempotency_items(pipeline) == 0

    # When A sends with that key, A's genuine request is accepted (the key was not poisoned)
    first = pipeline.send({"to": ["alice@outside.test"], "text": "hi"}, headers=key)
    assert first.status == 202, first.body

    # And the forger can neither replay A's answer nor learn that the key exists (no 409)
    replay = pipeline.api("POST", "/v1/messages", body=body, token=forge(secret), headers=key)
    assert_error(replay, 401, "token_invalid")
    assert first.body["id"] not in json.dumps(replay.body)
    probe = pipeline.api(
        "POST", "/v1/messages", body={**body, "text": "other"}, token=forge(secret), headers=key
    )
    assert_error(probe, 401, "token_invalid")


def test_a_revoked_token_does_not_replay_its_own_remembered_answer(pipeline: Pipeline) -> None:
    world = pipeline.world
    key = {"Idempotency-Key": "k-revoked"}
    assert pipeline.send({"to": ["alice@outside.test"], "text": "hi"}, headers=key).status == 202
    claims = parse_secret(world.secrets[BOX])
    assert claims is not None
    admin.revoke_token(
        world.directory, world.audit, world.clock, token_id=claims.token_id, reason="leaked", actor="op"
    )

    again = pipeline.send({"to": ["alice@outside.test"], "text": "hi"}, headers=key)

    assert_error(again, 401, "token_revoked")


def test_only_accepted_sends_are_remembered(pipeline: Pipeline) -> None:
    key = {"Idempotency-Key": "k-refused"}
    refused = pipeline.send({"to": ["not-an-address"], "text": "hi"}, headers=key)
    assert_error(refused, 400, "recipient_invalid")
    accepted = pipeline.send({"to": ["alice@outside.test"], "text": "hi"}, headers=key)
    assert accepted.status == 202, accepted.body


# ---- 2. nothing raises out of the handler; limits before parsing; decision before composition ----

BREAKERS = ["\r", "\n", "\u2028", "\u0085", "\x0b", "\x0c"]


def _with_break(field: str, breaker: str) -> dict[str, Any]:
    value = f"x{breaker}Bcc: victim@outside.test"
    body: dict[str, Any] = {"from": BOX, "to": ["alice@outside.test"], "text": "hi"}
    if field == "references":
        body["references"] = [f"<{value}>"]
    elif field == "header_value":
        body["headers"] = {"X-Note": value}
    elif field == "filename":
        body["attachments"] = [{"filename": value, "content": "aGk="}]
    elif field == "from":
        body["from"] = f"{BOX}{breaker}"
    elif field == "to":
        body["to"] = [f"alice@outside.test{breaker}"]
    else:
        body[field] = value
    return body


def test_line_breaks_anywhere_are_header_injection(pipeline: Pipeline) -> None:
    token = pipeline.world.secrets[BOX]
    for field in ("subject", "in_reply_to", "references", "header_value", "filename", "from", "to"):
        for breaker in BREAKERS:
            answer = pipeline.api("POST", "/v1/messages", body=_with_break(field, breaker), token=token)
            assert_error(answer, 400, "header_injection")
    assert pipeline.queue_depth(pipeline.queue_url) == 0


EXTRA_HEADERS = {
    **dict.fromkeys(
        ["To", "From", "Subject", "Message-ID", "Date", "Bcc", "Cc", "Sender", "Reply-To"],
        "header_not_allowed",
    ),
    "X-SES-CONFIGURATION-SET": "header_reserved",
    "X-A\tB": "header_not_allowed",
    "X-A\x7fB": "header_injection",
}


def test_extra_headers_cannot_carry_identities_or_recipients(pipeline: Pipeline) -> None:
    for name, code in EXTRA_HEADERS.items():
        answer = pipeline.send({"to": ["alice@outside.test"], "text": "hi", "headers": {name: "x@evil.test"}})
        assert_error(answer, 422 if code == "header_reserved" else 400, code)
    assert pipeline.queue_depth(pipeline.queue_url) == 0


def test_allowed_extra_headers_reach_the_message(pipeline: Pipeline) -> None:
    headers = {"X-Ticket": "4711", "Auto-Submitted": "auto-replied"}
    assert pipeline.send({"to": ["alice@outside.test"], "text": "hi", "headers": headers}).status == 202
    assert pipeline.drain() == []
    [sent] = pipeline.sent_raw()
    parsed = email.message_from_string(sent["raw_data"], policy=email.policy.default)
    assert (parsed["X-Ticket"], parsed["Auto-Submitted"]) == ("4711", "auto-replied")


HOSTILE_BODIES = {
    "deep_json": "[" * 1000 + "]" * 1000,
    "deep_object": '{"a":' * 1000 + "1" + "}" * 1000,
    "huge_int": '{"from": ' + "9" * 5000 + "}",
    "lone_surrogate_text": json.dumps({"from": BOX, "to": ["a@outside.test"], "text": "\ud800"}),
    "lone_surrogate_subject": '{"from": "box0@example.com", "to": ["a@outside.test"], "subject": "\\udc00", '
    '"text": "x"}',
    "lone_surrogate_id": '{"from": "box0@example.com", "to": ["a@outside.test"], '
    '"in_reply_to": "<\\ud800@x>", "text": "x"}',
    "not_json": "{nope",
    "null": "null",
}


def test_hostile_bodies_get_documented_answers(pipeline: Pipeline) -> None:
    for token in (pipeline.world.secrets[BOX], None):
        for path in ("/v1/messages", "/v1/policy/check"):
            for body in HOSTILE_BODIES.values():
                answer = pipeline.api("POST", path, body=body, token=token)
                if token is None:
                    assert_error(answer, 401, "token_invalid")
                else:
                    assert_error(answer, 400, "malformed_request")
            multipart = pipeline.api(
                "POST", path, body="--x--", token=token, headers={"content-type": "multipart/form-data"}
            )
            assert_error(multipart, 401 if token is None else 415)


def test_overlong_path_ids_never_reach_dynamodb(pipeline: Pipeline) -> None:
    world = pipeline.world
    reader = admin.issue_token(
        world.directory,
        world.audit,
        world.clock,
        mailbox=world.mailboxes[0],
        scopes=frozenset({Scope.READ, Scope.SEND}),
        actor="op",
    ).secret
    for path in ("/v1/messages/" + "m" * 5000, f"/v1/mailboxes/{BOX}/messages/" + "m" * 5000):
        assert_error(pipeline.api("GET", path, token=reader), 400, "malformed_request")


def test_an_unexpected_failure_is_a_logged_500_with_a_request_id(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from functions.api import handler

    def broken() -> Any:
        raise RuntimeError("the provider exploded")

    monkeypatch.setattr(handler, "provider_status", broken)
    event = http_event("GET", "/v1/status", token=pipeline.world.secrets[BOX])
    with caplog.at_level(logging.ERROR):
        answer = raw_call(event)

    assert_error(answer, 500, "internal_error")
    request_id = event["requestContext"]["requestId"]
    assert request_id in answer.body["error"]["message"]
    assert "the provider exploded" not in json.dumps(answer.body)
    assert any(r.levelno == logging.ERROR and r.exc_info for r in caplog.records)


# ---- 4. one normalised, deduplicated recipient set ----


def test_case_variants_count_once_and_reach_ses_once(pipeline: Pipeline) -> None:
    people = [f"person{i}@outside.test" for i in range(10)]
    variants = [*people, *(p.upper() for p in people), *(p.capitalize() for p in people)]

    answer = pipeline.send({"to": variants[:20], "cc": variants[20:], "bcc": people[:3], "text": "hi"})

    assert answer.status == 202, answer.body
    assert {u["cap"]: u["used"] for u in answer.body["usage"]}["mailbox_day"] == 10
    assert pipeline.drain() == []
    status = pipeline.api("GET", f"/v1/messages/{answer.body['id']}", token=pipeline.world.secrets[BOX])
    assert status.body["recipients"] == 10  # the destinations handed to SES
    [sent] = pipeline.sent_raw()
    # moto lists the Destination it was handed, then the addresses it parses from the To header
    assert sent["destinations"] == [*people, *people]
    parsed = email.message_from_string(sent["raw_data"], policy=email.policy.default)
    assert parsed["Cc"] is None  # every cc address was already in to
    assert len(parsed["To"].addresses) == 10


def test_fifty_copies_of_one_address_are_one_destination(pipeline: Pipeline) -> None:
    answer = pipeline.send({"to": ["alice@outside.test"] * 50, "text": "hi"})
    assert answer.status == 202, answer.body
    assert pipeline.drain() == []
    [sent] = pipeline.sent_raw()
    assert sent["destinations"] == ["alice@outside.test", "alice@outside.test"]  # handed once, To once
    status = pipeline.api("GET", f"/v1/messages/{answer.body['id']}", token=pipeline.world.secrets[BOX])
    assert status.body["recipients"] == 1


# ---- 5. unauthenticated callers cost no work and no writes ----


def test_a_huge_body_without_a_token_is_401_not_413(pipeline: Pipeline) -> None:
    body = json.dumps({"from": BOX, "to": ["a@outside.test"], "text": "x" * (11 * 1024 * 1024)})
    assert_error(pipeline.api("POST", "/v1/messages", body=body), 401, "token_invalid")
    assert_error(pipeline.api("POST", "/v1/messages", body=body, token=pipeline.world.secrets[BOX]), 413)


def test_anonymous_policy_checks_write_no_audit_items(pipeline: Pipeline) -> None:
    body = {"from": BOX, "to": ["a@outside.test"], "text": "x"}
    for token in (None, "junk", forge(pipeline.world.secrets[BOX])):
        assert_error(pipeline.api("POST", "/v1/policy/check", body=body, token=token), 401, "token_invalid")
    assert pipeline.world.audit.list(UNAUTHENTICATED) == []


# ---- 6. disablement stops reads too ----


@pytest.mark.parametrize(
    ("kind", "entity", "code"),
    [(EntityKind.MAILBOX, BOX, "mailbox_disabled"), (EntityKind.DOMAIN, "example.com", "domain_disabled")],
)
def test_reads_of_a_disabled_mailbox_or_domain_are_refused(
    pipeline: Pipeline, kind: EntityKind, entity: str, code: str
) -> None:
    world = pipeline.world
    reader = admin.issue_token(
        world.directory,
        world.audit,
        world.clock,
        mailbox=world.mailboxes[0],
        scopes=frozenset({Scope.READ, Scope.SEND}),
        actor="op",
    ).secret
    sent = pipeline.send({"to": ["alice@outside.test"], "text": "hi"})
    admin.set_enabled(
        world.directory, world.audit, world.clock, kind=kind, entity_id=entity, enabled=False,
        reason="abuse", actor="op",
    )  # fmt: skip

    for path in (
        "/v1/usage",
        "/v1/status",
        f"/v1/messages/{sent.body['id']}",
        f"/v1/mailboxes/{BOX}/messages",
    ):
        assert_error(pipeline.api("GET", path, token=reader), 403, code)


# ---- 7. the right codes ----


ADDRESS_CASES: list[tuple[dict[str, Any], str]] = [
    ({"from": f"Support <{BOX}>"}, "from_invalid"),
    ({"from": "not-an-address"}, "from_invalid"),
    ({"from": f"{BOX}\r\nBcc: x@evil.test"}, "header_injection"),
    ({"to": ["alice@outside.test\r\nBcc: x@evil.test"]}, "header_injection"),
    ({"to": ["Alice <alice@outside.test>"]}, "recipient_invalid"),
    ({"reply_to": ["nope"]}, "reply_to_invalid"),
]


def test_address_refusals_carry_their_own_codes(pipeline: Pipeline) -> None:
    for changes, code in ADDRESS_CASES:
        body = {"from": BOX, "to": ["alice@outside.test"], "text": "hi", **changes}
        for path in ("/v1/messages", "/v1/policy/check"):
            assert_error(pipeline.api("POST", path, body=body, token=pipeline.world.secrets[BOX]), 400, code)


# ---- 8. one error shape ----


def test_unknown_routes_methods_and_media_types_answer_the_error_shape(pipeline: Pipeline) -> None:
    token = pipeline.world.secrets[BOX]
    assert_error(pipeline.api("GET", "/v2/nothing", token=token), 404, "route_not_found")
    wrong_method = pipeline.api("DELETE", "/v1/messages", token=token)
    assert_error(wrong_method, 405, "method_not_allowed")
    assert wrong_method.headers["Allow"] == "POST"
    text = pipeline.api(
        "POST", "/v1/messages", body="hello", token=token, headers={"content-type": "text/plain"}
    )
    assert_error(text, 415, "unsupported_media_type")


# ---- 10. percent-encoded addresses in paths ----


def test_mailbox_paths_work_written_plainly_and_percent_encoded(pipeline: Pipeline, monkeypatch) -> None:
    from functions.api import handler, mailbox_routes

    monkeypatch.setenv("RAW_MAIL_BUCKET", "litemx-outbound-test")
    mailbox_routes.runtime.cache_clear()
    world = pipeline.world
    reader = admin.issue_token(
        world.directory, world.audit, world.clock, mailbox=world.mailboxes[0], scopes=frozenset({Scope.READ}),
        actor="op",
    ).secret  # fmt: skip
    headers = {"Authorization": f"Bearer {reader}"}
    try:
        # as API Gateway delivers it (decoded) and as a client writes it (through the local system's
        # event builder, which decodes like API Gateway)
        plain = raw_call(http_event("GET", f"/v1/mailboxes/{BOX}/messages", token=reader))
        encoded = call(
            handler.handler, api_event("GET", "/v1/mailboxes/box0%40example.com/messages", headers, b"")
        )
    finally:
        mailbox_routes.runtime.cache_clear()
    assert plain.status == encoded.status == 200, (plain.body, encoded.body)
    assert plain.body["mailbox"] == encoded.body["mailbox"] == BOX
