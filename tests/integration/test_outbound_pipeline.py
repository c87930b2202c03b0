"""End to end on the local AWS: API Gateway v2 events into the real api handler, the SQS message read
back from the real queue into the real sender handler, the sent raw message read back from moto's SES."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from functions import wiring
from litemx.directory import admin
from litemx.directory.models import EntityKind
from litemx.outbound import delivery
from litemx.outbound.service import INLINE_MAX_BYTES
from litemx.plans import LimitOverrides
from litemx.providers.base import ProviderStatus, ProviderThrottledError, SendResult
from litemx_local.testclock import anchored_now
from tests.integration.outbound import Pipeline, aws_requests, make_pipeline

pytestmark = pytest.mark.integration


@pytest.fixture
def pipeline(tables, local_aws, monkeypatch) -> Iterator[Pipeline]:
    yield make_pipeline(tables, local_aws, monkeypatch)
    wiring.reset_for_tests()


def test_a_message_goes_from_the_api_through_the_queue_to_ses(pipeline: Pipeline) -> None:
    # Given a send with Unicode subject, an IDN recipient, a Bcc and an attachment
    answer = pipeline.send(
        {
            "to": ["Alice@Outside.test", "jurgen@bücher.example"],
            "bcc": ["hidden@outside.test"],
            "subject": "Grüße aus Köln",
            "text": "Hallo — see attached.",
            "html": "<p>Hallo</p>",
            "attachments": [{"filename": "notes.txt", "content_type": "text/plain", "content": "aGVsbG8="}],
        }
    )

    # Then it is queued, with usage per cap counted in recipients
    assert answer.status == 202, answer.body
    message_id = answer.body["id"]
    assert answer.body["status"] == "queued"
    assert {u["cap"]: u["used"] for u in answer.body["usage"]} == {
        "mailbox_day": 3,
        "account_day": 3,
        "account_month": 3,
        "first_contact": 3,
        "account_first_contact": 3,
    }

    # And the queue carries the message id and, the message being small, its MIME inline (no S3 object)
    batch = pipeline.receive()
    [body] = [json.loads(m["Body"]) for m in batch]
    assert body["message_id"] == message_id
    assert base64.b64decode(body["raw"], validate=True).startswith(b"From: box0@example.com")

    # When the sender consumes that batch
    assert pipeline.run_sender(batch) == []

    # Then SES got one raw message with the right headers, Bcc only in the envelope
    [sent] = pipeline.sent_raw()
    parsed = email.message_from_string(sent["raw_data"], policy=email.policy.default)
    assert parsed["From"] == "box0@example.com"
    # (the headers show the one normalised recipient set the caps counted and SES is handed)
    assert parsed["To"] == "alice@outside.test, jurgen@xn--bcher-kva.example"
    assert parsed["Subject"] == "Grüße aus Köln"
    assert parsed["Bcc"] is None
    assert parsed["Message-ID"].endswith("@example.com>")
    assert parsed["Date"] is not None
    assert "hidden@outside.test" in sent["destinations"]
    assert [p.get_filename() for p in parsed.iter_attachments()] == ["notes.txt"]

    # And the status API reports it sent with the provider's id
    status = pipeline.api(
        "GET", f"/v1/messages/{message_id}", token=pipeline.world.secrets["box0@example.com"]
    )
    assert status.status == 200
    assert status.body["status"] == "sent"
    assert status.body["provider_message_id"] == sent["id"]


def test_quota_at_cap_answers_429_with_retry_after(tables, local_aws, monkeypatch) -> None:
    pipeline = make_pipeline(tables, local_aws, monkeypatch)
    pipeline.world = replace(pipeline.world)
    pipeline.world.directory.set_plan(
        pipeline.world.account.account_id, pipeline.world.account.plan, LimitOverrides(mailbox_day=2)
    )
    assert pipeline.send({"to": ["a@outside.test", "b@outside.test"], "text": "hi"}).status == 202

    refused = pipeline.send({"to": ["c@outside.test"], "text": "hi"})

    assert refused.status == 429
    assert refused.body["error"]["code"] == "quota_exceeded.mailbox_day"
    assert refused.body["error"]["cap"]["limit"] == 2
    assert int(refused.headers["Retry-After"]) > 0
    assert pipeline.queue_depth(pipeline.queue_url) == 1


def test_idempotency_key_replays_the_first_answer_and_queues_once(pipeline: Pipeline) -> None:
    body = {"to": ["alice@outside.test"], "subject": "Once", "text": "only once"}
    first = pipeline.send(body, headers={"Idempotency-Key": "k-1"})
    again = pipeline.send(body, headers={"Idempotency-Key": "k-1"})

    assert first.status == again.status == 202
    assert again.body["id"] == first.body["id"]
    assert pipeline.queue_depth(pipeline.queue_url) == 1
    usage = pipeline.api("GET", "/v1/usage", token=pipeline.world.secrets["box0@example.com"])
    assert {u["cap"]: u["used"] for u in usage.body["usage"]}["mailbox_day"] == 1

    different = pipeline.send({**body, "text": "something else"}, headers={"Idempotency-Key": "k-1"})
    assert different.status == 409
    assert different.body["error"]["code"] == "idempotency_key_reused"


def test_the_same_sqs_record_delivered_twice_sends_once(pipeline: Pipeline) -> None:
    assert pipeline.send({"to": ["alice@outside.test"], "text": "hi"}).status == 202
    batch = pipeline.receive()
    from functions.sender import handler
    from tests.apigw import FakeLambdaContext
    from tests.integration.outbound import sqs_event

    event = sqs_event(batch)
    assert handler.handler(event, FakeLambdaContext())["batchItemFailures"] == []
    assert handler.handler(event, FakeLambdaContext())["batchItemFailures"] == []

    assert len(pipeline.sent_raw()) == 1


class _ThrottlesTwice:
    """A provider that answers 'Maximum sending rate exceeded' twice, then sends through SES."""

    def __init__(self, real: Any) -> None:
        self.real, self.name, self.calls = real, real.name, 0

    def send(self, raw: bytes, **kwargs: Any) -> SendResult:
        self.calls += 1
        if self.calls <= 2:
            raise ProviderThrottledError("provider_throttled", "Maximum sending rate exceeded.")
        result: SendResult = self.real.send(raw, **kwargs)
        return result

    def status(self) -> Any:
        return self.real.status()


def test_a_provider_that_throttles_twice_then_succeeds_sends_once(tables, local_aws, monkeypatch) -> None:
    real_provider = wiring.provider
    flaky: list[_ThrottlesTwice] = []

    def flaky_provider(settings: Any) -> _ThrottlesTwice:
        flaky.append(_ThrottlesTwice(real_provider(settings)))
        return flaky[-1]

    monkeypatch.setattr(wiring, "provider", flaky_provider)
    # The backoff (10 s, 20 s ...) shrinks to SQS's 1-second minimum step so the test need not wait.
    monkeypatch.setattr(delivery, "THROTTLE_BACKOFF_BASE", timedelta(0))
    pipeline = make_pipeline(tables, local_aws, monkeypatch)
    answer = pipeline.send({"to": ["alice@outside.test"], "text": "hi"})

    # Each throttled attempt re-queues a new, delayed message; no record fails, none nears the DLQ
    failures, bodies = [], []
    for _ in range(3):
        batch = _receive_after_delay(pipeline)
        bodies.append(json.loads(batch[0]["Body"]))
        failures.append(pipeline.run_sender(batch))

    assert failures == [[], [], []]
    assert [b.get("deferrals", 0) for b in bodies] == [0, 1, 2]
    assert len(pipeline.sent_raw()) == 1
    assert flaky[0].calls == 3
    status = pipeline.api(
        "GET", f"/v1/messages/{answer.body['id']}", token=pipeline.world.secrets["box0@example.com"]
    )
    assert status.body["status"] == "sent"
    assert pipeline.queue_depth(pipeline.queue_url) == 0
    assert pipeline.queue_depth(pipeline.dlq_url) == 0


def _receive_after_delay(pipeline: Pipeline, timeout: float = 5.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = pipeline.receive()
        if batch:
            return batch
        time.sleep(0.2)
    raise AssertionError("no message became visible")


class _QuotaSpent:
    """SES's answer once the sandbox's 200 messages per 24 hours are used."""

    name = "ses"

    def __init__(self) -> None:
        self.calls = 0

    def send(self, raw: bytes, **kwargs: Any) -> SendResult:
        self.calls += 1
        raise ProviderThrottledError("provider_quota_exhausted", "Daily message quota exceeded.")

    def status(self) -> ProviderStatus:
        return ProviderStatus("ses", sandboxed=False, sending_enabled=True)


def test_a_spent_daily_quota_waits_an_hour_without_nearing_the_dlq(tables, local_aws, monkeypatch) -> None:
    spent = _QuotaSpent()
    monkeypatch.setattr(wiring, "provider", lambda settings: spent)
    pipeline = make_pipeline(tables, local_aws, monkeypatch)
    answer = pipeline.send({"to": ["alice@outside.test"], "text": "hi"})
    before = anchored_now().timestamp()  # the sender's clock: the tests' one, on any anchor

    # When the sender meets the spent quota
    assert pipeline.drain() == []

    # Then the record succeeded and a delayed message waits for the quota's next hour
    assert pipeline.receive() == []  # delayed (up to 15 minutes per link of the chain)
    delayed = pipeline.sqs.get_queue_attributes(
        QueueUrl=pipeline.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert delayed["ApproximateNumberOfMessagesDelayed"] == "1"
    assert pipeline.queue_depth(pipeline.dlq_url) == 0
    status = pipeline.api(
        "GET", f"/v1/messages/{answer.body['id']}", token=pipeline.world.secrets["box0@example.com"]
    )
    assert status.body["status"] == "queued"
    assert spent.calls == 1
    # And a link of the chain whose not_before lies ahead only re-queues: no provider call
    from functions.sender import handler

    waiting = {"message_id": answer.body["id"], "not_before": int(before) + 3600, "deferrals": 1}
    pipeline.sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody=json.dumps(waiting))
    (record,) = pipeline.receive()
    assert pipeline.run_sender([record]) == []
    assert spent.calls == 1
    assert handler.SendQueueMessage.model_validate_json(record["Body"]).not_before == waiting["not_before"]


def test_a_message_whose_record_reaches_the_dlq_is_failed_with_a_reason(
    tables, local_aws, monkeypatch
) -> None:
    class _Broken:
        name = "ses"

        def send(self, raw: bytes, **kwargs: Any) -> SendResult:
            raise RuntimeError("provider client bug")

        def status(self) -> ProviderStatus:
            return ProviderStatus("ses", sandboxed=False, sending_enabled=True)

    monkeypatch.setattr(wiring, "provider", lambda settings: _Broken())
    # On AWS the queue's visibility timeout (180 s) outlasts the lease (120 s); here both shrink.
    pipeline = make_pipeline(tables, local_aws, monkeypatch, SEND_LEASE_SECONDS="1")
    answer = pipeline.send({"to": ["alice@outside.test"], "text": "hi"})
    token = pipeline.world.secrets["box0@example.com"]

    # When every attempt fails, up to the queue's maxReceiveCount (3 here)
    statuses = []
    for _ in range(3):
        time.sleep(1.1)  # the failed attempt's lease runs out, as the visibility timeout would let it
        assert len(pipeline.drain()) == 1
        statuses.append(pipeline.api("GET", f"/v1/messages/{answer.body['id']}", token=token).body["status"])

    # Then the message stays unsettled while attempts remain, and is failed on the last one
    assert statuses == ["sending", "sending", "failed"]
    assert pipeline.receive() == []  # SQS moves the record to the DLQ
    assert pipeline.queue_depth(pipeline.dlq_url) == 1
    final = pipeline.api("GET", f"/v1/messages/{answer.body['id']}", token=token).body
    assert final["status"] == "failed"
    assert final["reason"]["code"] == "send_dead_lettered"
    assert pipeline.sent_raw() == []


def test_a_poison_message_is_parked_in_the_dlq(pipeline: Pipeline) -> None:
    pipeline.sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody="this is not a send request")

    for _ in range(3):
        assert len(pipeline.drain()) == 1
    assert pipeline.receive() == []  # the 4th receive moves it to the DLQ

    parked = pipeline.sqs.receive_message(QueueUrl=pipeline.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in parked] == ["this is not a send request"]
    assert pipeline.sent_raw() == []


def test_a_mailbox_disabled_after_queueing_cancels_and_gives_quota_back(pipeline: Pipeline) -> None:
    world = pipeline.world
    token = world.secrets["box0@example.com"]
    answer = pipeline.send({"to": ["a@outside.test", "b@outside.test"], "text": "hi"})
    admin.set_enabled(
        world.directory,
        world.audit,
        world.clock,
        kind=EntityKind.MAILBOX,
        entity_id="box0@example.com",
        enabled=False,
        reason="complaints",
        actor="operator",
    )

    assert pipeline.drain() == []

    # The disabled mailbox's token reads nothing (docs/policy.md, "Disablement"); re-enabled, it sees
    # the cancellation and its quota given back
    refused = pipeline.api("GET", f"/v1/messages/{answer.body['id']}", token=token)
    assert (refused.status, refused.body["error"]["code"]) == (403, "mailbox_disabled")
    admin.set_enabled(
        world.directory,
        world.audit,
        world.clock,
        kind=EntityKind.MAILBOX,
        entity_id="box0@example.com",
        enabled=True,
        reason="resolved",
        actor="operator",
    )
    status = pipeline.api("GET", f"/v1/messages/{answer.body['id']}", token=token)
    assert status.body["status"] == "cancelled"
    assert status.body["reason"]["code"] == "mailbox_disabled"
    assert pipeline.sent_raw() == []
    usage = pipeline.api("GET", "/v1/usage", token=token)
    assert {u["cap"]: u["used"] for u in usage.body["usage"]} == {
        "mailbox_day": 0,
        "account_day": 0,
        "account_month": 0,
        "first_contact": 0,
        "account_first_contact": 0,
    }


def test_sandbox_refuses_unverified_recipients_with_a_clear_reason(tables, local_aws, monkeypatch) -> None:
    import boto3

    pipeline = make_pipeline(tables, local_aws, monkeypatch, SES_SANDBOX_MODE="sandbox")
    boto3.client("ses").verify_email_identity(EmailAddress="friend@outside.test")

    refused = pipeline.send({"to": ["stranger@outside.test"], "text": "hi"})
    allowed = pipeline.send({"to": ["Friend@outside.test"], "text": "hi"})

    assert refused.status == 422
    assert refused.body["error"]["code"] == "outbound_blocked.provider_sandbox"
    assert "production access is pending" in refused.body["error"]["message"]
    assert allowed.status == 202
    status = pipeline.api("GET", "/v1/status", token=pipeline.world.secrets["box0@example.com"])
    assert status.body["sandboxed"] is True
    assert status.body["inbound"] == "enabled"


def test_errors_are_codes_and_sentences(tables, local_aws, monkeypatch) -> None:
    pipeline = make_pipeline(tables, local_aws, monkeypatch, MAX_MESSAGE_BYTES="2000")
    token = pipeline.world.secrets["box0@example.com"]
    cases = {
        "no token": (
            pipeline.api(
                "POST", "/v1/messages", body={"from": "box0@example.com", "to": ["a@x.test"], "text": "x"}
            ),
            401,
            "token_invalid",
        ),
        "malformed": (
            pipeline.api("POST", "/v1/messages", body={"to": "nope"}, token=token),
            400,
            "malformed_request",
        ),
        "too large": (
            pipeline.send({"to": ["a@outside.test"], "text": "x" * 5000}),
            413,
            "message_too_large",
        ),
        "bulk": (
            pipeline.send({"to": ["a@outside.test"], "text": "x", "headers": {"Precedence": "bulk"}}),
            422,
            "bulk_headers",
        ),
        "other account's message": (
            pipeline.api("GET", "/v1/messages/msg-nope", token=token),
            404,
            "not_found",
        ),
    }
    for name, (answer, status, code) in cases.items():
        assert (answer.status, answer.body["error"]["code"]) == (status, code), name
        assert answer.body["error"]["message"], name


def test_dry_run_reserves_and_queues_nothing(pipeline: Pipeline) -> None:
    token = pipeline.world.secrets["box0@example.com"]
    check = pipeline.api(
        "POST",
        "/v1/policy/check",
        body={"from": "box0@example.com", "to": ["a@outside.test"], "text": "x"},
        token=token,
    )
    assert check.status == 200
    assert check.body["allowed"] is True
    assert pipeline.queue_depth(pipeline.queue_url) == 0
    usage = pipeline.api("GET", "/v1/usage", token=token)
    assert {u["cap"]: u["used"] for u in usage.body["usage"]}["account_day"] == 0


def test_openapi_document_is_served(pipeline: Pipeline) -> None:
    document = pipeline.api("GET", "/v1/openapi.json")
    assert document.status == 200
    assert {
        "/v1/messages",
        "/v1/messages/{message_id}",
        "/v1/usage",
        "/v1/policy/check",
        "/v1/status",
    } <= set(document.body["paths"])


def test_a_small_message_costs_no_s3_object_and_the_sender_one_write_and_one_read_before_sending(
    pipeline: Pipeline,
) -> None:
    # Given a small send with an Idempotency-Key, as the docs recommend
    with aws_requests() as api_calls:
        answer = pipeline.send(
            {"to": ["alice@outside.test"], "subject": "hi", "text": "hello"},
            headers={"Idempotency-Key": "small-1"},
        )
    assert answer.status == 202, answer.body
    # Then nothing is written to S3: the MIME rides in the queue message
    assert not [c for c in api_calls if c[0] == "s3"]

    # When the sender takes the batch of one
    with aws_requests() as sender_calls:
        assert pipeline.drain() == []

    # Then it claims with one plain UpdateItem that returns the message (no transaction, no extra read),
    # re-reads only the kill switches, and after SES's answer writes the audit entry, then `sent`, then
    # counts the send into its mailbox's reputation bucket: no transaction at all; it reads nothing from
    # S3, and SES gets the composed bytes
    dynamodb = [(op, params) for service, op, params in sender_calls if service == "dynamodb"]
    assert [op for op, _ in dynamodb] == ["UpdateItem", "BatchGetItem", "PutItem", "UpdateItem", "UpdateItem"]
    assert dynamodb[2][1]["TableName"].endswith("audit")
    assert dynamodb[3][1]["ExpressionAttributeValues"]  # the conditional sending -> sent
    assert dynamodb[4][1]["TableName"].endswith("reputation")
    read_keys = [
        key.get("sk", {}).get("S", "")
        for request in dynamodb[1][1]["RequestItems"].values()
        for key in request["Keys"]
    ]
    assert not [k for k in read_keys if k.startswith(("CONTACT#", "CORRESPONDENT#", "POLICY"))]
    assert not [c for c in sender_calls if c[0] == "s3"]
    [sent] = pipeline.sent_raw()
    assert "hello" in sent["raw_data"]


def test_a_message_over_the_inline_size_goes_through_s3(pipeline: Pipeline) -> None:
    # Given a send whose MIME is larger than what travels inline
    text = "x" * (INLINE_MAX_BYTES + 1000)
    with aws_requests() as api_calls:
        answer = pipeline.send({"to": ["alice@outside.test"], "subject": "big", "text": text})
    assert answer.status == 202, answer.body
    # Then its MIME is an S3 object and the queue message names only the message
    assert [op for service, op, _ in api_calls if service == "s3"] == ["PutObject"]
    [body] = [json.loads(m["Body"]) for m in pipeline.receive()]
    assert body == {"message_id": answer.body["id"]}
    wiring.reset_for_tests()
    # And the sender reads it from there and sends it whole
    pipeline.sqs.purge_queue(QueueUrl=pipeline.queue_url)
    pipeline.sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody=json.dumps(body))
    assert pipeline.drain() == []
    [sent] = pipeline.sent_raw()
    assert len(sent["raw_data"]) > INLINE_MAX_BYTES


def test_an_inline_message_whose_queue_record_lost_its_mime_is_not_sent_and_waits_queued(
    pipeline: Pipeline,
) -> None:
    # Given a small message queued, and a hand-made queue record naming it without its MIME
    answer = pipeline.send({"to": ["alice@outside.test"], "subject": "hi", "text": "hello"})
    assert answer.status == 202, answer.body
    pipeline.sqs.purge_queue(QueueUrl=pipeline.queue_url)
    pipeline.sqs.send_message(
        QueueUrl=pipeline.queue_url, MessageBody=json.dumps({"message_id": answer.body["id"]})
    )
    # When the sender takes it
    failed = pipeline.drain()
    # Then its record fails (towards the DLQ, where give_up settles it), nothing is sent, and the message is
    # back to queued rather than stuck in sending
    assert len(failed) == 1
    assert pipeline.sent_raw() == []
    status = pipeline.api(
        "GET", f"/v1/messages/{answer.body['id']}", token=pipeline.world.secrets["box0@example.com"]
    )
    assert status.body["status"] == "queued"
