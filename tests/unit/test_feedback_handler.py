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
)


class FailingFor(FakeSuppression):
    """A suppression store whose writes for one address fail like a DynamoDB outage."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def add(self, entry: SuppressionEntry) -> SuppressionEntry:
        if entry.address == self.address:
            raise ConnectionError("DynamoDB unavailable")
        return super().add(entry)


@pytest.fixture
def handler(monkeypatch) -> Any:
    # Imported at collection (the X-Ray recorder opens a socket, which unit tests may not); Powertools
    # read its namespace then, so it is set here.
    monkeypatch.setattr(feedback_handler.metrics, "namespace", "LiteMX")
    return feedback_handler


@pytest.fixture
def suppression(monkeypatch, handler) -> FakeSuppression:
    store = FailingFor("fails@outside.test")
    ledger = FakeLedger()
    settings = feedback_settings(
        {"SES_SENDING_ACCOUNT_ID": DEPLOYMENT_ACCOUNT, "SES_CONFIGURATION_SET": CONFIGURATION_SET}
    )
    ports = FeedbackPorts(store, FakeMessages(), ledger, ledger, directory_world(), FakeAudit())
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


def bounce_of(address: str, feedback_id: str) -> dict[str, Any]:
    document = feedback("event-bounce-permanent-general", account_id=ACCOUNT_ID, mailbox=MAILBOX)
    document["bounce"]["bouncedRecipients"][0]["emailAddress"] = address
    document["bounce"]["feedbackId"] = feedback_id
    return sns_envelope(document)


def test_only_the_record_whose_writes_failed_is_retried(handler, suppression):
    # Given a batch: garbage, a bounce whose suppression write fails, a good bounce
    event = {
        "Records": [
            record("m1", "not json"),
            record("m2", bounce_of("fails@outside.test", "f-2")),
            record("m3", bounce_of("ok@outside.test", "f-3")),
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
