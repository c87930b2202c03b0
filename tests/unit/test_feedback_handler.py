"""The feedback handler's semantics for the event SNS invokes it with, with in-memory ports: unusable
notifications are acknowledged (the handler returns), a notification whose effects could not be written is
raised (Lambda retries it, then parks it in the DLQ), after every other record of the event is handled."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.feedback import handler as feedback_handler
from functions.feedback.settings import feedback_settings
from litemx.clock import FixedClock
from litemx.feedback.logic import FeedbackPorts
from litemx.suppression.models import GLOBAL_SCOPE, SuppressionEntry
from tests.events import CONFIGURATION_SET, DEPLOYMENT_ACCOUNT, FakeLambdaContext, feedback, sns_event
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


def event(*records: dict[str, Any]) -> dict[str, Any]:
    """SNS sends one record per event; the handler must cope with several all the same."""
    return {"Records": [r for e in records for r in e["Records"]]}


def bounce_of(address: str | list[Any], feedback_id: str, n: int = 1) -> dict[str, Any]:
    document = feedback(
        "event-bounce-permanent-general", account_id=ACCOUNT_ID, mailbox=MAILBOX, message_id=f"msg-{n}"
    )
    document["mail"]["messageId"] = f"ses-{n}"
    listed = address if isinstance(address, list) else [address]
    document["bounce"]["bouncedRecipients"] = [{"emailAddress": a, "status": "5.1.1"} for a in listed]
    document["bounce"]["feedbackId"] = feedback_id
    return sns_event(document, message_id=f"sns-{feedback_id}")


def test_a_bounce_is_applied_and_the_invocation_succeeds(handler, suppression, messages):
    # When SNS invokes the handler with a bounce of a message we sent
    result = handler.handler(bounce_of("ok@outside.test", "f-3", 3), FakeLambdaContext())
    # Then it returns (the invocation succeeded), the address is suppressed and the message bounced
    assert result == {"outcomes": ["applied"]}
    assert suppression.get(GLOBAL_SCOPE, "ok@outside.test") is not None
    assert messages.statuses["msg-3"].value == "bounced"


def test_a_failed_write_raises_after_the_other_records_are_handled(handler, suppression, caplog):
    # Given an event of three records: garbage, a bounce whose suppression write fails, a good bounce
    both = event(
        sns_event("not json"),
        bounce_of("fails@outside.test", "f-2", 2),
        bounce_of("ok@outside.test", "f-3", 3),
    )
    # When the handler processes it, then it raises the write's failure (Lambda retries the event)
    with pytest.raises(ConnectionError, match="DynamoDB unavailable"):
        handler.handler(both, FakeLambdaContext())
    # And the good bounce was applied all the same (a retry re-applies nothing: the ledger)
    assert suppression.get(GLOBAL_SCOPE, "ok@outside.test") is not None
    # And the failure was logged at ERROR, naming the notification
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert any("parks it in the feedback DLQ" in r.getMessage() for r in errors)
    assert "sns-f-2" in logged(caplog)


def test_settings_fail_loudly_without_the_deployment_account():
    with pytest.raises(ValueError, match="SES_SENDING_ACCOUNT_ID"):
        feedback_settings({})


# ---- no poison (issue 11, item 9) ----


def logged(caplog) -> str:
    """Every captured log record with its structured keys (Powertools passes them as record attributes)."""
    return "\n".join(json.dumps(vars(r), default=str) for r in caplog.records)


DEEP = "[" * 100_000 + "]" * 100_000


def _with_sns(**fields: Any) -> dict[str, Any]:
    hostile = sns_event("{}")
    hostile["Records"][0]["Sns"].update(fields)
    return hostile


@pytest.mark.parametrize(
    ("hostile", "why"),
    [
        (sns_event(DEEP), "not JSON"),
        (sns_event(json.dumps(DEEP)), "not a JSON object"),
        (sns_event("1" * 10_000), "not JSON"),
        (sns_event({"eventType": [[[["Bounce"]]]]}), "not acted upon"),
        (_with_sns(Message={"eventType": "Bounce"}), "body is not text"),
        (_with_sns(Type="SubscriptionConfirmation"), "SNS SubscriptionConfirmation message"),
        ({"Records": [{"Sns": "not an object"}]}, "not an SNS record"),
        ({"Records": "not a list"}, "no SNS records"),
        ({}, "no SNS records"),
        ([], "no SNS records"),
        ("x", "no SNS records"),
        (None, "no SNS records"),
    ],
    ids=[
        "deep-json",
        "json-string",
        "huge-integer",
        "odd-type",
        "message-not-text",
        "not-a-notification",
        "sns-not-an-object",
        "records-not-a-list",
        "no-records",
        "event-a-list",
        "event-a-string",
        "event-null",
    ],
)
def test_hostile_events_are_acknowledged_with_a_logged_reason(handler, suppression, caplog, hostile, why):
    result = handler.handler(hostile, FakeLambdaContext())
    assert result == {"outcomes": ["unusable"]}
    assert why in logged(caplog)


def test_a_bounce_listing_a_bad_recipient_applies_the_good_one_and_logs_the_bad(
    handler, suppression, messages, caplog
):
    # Given a bounce listing a good address, an empty one, an oversized one and a non-string
    listed = ["good@outside.test", "", "x" * 5000 + "@outside.test", 42]
    # When the handler processes it
    result = handler.handler(bounce_of(listed, "f-1"), FakeLambdaContext())
    # Then the notification is applied, good@ is suppressed, the message bounced, the bad ones logged
    assert result == {"outcomes": ["applied"]}
    assert suppression.get(GLOBAL_SCOPE, "good@outside.test") is not None
    assert list(suppression.entries) == [(GLOBAL_SCOPE, "good@outside.test")]
    assert messages.statuses["msg-1"].value == "bounced"
    assert "feedback recipients skipped" in logged(caplog)
    assert "'' is not a valid address" in logged(caplog)
