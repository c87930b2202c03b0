"""Feedback over generated SES/SNS documents (mutations of the samples in tests/events, in an SNS envelope
or bare, plus random JSON and text): the parser never raises; the handler, given them as the Message of
SNS's event, on stores that refuse what DynamoDB would refuse, applies every record or acknowledges it with
a logged reason, and never raises (with healthy stores nothing may be retried, let alone forever)."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from functions.feedback import handler as feedback_handler
from functions.feedback.settings import feedback_settings
from litemx.clock import FixedClock
from litemx.feedback.logic import FeedbackPorts
from litemx.feedback.models import FeedbackEvent
from litemx.feedback.notifications import MAX_ID, Unusable, parse_body, parse_sns_record
from litemx.messages.models import MessageStatus
from litemx.reputation.models import Increment
from litemx.suppression.models import SuppressionEntry
from litemx_cli.sns_events import feedback_invocation
from tests.events import (
    CONFIGURATION_SET,
    DEPLOYMENT_ACCOUNT,
    EVENTS,
    FakeLambdaContext,
    feedback,
    sns_envelope,
    sns_event,
)
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
from tests.fuzz.hostile import PROPERTY, check_key, deep_json, json_values, mutated_json, utf8_size

SES_ID = "0100018f1a2b3c4d-5e6f7a8b-1111-2222-3333-444455556666-000000"
MESSAGE_ID = "msg-0001"
SAMPLES = tuple(
    feedback(path.stem, account_id=ACCOUNT_ID, message_id=MESSAGE_ID, mailbox=MAILBOX)
    for path in sorted((EVENTS / "feedback").glob("*.json"))
    if path.stem.startswith(("event-", "identity-"))
) + tuple(
    json.loads(Path(EVENTS / "feedback" / n).read_text()) for n in ("sns-subscription-confirmation.json",)
)


def _reject() -> dict[str, Any]:
    document = feedback("event-delivery", account_id=ACCOUNT_ID, message_id=MESSAGE_ID, mailbox=MAILBOX)
    del document["delivery"]
    return document | {"eventType": "Reject", "reject": {"reason": "Bad content"}}


documents = mutated_json(st.sampled_from((*SAMPLES, _reject())))
bodies = st.one_of(
    documents.map(json.dumps),
    documents.map(lambda d: json.dumps(sns_envelope(d))),
    documents.map(lambda d: json.dumps(sns_envelope(json.dumps(d)[: len(json.dumps(d)) // 2]))),
    json_values.map(json.dumps),
    deep_json,
    st.text(max_size=200),
)


@PROPERTY
@given(bodies)
def test_the_parser_never_raises_and_what_it_keeps_is_bounded(body: str) -> None:
    parsed = parse_body(body)
    assert isinstance(parsed, FeedbackEvent | Unusable)
    if isinstance(parsed, Unusable):
        assert parsed.reason
        return
    assert 0 < len(parsed.event_id) <= MAX_ID + 20
    assert 0 < len(parsed.ses_message_id) <= MAX_ID
    assert parsed.at.tzinfo is not None
    assert 2000 <= parsed.at.year < 2100
    for recipient in parsed.recipients:
        check_key(recipient.address, limit=254)


class _Suppression(FakeSuppression):
    def strengthen(self, entry: SuppressionEntry) -> bool:
        check_key(entry.scope, limit=2048)
        check_key(entry.address, limit=1024)
        utf8_size(entry.reason + entry.source)
        return super().strengthen(entry)


class _Ledger(FakeLedger):
    def add_soft_bounce(self, address: str, marker: str, *, expires_at: datetime) -> tuple[str, ...]:
        check_key(f"soft#{address}", limit=2048)
        markers = super().add_soft_bounce(address, marker, expires_at=expires_at)
        assert sum(utf8_size(m) for m in markers) < 300_000
        return markers

    def record_once(
        self, event_id: str, kind: str, *, at: datetime, expires_at: datetime, counts: Any
    ) -> bool:
        check_key(f"event#{event_id}", limit=2048)
        for increment in counts:
            assert isinstance(increment, Increment)
            check_key(increment.account_id, limit=2048)  # the bucket's partition key
            check_key(f"{increment.hour}#{increment.mailbox}", limit=1024)  # its sort key
        return super().record_once(event_id, kind, at=at, expires_at=expires_at, counts=counts)


class _Messages(FakeMessages):
    def find_by_provider_id(self, provider_message_id: str) -> Any:
        check_key(provider_message_id, limit=2048)
        return super().find_by_provider_id(provider_message_id)

    def apply_feedback(
        self,
        message_id: str,
        status: MessageStatus,
        event_id: str,
        *,
        at: datetime,
        detail: str,
        reason_code: str | None = None,
    ) -> bool:
        check_key(message_id, limit=2048)
        assert utf8_size(detail) < 10_000
        return super().apply_feedback(
            message_id, status, event_id, at=at, detail=detail, reason_code=reason_code
        )


def _record(n: int, body: str, queued: bool = False) -> dict[str, Any]:
    """SNS's record, or (queued) an SQS record of the feedback queue before #13, which its event source
    mapping still hands the new code during the upgrade deploy."""
    if queued:
        return {"eventSource": "aws:sqs", "messageId": f"m{n}", "body": body}
    record: dict[str, Any] = sns_event(body, message_id=f"m{n}")["Records"][0]
    return record


def _runtime() -> feedback_handler.Runtime:
    """The real handler's runtime on stores that refuse what DynamoDB would refuse, one message of ours."""
    recipients = ("recipient@outside.test", "good@outside.test")
    messages = _Messages(
        {MESSAGE_ID: sent_message(MESSAGE_ID, provider_message_id=SES_ID, recipients=recipients)}
    )
    ledger = _Ledger()
    settings = feedback_settings(
        {"SES_SENDING_ACCOUNT_ID": DEPLOYMENT_ACCOUNT, "SES_CONFIGURATION_SET": CONFIGURATION_SET}
    )
    ports = FeedbackPorts(_Suppression(), messages, ledger, ledger, directory_world(), FakeAudit())
    return feedback_handler.Runtime(settings=settings, ports=ports, clock=FixedClock(T0))


ACKNOWLEDGED = {
    "feedback applied",
    "feedback acknowledged without change",
    "feedback notification acknowledged without action",
}


@PROPERTY
@given(st.lists(st.tuples(bodies, st.booleans()), min_size=1, max_size=4))
def test_the_handler_applies_or_acknowledges_every_record_and_raises_for_none(
    batch: list[tuple[str, bool]],
) -> None:
    # Given the real handler on stores that refuse what DynamoDB would refuse, and one message of ours
    runtime = _runtime()
    event = {"Records": [_record(n, body, queued) for n, (body, queued) in enumerate(batch)]}
    # When it handles an event of any records
    with mock.patch.object(feedback_handler, "runtime", return_value=runtime), _Captured() as logs:
        result = feedback_handler.handler(event, FakeLambdaContext())
    # Then it returned (nothing is retried), and each record ended applied or acknowledged with a reason
    assert len(result["outcomes"]) == len(batch)
    assert "failed" not in result["outcomes"]
    endings = [r for r in logs.records if r.getMessage() in ACKNOWLEDGED]
    assert len(endings) == len(batch)
    for ending in endings:
        if ending.getMessage() != "feedback applied":
            assert getattr(ending, "reason", None) or getattr(ending, "note", None), vars(ending)
    assert not [r for r in logs.records if r.levelno >= logging.ERROR]


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> _Captured:
        logging.getLogger(feedback_handler.logger.service).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger(feedback_handler.logger.service).removeHandler(self)


@PROPERTY
@given(st.one_of(json_values, st.dictionaries(st.just("Records"), json_values)))
def test_an_event_of_any_shape_is_acknowledged_never_raised(event: Any) -> None:
    # An invocation is any JSON value (a principal of this account may Invoke with anything)
    with mock.patch.object(feedback_handler, "runtime", return_value=_runtime()), _Captured() as logs:
        result = feedback_handler.handler(event, FakeLambdaContext())
    assert result["outcomes"]
    assert "failed" not in result["outcomes"]
    assert not [r for r in logs.records if r.levelno >= logging.ERROR]


@PROPERTY
@given(st.one_of(bodies, documents.map(lambda d: json.dumps(sns_event(d)))))
def test_the_redrive_rebuilds_an_event_from_any_dlq_body_or_leaves_it(body: str) -> None:
    event = feedback_invocation(body, message_id="dlq-1")
    if event is None:
        return
    assert isinstance(event["Records"], list)
    for record in event["Records"]:
        assert isinstance(parse_sns_record(record), FeedbackEvent | Unusable)
