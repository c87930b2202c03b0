"""The sender counts what SES accepted into the hourly reputation buckets (issue 13): the real api and sender
handlers on the local AWS, the counts read back from DynamoDB Local, and bounces fed to the real feedback
handler judge the rates over those counted sends (no Delivery events, the shipped default). A window is
one Query per account."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from functions import wiring
from functions.sender import handler as sender
from litemx.directory.models import Status
from litemx.messages.models import MessageStatus
from litemx.messages.store import MessageStore
from litemx.reputation.models import LONG_WINDOW_HOURS, Tally, Window, sent_increment, window_hours
from litemx.reputation.store import DynamoReputationStore
from litemx_local.testclock import anchored_now
from tests.apigw import FakeLambdaContext
from tests.events import DEPLOYMENT_ACCOUNT, feedback, sns_event
from tests.integration.outbound import CONFIGURATION_SET, Pipeline, aws_requests, make_pipeline, sqs_event

pytestmark = pytest.mark.integration


@pytest.fixture
def pipeline(tables, local_aws, monkeypatch) -> Iterator[Pipeline]:
    from functions.feedback import handler as feedback_handler

    built = make_pipeline(tables, local_aws, monkeypatch, SES_SENDING_ACCOUNT_ID=DEPLOYMENT_ACCOUNT)
    feedback_handler.runtime.cache_clear()
    yield built
    feedback_handler.runtime.cache_clear()
    wiring.reset_for_tests()


def counted(account_id: str, mailbox: str | None = None) -> Tally:
    """The mailbox's (or the whole account's) counts over the last two hours (a test may cross an hour)."""
    hours = window_hours(anchored_now(), 2)
    return Window(DynamoReputationStore().window(account_id, hours)).tally(hours, mailbox)


def send(pipeline: Pipeline, recipients: list[str]) -> str:
    answer = pipeline.send({"to": recipients, "subject": "Re: your question", "text": "Answered."})
    assert answer.status == 202, answer.body
    return str(answer.body["id"])


def bounce(message_id: str, recipient: str, mailbox: str, account_id: str) -> dict[str, Any]:
    """SES's permanent bounce for one recipient of a message the sender sent, as SNS invokes the feedback
    function with it, on the test clock."""
    stored = MessageStore().get(message_id)
    document = feedback(
        "event-bounce-permanent-general",
        account_id=account_id,
        message_id=message_id,
        mailbox=mailbox,
        at=anchored_now(),
        messageId=stored.provider_message_id,
        destination=list(stored.recipients),
    )
    document["mail"]["tags"]["ses:configuration-set"] = [CONFIGURATION_SET]
    document["bounce"]["bouncedRecipients"][0]["emailAddress"] = recipient
    document["bounce"]["feedbackId"] = f"bounce-{message_id}-{recipient}"
    return sns_event(document, message_id=f"fb-{message_id}")


def test_a_sent_message_counts_its_sends_once_even_when_its_record_is_delivered_twice(
    pipeline: Pipeline,
) -> None:
    # Given a message to two recipients, queued
    box, account_id = pipeline.world.mailboxes[0].address, pipeline.world.account.account_id
    message_id = send(pipeline, ["alice@outside.test", "bob@outside.test"])
    event = sqs_event(pipeline.receive())
    # When the sender handles its SQS record, and the same record again (SQS delivers at least once)
    with aws_requests() as made:
        assert sender.handler(event, FakeLambdaContext())["batchItemFailures"] == []
    assert sender.handler(event, FakeLambdaContext())["batchItemFailures"] == []
    # Then SES got it once, the message is `sent` (no Delivery event moves it on by default)
    assert len(pipeline.sent_raw()) == 1
    assert MessageStore().get(message_id).status is MessageStatus.SENT
    # And its two recipients were counted once as sends, in its mailbox's bucket, which the account's
    # counts sum
    assert counted(account_id, box) == counted(account_id) == Tally(sends=2)
    # And by one plain UpdateItem (1 WRU), after the `sent` write, with the bucket's TTL
    writes = [
        (op, params["TableName"].rsplit("-", 1)[-1], params)
        for service, op, params in made
        if service == "dynamodb" and op in ("PutItem", "UpdateItem", "TransactWriteItems")
    ]
    assert [(op, table) for op, table, _ in writes][-2:] == [
        ("UpdateItem", "messages"),
        ("UpdateItem", "reputation"),
    ]
    assert "expires_at" in writes[-1][2]["ExpressionAttributeNames"].values()
    assert "ConditionExpression" not in writes[-1][2]


def test_bounces_over_sender_counted_sends_still_disable_the_mailbox(pipeline: Pipeline) -> None:
    # Given a mailbox that sent 20 recipients (two messages of 10), counted by the sender alone
    box, account_id = pipeline.world.mailboxes[0].address, pipeline.world.account.account_id
    first = send(pipeline, [f"person{n}@outside.test" for n in range(10)])
    send(pipeline, [f"person{n}@outside.test" for n in range(10, 20)])
    while batch := pipeline.receive():
        assert pipeline.run_sender(batch) == []
    assert counted(account_id, box).sends == 20
    # When one recipient bounces hard: 1 in 20 sends is the 5 % limit
    from functions.feedback import handler as feedback_handler

    event = bounce(first, "person3@outside.test", box, account_id)
    assert feedback_handler.handler(event, FakeLambdaContext()) == {"outcomes": ["applied"]}
    # Then the mailbox is disabled by the reputation rule, judged over the 20 counted sends
    mailbox = pipeline.world.directory.get_mailbox(box)
    assert mailbox.status is Status.DISABLED
    assert "hard-bounce rate 5.00% over 20 sends in 24 h" in (mailbox.status_reason or "")
    assert counted(account_id, box) == Tally(sends=20, hard_bounces=1)
    # And the next send is refused
    refused = pipeline.send({"to": ["someone@outside.test"], "text": "hi"})
    assert refused.body["error"]["code"] == "mailbox_disabled"


def test_an_accounts_window_is_one_query_holding_exactly_its_hours_and_mailboxes(tables) -> None:
    # Given an account's mailbox with buckets now, 23 h and 167 h ago (inside the 7-day window) and 170 h
    # ago (outside it, not yet expired), a second mailbox of the account, and another account's mailbox
    store, now = DynamoReputationStore(), anchored_now()
    box = "box0@example.com"
    for hours_ago, sends in ((0, 1), (23, 10), (167, 100), (170, 1000)):
        store.add([sent_increment("acc-1", box, now - timedelta(hours=hours_ago), sends)])
    store.add([sent_increment("acc-1", "desk@example.com", now, 5)])
    store.add([sent_increment("acc-2", box, now, 50)])
    # When the account's 7-day window is read
    hours = window_hours(now, LONG_WINDOW_HOURS)
    with aws_requests() as made:
        window = Window(store.window("acc-1", hours))
    # Then one consistent Query answered, with exactly the account's buckets inside the window
    assert [(op, params["ConsistentRead"]) for _, op, params in made] == [("Query", True)]
    assert window.tally(hours, box) == Tally(sends=111)
    assert window.tally(hours[:24], box) == Tally(sends=11)
    assert window.tally(hours) == Tally(sends=116)
    assert window.tally(hours, "desk@example.com") == Tally(sends=5)
