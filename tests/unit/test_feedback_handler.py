"""The feedback handler's batch semantics, with in-memory ports: unusable records are acknowledged, a
record whose effects could not be written is the only one returned to the queue."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.feedback import handler as feedback_handler
from functions.feedback.settings import feedback_settings
from litemx.clock import FixedClock
from litemx.feedback.logic import FeedbackPorts
from litemx.suppression.models import GLOBAL_SCOPE, SuppressionEntry
from tests.events import CONFIGURATION_SET, DEPLOYMENT_ACCOUNT, FakeLambdaContext, feedback, sns_envelope
from tests.fakes import (
    ACCOUNT_ID,
    MAILBOX,
    T0,
    FakeAudit,
    FakeLedger,
    FakeMessages,
    FakeSuppression,
    directory_world,
    sent_message,
)


class FailingFor(FakeSuppression):
    """A suppression store whose writes for one address fail like a DynamoDB outage."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def strengthen(self, entry: SuppressionEntry) -> bool:
        if entry.address == self.address:
            raise ConnectionError("DynamoDB unavailable")
        return super().strengthen(entry)


@pytest.fixture
def handler(monkeypatch) -> Any:
    # Imported at collection (the X-Ray recorder opens a socket, which unit tests may not); Powertools
    # read its namespace then, so it is set here.
    monkeypatch.setattr(feedback_handler.metrics, "namespace", "LiteMX")
    return feedback_handler


RECIPIENTS = ("fails@outside.test", "ok@outside.test", "good@outside.test")
MESSAGES = FakeMessages(
    {
        f"msg-{n}": sent_message(f"msg-{n}", provider_message_id=f"ses-{n}", recipients=RECIPIENTS)
        for n in range(1, 4)
    }
)


@pytest.fixture
def messages() -> FakeMessages:
    return FakeMessages(dict(MESSAGES.messages))


@pytest.fixture
def suppression(monkeypatch, handler, messages) -> FakeSuppression:
    store = FailingFor("fails@outside.test")
    ledger = FakeLedger()
    settings = feedback_settings(
        {"SES_SENDING_ACCOUNT_ID": DEPLOYMENT_ACCOUNT, "SES_CONFIGURATION_SET": CONFIGURATION_SET}
    )
    ports = FeedbackPorts(store, messages, ledger, ledger, directory_world(), FakeAudit())
    runtime = handler.Runtime(settings=settings, ports=ports, clock=FixedClock(T0))
    monkeypatch.setattr(handler, "runtime", lambda: runtime)
    return store


def record(message_id: str, body: Any) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:feedback",
        "awsRegion": "us-east-1",
    }


def bounce_of(address: str | list[Any], feedback_id: str, n: int = 1) -> dict[str, Any]:
    document = feedback(
        "event-bounce-permanent-general", account_id=ACCOUNT_ID, mailbox=MAILBOX, message_id=f"msg-{n}"
    )
    document["mail"]["messageId"] = f"ses-{n}"
    listed = address if isinstance(address, list) else [address]
    document["bounce"]["bouncedRecipients"] = [{"emailAddress": a, "status": "5.1.1"} for a in listed]
    document["bounce"]["feedbackId"] = feedback_id
    return sns_envelope(document)


def test_only_the_record_whose_writes_failed_is_retried(handler, suppression):
    # Given a batch: garbage, a bounce whose suppression write fails, a good bounce
    event = {
        "Records": [
            record("m1", "not json"),
            record("m2", bounce_of("fails@outside.test", "f-2", 2)),
            record("m3", bounce_of("ok@outside.test", "f-3", 3)),
        ]
    }
    # When the handler processes it
    result = handler.handler(event, FakeLambdaContext())
    # Then only the failed write goes back to the queue; the garbage is acknowledged; the rest applied
    assert result == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert suppression.get(GLOBAL_SCOPE, "ok@outside.test") is not None


def test_settings_fail_loudly_without_the_deployment_account():
    with pytest.raises(ValueError, match="SES_SENDING_ACCOUNT_ID"):
        feedback_settings({})


# ---- no poison (issue 11, item 9) ----


def logged(caplog) -> str:
    """Every captured log record with its structured keys (Powertools passes them as record attributes)."""
    return "\n".join(json.dumps(vars(r), default=str) for r in caplog.records)


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (DEEP, "not JSON"),
        (json.dumps(sns_envelope(DEEP)), "not JSON"),
        ("1" * 10_000, "not JSON"),
        (json.dumps({"Type": "Notification", "Message": {"eventType": [[[["Bounce"]]]]}}), "not acted upon"),
    ],
    ids=["deep-json", "deep-sns-message", "huge-integer", "odd-type"],
)
def test_hostile_bodies_are_acknowledged_with_a_logged_reason(handler, suppression, caplog, body, why):
    result = handler.handler({"Records": [record("m1", body)]}, FakeLambdaContext())
    assert result == {"batchItemFailures": []}
    assert why in logged(caplog)


def test_a_bounce_listing_a_bad_recipient_applies_the_good_one_and_logs_the_bad(
    handler, suppression, messages, caplog
):
    # Given a bounce listing a good address, an empty one, an oversized one and a non-string
    listed = ["good@outside.test", "", "x" * 5000 + "@outside.test", 42]
    event = {"Records": [record("m1", bounce_of(listed, "f-1"))]}
    # When the handler processes it
    result = handler.handler(event, FakeLambdaContext())
    # Then the record is acknowledged, good@ is suppressed, the message bounced, the bad ones logged
    assert result == {"batchItemFailures": []}
    assert suppression.get(GLOBAL_SCOPE, "good@outside.test") is not None
    assert list(suppression.entries) == [(GLOBAL_SCOPE, "good@outside.test")]
    assert messages.statuses["msg-1"].value == "bounced"
    assert "feedback recipients skipped" in logged(caplog)
    assert "'' is not a valid address" in logged(caplog)


def test_a_record_whose_writes_fail_is_logged_at_error(handler, suppression, caplog):
    event = {"Records": [record("m2", bounce_of("fails@outside.test", "f-2", 2))]}
    result = handler.handler(event, FakeLambdaContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert any("returns to the queue, then to the DLQ" in r.getMessage() for r in errors)
