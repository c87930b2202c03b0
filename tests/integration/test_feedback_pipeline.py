"""Feedback end to end on the local AWS: SES notifications published to a real SNS topic and handed to the
real feedback handler as the event SNS invokes a Lambda subscriber with, one notification per invocation;
effects read back from DynamoDB Local. moto's SNS cannot invoke a function, so an SQS queue subscribed
without raw delivery carries SNS's notification JSON, from which each event is built (tests/events)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import boto3
import pytest

from litemx.directory.models import Status
from litemx.messages.models import MessageStatus, OutboundMessage
from litemx.messages.store import MessageStore
from litemx.outbound.service import message_audit
from litemx.storage.tables import TableNames
from litemx.suppression.models import GLOBAL_SCOPE
from litemx_local.world import World, build_world
from tests.events import (
    CONFIGURATION_SET,
    DEPLOYMENT_ACCOUNT,
    FakeLambdaContext,
    feedback,
    iso,
    sns_event_of,
)
from tests.integration.outbound import aws_requests

pytestmark = pytest.mark.integration
RECIPIENT = "recipient@outside.test"
SES_ID = "0100018f1a2b3c4d-5e6f7a8b-1111-2222-3333-444455556666-000000"  # mail.messageId of the samples


@dataclass
class FeedbackLoop:
    world: World
    topic_arn: str
    queue_url: str
    queue_arn: str
    sns: Any
    sqs: Any

    def publish(self, document: dict[str, Any] | str) -> None:
        message = document if isinstance(document, str) else json.dumps(document)
        self.sns.publish(TopicArn=self.topic_arn, Message=message)

    def run(self) -> list[str]:
        """Invoke the real handler once per notification SNS delivered, as SNS would; the ids of those
        whose invocation raised (Lambda would retry them, then park them in the DLQ)."""
        received = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        assert received, "SNS delivered nothing"
        from functions.feedback import handler

        failed = []
        for message in received:
            notification = json.loads(message["Body"])
            try:
                handler.handler(sns_event_of(notification), FakeLambdaContext())
            except Exception:
                failed.append(notification["MessageId"])
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return sorted(failed)

    def sent_message(
        self, message_id: str, recipients: tuple[str, ...] = (RECIPIENT,), *, ses_id: str = SES_ID
    ) -> None:
        """A message as the sender leaves it: queued, claimed, then marked sent with SES's id for it."""
        now = self.world.clock.now()
        store = MessageStore()
        message = store.create(
            OutboundMessage(
                message_id=message_id,
                account_id=self.world.account.account_id,
                mailbox=self.world.mailboxes[0].address,
                token_id="tok-000000000001",
                recipients=recipients,
                status=MessageStatus.QUEUED,
                created_at=now,
                updated_at=now,
                raw_key=f"outbound/{message_id}",
            )
        )
        claimed = store.claim(message.message_id, now=now, lease=timedelta(minutes=2))
        assert claimed is not None
        audit = message_audit(
            replace(claimed, status=MessageStatus.SENT), "message.sent", now, provider="ses"
        )
        assert store.mark_sent(claimed, now=now, provider="ses", provider_message_id=ses_id, audit=audit)

    def notification(
        self, name: str, message_id: str = "msg-1", *, ses_id: str = SES_ID, **mail: Any
    ) -> dict[str, Any]:
        """A sample notification about msg-1 (SES id `ses_id`), rebased onto the world's clock."""
        return feedback(
            name,
            account_id=self.world.account.account_id,
            message_id=message_id,
            mailbox=self.world.mailboxes[0].address,
            messageId=ses_id,
            at=self.world.clock.now(),
            **mail,
        )


def _environment(tables: TableNames) -> dict[str, str]:
    env = {f"TABLE_{role.upper()}": name for role, name in vars(tables).items()}
    return env | {
        "SES_SENDING_ACCOUNT_ID": DEPLOYMENT_ACCOUNT,
        "SES_CONFIGURATION_SET": CONFIGURATION_SET,
        "POWERTOOLS_SERVICE_NAME": "litemx-feedback",
        "POWERTOOLS_METRICS_NAMESPACE": "LiteMX",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


@pytest.fixture
def loop(tables: TableNames, monkeypatch) -> Iterator[FeedbackLoop]:
    for key, value in _environment(tables).items():
        monkeypatch.setenv(key, value)
    # Imported once the environment is set: Powertools reads its service and namespace when created.
    from functions.feedback import handler

    # Powertools read its namespace when the module was first imported (maybe at collection): set it.
    monkeypatch.setattr(handler.metrics, "namespace", "LiteMX")
    handler.runtime.cache_clear()
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic_arn = sns.create_topic(Name="litemx-feedback")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="litemx-feedback")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)  # SNS's JSON, as Lambda gets it
    yield FeedbackLoop(build_world(tables), topic_arn, queue_url, queue_arn, sns, sqs)
    handler.runtime.cache_clear()


@pytest.mark.parametrize("fmt", ["event", "identity"])
def test_permanent_bounce_suppresses_globally_and_bounces_the_message(loop, fmt):
    # Given a sent message
    loop.sent_message("msg-1")
    # When SES reports a permanent General bounce through SNS and SQS
    loop.publish(loop.notification(f"{fmt}-bounce-permanent-general"))
    assert loop.run() == []
    # Then the address is suppressed for everyone, with subtype, diagnostic and feedback id
    entry = loop.world.suppression.get(GLOBAL_SCOPE, RECIPIENT)
    assert entry is not None
    assert "General" in entry.reason
    assert "550 5.1.1" in entry.reason
    assert entry.source.startswith("ses-feedback:0100018f1a2b3c4d-aaaaaaaa")
    # And the message is bounced: named by its tag (event publishing) or found by SES's id (identity)
    assert MessageStore().get("msg-1").status is MessageStatus.BOUNCED
    # And the next send to that address is refused
    decision = loop.world.send([RECIPIENT])
    assert decision.code == "recipient_suppressed"


@pytest.mark.parametrize("fmt", ["event", "identity"])
def test_transient_mailbox_full_bounces_suppress_only_after_three_in_seven_days(loop, fmt):
    # Given a sent message, and two transient bounces of it (distinct feedback ids, three and two days ago)
    loop.sent_message("msg-1")
    for n in range(2):
        document = loop.notification(f"{fmt}-bounce-transient-mailboxfull")
        document["bounce"]["feedbackId"] = f"soft-{n}"
        document["bounce"]["timestamp"] = iso(loop.world.clock.now() - timedelta(days=3 - n))
        loop.publish(document)
    assert loop.run() == []
    # Then the address is not suppressed yet
    assert loop.world.suppression.get(GLOBAL_SCOPE, RECIPIENT) is None
    # When a third arrives within 7 days
    document = loop.notification(f"{fmt}-bounce-transient-mailboxfull")
    document["bounce"]["feedbackId"] = "soft-2"
    loop.publish(document)
    assert loop.run() == []
    # Then it is suppressed, for 7 days (the TTL is stored in whole seconds)
    entry = loop.world.suppression.get(GLOBAL_SCOPE, RECIPIENT)
    assert entry is not None
    assert entry.expires_at is not None
    assert timedelta(days=7) - timedelta(seconds=1) < entry.expires_at - entry.created_at <= timedelta(days=7)


@pytest.mark.parametrize("fmt", ["event", "identity"])
def test_abuse_complaint_suppresses_for_the_account_and_marks_the_message(loop, fmt):
    loop.sent_message("msg-1")
    loop.publish(loop.notification(f"{fmt}-complaint-abuse"))
    assert loop.run() == []
    account_id = loop.world.account.account_id
    assert loop.world.suppression.get(account_id, RECIPIENT) is not None
    assert loop.world.suppression.get(GLOBAL_SCOPE, RECIPIENT) is None
    assert MessageStore().get("msg-1").status is MessageStatus.COMPLAINED


def test_delivery_marks_the_message_delivered(loop):
    loop.sent_message("msg-1")
    loop.publish(loop.notification("event-delivery"))
    assert loop.run() == []
    assert MessageStore().get("msg-1").status is MessageStatus.DELIVERED
    assert loop.world.suppression.list(GLOBAL_SCOPE) == []


def test_a_delivery_is_counted_by_plain_writes_and_a_complaint_in_one_transaction(loop):
    # Given a sent message, and its delivery notification (it counts only the rates' denominators)
    loop.sent_message("msg-1")
    document = loop.notification("event-delivery")
    loop.publish(document)
    # When the feedback function applies it, and then the same notification again
    with aws_requests() as made:
        assert loop.run() == []
    loop.publish(document)
    assert loop.run() == []
    # Then its event id was recorded by one conditional PutItem and the mailbox's bucket (which its
    # account's counts sum) by one UpdateItem (1 WRU apiece; a transaction bills 2 per item), in that
    # order; the message is delivered, and the replay changed nothing
    writes = [
        (op, params.get("TableName", "").rsplit("-", 1)[-1])
        for service, op, params in made
        if service == "dynamodb" and op in ("PutItem", "UpdateItem", "TransactWriteItems")
    ]
    assert writes == [
        ("UpdateItem", "messages"),
        ("PutItem", "feedback"),
        ("UpdateItem", "reputation"),
    ]
    assert MessageStore().get("msg-1").status is MessageStatus.DELIVERED

    # And a complaint, which a verdict counts, still records its id and its counts in one transaction
    loop.sent_message("msg-2", ses_id="ses-2")
    with aws_requests() as made:
        loop.publish(loop.notification("event-complaint-abuse", message_id="msg-2", ses_id="ses-2"))
        assert loop.run() == []
    assert "TransactWriteItems" in [op for service, op, _ in made if service == "dynamodb"]


def test_a_redelivered_notification_is_applied_once(loop):
    # Given a complaint applied once
    loop.sent_message("msg-1")
    document = loop.notification("event-complaint-abuse")
    loop.publish(document)
    assert loop.run() == []
    # When the same notification arrives again, in both formats
    loop.publish(document)
    loop.publish(loop.notification("identity-complaint-abuse"))
    assert loop.run() == []
    # Then the mailbox's reputation counted one complaint, and it is still enabled (2 disable it)
    mailbox = loop.world.directory.get_mailbox(loop.world.mailboxes[0].address)
    assert mailbox.status is Status.ACTIVE


def test_malformed_and_unknown_notifications_are_acknowledged_and_the_good_one_applied(loop):
    # Given notifications mixing an SNS message that is not JSON, an unknown type, and a real bounce
    loop.publish("this is not JSON")
    loop.publish({"eventType": "Open", "mail": {"messageId": "x"}, "open": {}})
    loop.publish({"notificationType": "Bounce", "mail": {"messageId": "no-bounce-object"}})
    loop.sent_message("msg-1")
    loop.publish(loop.notification("event-bounce-permanent-general"))
    # When the handler is invoked with each
    failed = loop.run()
    # Then no invocation failed (nothing will be retried into a poison loop) and the bounce was applied
    assert failed == []
    assert loop.world.suppression.get(GLOBAL_SCOPE, RECIPIENT) is not None
    assert loop.sqs.receive_message(QueueUrl=loop.queue_url).get("Messages", []) == []


def test_feedback_about_another_accounts_mail_suppresses_nothing(loop):
    loop.publish(loop.notification("event-bounce-permanent-general", sendingAccountId="999999999999"))
    assert loop.run() == []
    assert loop.world.suppression.list(GLOBAL_SCOPE) == []


def test_two_complaints_disable_the_mailbox_and_the_next_send_is_refused(loop):
    # Given a mailbox that is allowed to send
    box = loop.world.mailboxes[0].address
    assert loop.world.send(["someone@outside.test"]).allowed
    # When two of its recipients complain
    for n in range(2):
        loop.sent_message(f"msg-{n}", (f"person{n}@outside.test",), ses_id=f"ses-{n}")
        document = loop.notification("event-complaint-abuse", message_id=f"msg-{n}", ses_id=f"ses-{n}")
        document["complaint"]["feedbackId"] = f"complaint-{n}"
        document["complaint"]["complainedRecipients"] = [{"emailAddress": f"person{n}@outside.test"}]
        loop.publish(document)
    assert loop.run() == []
    # Then the mailbox is disabled, with the reason, by the reputation actor, in the audit trail
    mailbox = loop.world.directory.get_mailbox(box)
    assert mailbox.status is Status.DISABLED
    assert "2 complaints in 24 h" in (mailbox.status_reason or "")
    trail = loop.world.audit.list(loop.world.account.account_id)
    assert [(r.event, r.actor) for r in trail if r.event == "mailbox.disable"] == [
        ("mailbox.disable", "reputation")
    ]
    # And the very next send is refused
    decision = loop.world.send(["someone-else@outside.test"])
    assert decision.code == "mailbox_disabled"


# ---- issue 11 ----


def test_an_identity_notification_moves_the_status_through_the_provider_message_id(loop):
    # Given a message SES sent as ses-77 (the identity format carries no LiteMX tag)
    loop.sent_message("msg-77", ses_id="ses-77")
    # When SES reports its delivery as an identity notification
    loop.publish(loop.notification("identity-delivery", message_id="", ses_id="ses-77"))
    assert loop.run() == []
    # Then the message is found through the index on provider_message_id, and delivered
    assert MessageStore().get("msg-77").status is MessageStatus.DELIVERED


def test_a_reject_ends_the_message_failed_with_the_reason(loop):
    loop.sent_message("msg-1")
    document = loop.notification("event-delivery")
    del document["delivery"]
    document["eventType"] = "Reject"
    document["reject"] = {"reason": "Bad content"}
    loop.publish(document)
    assert loop.run() == []
    message = MessageStore().get("msg-1")
    assert (message.status, message.reason_code, message.reason) == (
        MessageStatus.FAILED,
        "provider_rejected",
        "Bad content",
    )


def test_feedback_about_another_identitys_mail_in_this_account_suppresses_nothing(loop):
    loop.publish(loop.notification("identity-bounce-permanent-general", ses_id="not-ours"))
    assert loop.run() == []
    assert loop.world.suppression.list(GLOBAL_SCOPE) == []


def test_a_bounce_listing_an_empty_address_applies_the_rest_and_is_acknowledged(loop):
    loop.sent_message("msg-1", (RECIPIENT, "good@outside.test"))
    document = loop.notification("event-bounce-permanent-general")
    document["bounce"]["bouncedRecipients"] = [{"emailAddress": "good@outside.test"}, {"emailAddress": ""}]
    loop.publish(document)
    assert loop.run() == []
    assert loop.world.suppression.get(GLOBAL_SCOPE, "good@outside.test") is not None
    assert MessageStore().get("msg-1").status is MessageStatus.BOUNCED


def test_a_notification_whose_writes_fail_is_retried_parked_with_its_event_and_applied_when_replayed(
    loop, monkeypatch
):
    from functions.feedback import handler
    from litemx.suppression.store import SuppressionStore
    from litemx_cli.sns_events import feedback_invocation
    from litemx_local.system import SnsPush

    # Given a sent message, a bounce of it published while suppression writes fail like an outage, and
    # the local stand-in for SNS's push and Lambda's asynchronous invocation draining the subscribed queue
    loop.sent_message("msg-1")
    dlq = loop.sqs.create_queue(QueueName="litemx-feedback-dlq")["QueueUrl"]
    push = SnsPush("feedback", loop.queue_url, dlq, "sub", handler.handler, threading.Event())
    attempts = []

    def outage(self, entry):
        attempts.append(entry.address)
        raise ConnectionError("DynamoDB unavailable")

    with monkeypatch.context() as during:
        during.setattr(SuppressionStore, "strengthen", outage)
        loop.publish(loop.notification("event-bounce-permanent-general"))
        # When the push invokes the handler
        assert push.poll_once(loop.sqs) == 1
    # Then the handler was run three times (Lambda's attempt and its 2 retries), and the event is parked
    assert attempts == [RECIPIENT] * 3
    (parked,) = loop.sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"]
    assert "DynamoDB unavailable" in parked["MessageAttributes"]["ErrorMessage"]["StringValue"]
    assert loop.world.suppression.get(GLOBAL_SCOPE, RECIPIENT) is None
    # When the outage is over and the redrive replays the parked event
    event = feedback_invocation(parked["Body"], message_id=parked["MessageId"])
    assert event is not None
    handler.handler(event, FakeLambdaContext())
    # Then the bounce is applied: the address suppressed, the message bounced
    assert loop.world.suppression.get(GLOBAL_SCOPE, RECIPIENT) is not None
    assert MessageStore().get("msg-1").status is MessageStatus.BOUNCED
