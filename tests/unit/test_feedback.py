"""Feedback: parsing both SES formats, suppression, message status, idempotency, foreign mail."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import timedelta

import pytest

from litemx.clock import FixedClock
from litemx.feedback.logic import FeedbackPorts, handle_feedback
from litemx.feedback.models import Action, Deployment, FeedbackEvent, FeedbackKind
from litemx.feedback.notifications import Unusable, parse_body, parse_sns_record
from litemx.messages.models import MessageStatus
from litemx.suppression.models import GLOBAL_SCOPE, SuppressionEntry
from tests.events import CONFIGURATION_SET, DEPLOYMENT_ACCOUNT, feedback, load, sns_envelope
from tests.fakes import (
    ACCOUNT_ID,
    MAILBOX,
    T0,
    FakeAudit,
    FakeDirectory,
    FakeLedger,
    FakeMessages,
    FakeSuppression,
    directory_world,
    sent_message,
)

MESSAGE_ID = "msg-0001"
SES_ID = "0100018f1a2b3c4d-5e6f7a8b-1111-2222-3333-444455556666-000000"  # mail.messageId of every sample
DEPLOYMENT = Deployment(account_id=DEPLOYMENT_ACCOUNT, configuration_set=CONFIGURATION_SET)
SAMPLES = (
    "bounce-permanent-general",
    "bounce-transient-mailboxfull",
    "complaint-abuse",
    "delivery",
)


class Harness:
    def __init__(self) -> None:
        self.suppression = FakeSuppression()
        self.messages = FakeMessages(
            messages={MESSAGE_ID: sent_message(MESSAGE_ID, provider_message_id=SES_ID)}
        )
        self.ledger = FakeLedger()
        self.directory: FakeDirectory = directory_world()
        self.audit = FakeAudit()
        self.clock = FixedClock(T0)
        self.ports = FeedbackPorts(
            suppression=self.suppression,
            messages=self.messages,
            ledger=self.ledger,
            reputation=self.ledger,
            directory=self.directory,
            audit=self.audit,
        )

    def apply(self, event: FeedbackEvent):
        return handle_feedback(event, ports=self.ports, deployment=DEPLOYMENT, clock=self.clock)


def event_of(name: str, *, fmt: str = "event", envelope: bool = True, **mail) -> FeedbackEvent:
    document = feedback(
        f"{fmt}-{name}", account_id=ACCOUNT_ID, message_id=MESSAGE_ID, mailbox=MAILBOX, **mail
    )
    body = json.dumps(sns_envelope(document) if envelope else document)
    parsed = parse_body(body)
    assert isinstance(parsed, FeedbackEvent), parsed
    return parsed


@pytest.fixture
def harness() -> Harness:
    return Harness()


# ---- parsing ----


@pytest.mark.parametrize("fmt", ["event", "identity"])
@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("envelope", [True, False], ids=["sns-envelope", "raw-delivery"])
def test_every_documented_sample_parses_in_both_formats(name, fmt, envelope):
    # Given a documented SES sample, in an SNS envelope or delivered raw
    # When it is parsed
    event = event_of(name, fmt=fmt, envelope=envelope)
    # Then its kind, recipients (canonical case) and SES message id are read
    assert event.kind is FeedbackKind(name.split("-")[0])
    assert [r.address for r in event.recipients] == ["recipient@outside.test"]
    assert event.sending_account_id == DEPLOYMENT_ACCOUNT
    assert event.ses_message_id.startswith("0100018f1a2b3c4d")
    assert (event.tag("litemx-message") == MESSAGE_ID) is (fmt == "event")


def test_a_bounce_keeps_its_type_subtype_diagnostic_and_feedback_id():
    event = event_of("bounce-permanent-general")
    assert (event.bounce_type, event.bounce_subtype) == ("Permanent", "General")
    assert event.recipients[0].diagnostic == "smtp; 550 5.1.1 user unknown"
    assert event.event_id == "0100018f1a2b3c4d-aaaaaaaa-0000-0000-0000-000000000001-000000"


def test_the_same_delivery_in_both_formats_has_one_event_id():
    assert event_of("delivery", fmt="event").event_id == event_of("delivery", fmt="identity").event_id


def test_an_sqs_record_of_the_queue_before_13_is_read_for_its_body_during_the_upgrade():
    # The old queue's event source mapping invokes the new code until the deploy removes it
    document = feedback("event-bounce-permanent-general", account_id=ACCOUNT_ID)
    for body in (json.dumps(sns_envelope(document)), json.dumps(document)):
        event = parse_sns_record({"eventSource": "aws:sqs", "messageId": "m-1", "body": body})
        assert isinstance(event, FeedbackEvent)
        assert event.kind is FeedbackKind.BOUNCE
    assert isinstance(parse_sns_record({"eventSource": "aws:sqs", "body": 42}), Unusable)


def test_unknown_fields_are_ignored():
    document = feedback("event-bounce-permanent-general", account_id=ACCOUNT_ID)
    document["bounce"]["brandNewField"] = {"x": 1}
    document["somethingSesAddedLater"] = [1, 2]
    assert isinstance(parse_body(json.dumps(document)), FeedbackEvent)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("not json at all", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps(sns_envelope("{broken")), "Message is not JSON"),
        (json.dumps(load("feedback/sns-subscription-confirmation.json")), "SubscriptionConfirmation"),
        (json.dumps(sns_envelope(load("feedback/ses-setup-notification.json"))), "not acted upon"),
        (json.dumps(sns_envelope({"eventType": "Open", "mail": {}})), "not acted upon"),
        (json.dumps(sns_envelope({"notificationType": "Bounce", "mail": {"messageId": "x"}})), "malformed"),
        (json.dumps({"eventType": "Complaint", "mail": {"timestamp": "x", "messageId": "m"}}), "malformed"),
    ],
    ids=["not-json", "array", "message-not-json", "subscription", "ses-setup", "open", "no-bounce", "bad"],
)
def test_malformed_or_unknown_notifications_are_unusable(body, why):
    # When a record carries nothing LiteMX can act on
    parsed = parse_body(body)
    # Then it is reported as unusable, with a reason for the log (the handler acknowledges it)
    assert isinstance(parsed, Unusable)
    assert why in parsed.reason


# ---- permanent bounces ----


@pytest.mark.parametrize("fmt", ["event", "identity"])
def test_permanent_bounce_suppresses_globally_and_marks_the_message_bounced(harness, fmt):
    # Given a permanent General bounce of a message sent by box MAILBOX
    event = event_of("bounce-permanent-general", fmt=fmt)
    # When it is applied
    outcome = harness.apply(event)
    # Then the address is suppressed for everyone, with subtype, diagnostic and feedback id
    entry = harness.suppression.get(GLOBAL_SCOPE, "recipient@outside.test")
    assert entry is not None
    assert entry.expires_at is None
    assert "General" in entry.reason
    assert "550 5.1.1 user unknown" in entry.reason
    assert entry.source == f"ses-feedback:{event.event_id}"
    # And the sending mailbox and account are charged with a hard bounce
    assert outcome.attribution is not None
    assert (outcome.attribution.account_id, outcome.attribution.mailbox) == (ACCOUNT_ID, MAILBOX)
    assert outcome.action is Action.APPLIED
    assert outcome.counted
    assert sum(t.hard_bounces for t in harness.ledger.buckets.values()) == 1  # the mailbox's hour
    # And the message (its tag in the event format, its SES id in the identity format) is bounced
    assert harness.messages.statuses[MESSAGE_ID] is MessageStatus.BOUNCED


@pytest.mark.parametrize("subtype", ["Suppressed", "OnAccountSuppressionList"])
def test_bounces_of_ses_listed_addresses_suppress_without_charging_the_sender(harness, subtype):
    event = replace(event_of("bounce-permanent-general"), bounce_subtype=subtype)
    outcome = harness.apply(event)
    assert harness.suppression.get(GLOBAL_SCOPE, "recipient@outside.test") is not None
    assert not outcome.counted
    assert all(t.hard_bounces == 0 for t in harness.ledger.buckets.values())


def test_an_unsubscribed_recipient_is_suppressed_for_that_account_only(harness):
    event = replace(event_of("bounce-permanent-general"), bounce_subtype="UnsubscribedRecipient")
    harness.apply(event)
    assert harness.suppression.get(GLOBAL_SCOPE, "recipient@outside.test") is None
    assert harness.suppression.get(ACCOUNT_ID, "recipient@outside.test") is not None


# ---- transient bounces ----


def soft_bounce(at, n: int, subtype: str = "MailboxFull") -> FeedbackEvent:
    event = event_of("bounce-transient-mailboxfull")
    return replace(event, at=at, event_id=f"soft-{n}", bounce_subtype=subtype)


def test_three_transient_bounces_within_seven_days_suppress_for_seven_days(harness):
    # Given two transient bounces of one address (counted, not yet suppressed)
    for n, days in enumerate((0, 3)):
        outcome = harness.apply(soft_bounce(T0 + timedelta(days=days), n))
        assert outcome.suppressed == ()
    # When a third arrives within 7 days of the first
    third_at = T0 + timedelta(days=6)
    outcome = harness.apply(soft_bounce(third_at, 2))
    # Then the address is suppressed for everyone, until 7 days after the third
    entry = harness.suppression.get(GLOBAL_SCOPE, "recipient@outside.test")
    assert entry is not None
    assert entry.expires_at == third_at + timedelta(days=7)
    assert "3 transient bounces in 7 days (MailboxFull)" in entry.reason
    assert [s.address for s in outcome.suppressed] == ["recipient@outside.test"]


def test_transient_bounces_spread_over_more_than_seven_days_do_not_suppress(harness):
    for n, days in enumerate((0, 4, 8)):
        harness.apply(soft_bounce(T0 + timedelta(days=days), n))
    assert harness.suppression.entries == {}


@pytest.mark.parametrize("name", ["bounce-transient-mailboxfull", "complaint-abuse", "delivery"])
def test_feedback_older_than_its_windows_writes_nothing_already_expired(harness, name):
    # Given notifications that arrive 10 days late (SQS redrive, a replayed DLQ)
    harness.clock.set(T0 + timedelta(days=10))
    # When they are applied
    harness.apply(event_of(name))
    # Then no item was written with a TTL already past: the 10-day-old transient bounce and the reputation
    # buckets (kept 3 days) are not written at all, and the feedback id is kept 30 days from now
    assert all(expires_at > harness.clock.now() for _, expires_at in harness.ledger.ttls)
    assert harness.ledger.soft == {}
    assert harness.ledger.buckets == {}
    assert ("event#" + event_of(name).event_id, T0 + timedelta(days=40)) in harness.ledger.ttls


@pytest.mark.parametrize(
    ("name", "reads"), [("delivery", 0), ("bounce-permanent-general", 1), ("complaint-abuse", 1)]
)
def test_only_hard_bounces_and_complaints_read_the_reputation_windows(harness, name, reads):
    # Deliveries (and sends) only lower the rates: they never pay for reading the windows' buckets
    harness.apply(event_of(name))
    assert harness.ledger.reads == reads


def test_a_late_older_transient_bounce_never_shortens_the_markers_life(harness):
    harness.clock.set(T0 + timedelta(days=2))
    harness.apply(soft_bounce(T0 + timedelta(days=2), 1))
    harness.apply(soft_bounce(T0, 2))  # two days older, arriving after
    soft_ttls = [ttl for key, ttl in harness.ledger.ttls if key.startswith("soft#")]
    assert soft_ttls == [T0 + timedelta(days=9)] * 2


def test_a_redelivered_transient_bounce_is_counted_once(harness):
    for _ in range(3):
        harness.apply(soft_bounce(T0, 1))
    assert harness.suppression.entries == {}
    assert len(harness.ledger.soft["recipient@outside.test"]) == 1


def test_bounces_about_the_message_never_suppress_the_address(harness):
    for n in range(4):
        harness.apply(soft_bounce(T0 + timedelta(hours=n), n, subtype="MessageTooLarge"))
    assert harness.suppression.entries == {}


# ---- complaints ----


@pytest.mark.parametrize("fmt", ["event", "identity"])
def test_a_complaint_suppresses_the_address_for_the_complaining_account_only(harness, fmt):
    outcome = harness.apply(event_of("complaint-abuse", fmt=fmt))
    assert harness.suppression.get(ACCOUNT_ID, "recipient@outside.test") is not None
    assert harness.suppression.get(GLOBAL_SCOPE, "recipient@outside.test") is None
    assert outcome.counted
    assert harness.messages.statuses[MESSAGE_ID] is MessageStatus.COMPLAINED


def test_not_spam_feedback_is_not_a_complaint(harness):
    event = replace(event_of("complaint-abuse"), complaint_feedback_type="not-spam")
    outcome = harness.apply(event)
    assert harness.suppression.entries == {}
    assert harness.messages.statuses[MESSAGE_ID] is MessageStatus.SENT
    assert outcome.action is Action.IGNORED


# ---- delivery, idempotency, foreign mail ----


def test_a_delivery_marks_the_message_delivered(harness):
    outcome = harness.apply(event_of("delivery"))
    assert harness.messages.statuses[MESSAGE_ID] is MessageStatus.DELIVERED
    assert outcome.message_status == "delivered"
    assert harness.suppression.entries == {}


def test_the_same_feedback_id_is_applied_once(harness):
    # Given a complaint already applied
    event = event_of("complaint-abuse")
    first = harness.apply(event)
    # When the same notification arrives again (SQS redelivery, or the other format)
    second = harness.apply(event)
    third = harness.apply(event_of("complaint-abuse", fmt="identity"))
    # Then nothing moves a second time
    assert first.action is Action.APPLIED
    assert second.action is Action.DUPLICATE
    assert third.action is Action.DUPLICATE
    assert sum(t.complaints for t in harness.ledger.buckets.values()) == 1  # the mailbox's hour, once
    assert len(harness.messages.applied) == 1


@pytest.mark.parametrize(
    "mail",
    [
        {"sendingAccountId": "999999999999"},
        {"sendingAccountId": ""},
        {"sourceArn": "arn:aws:ses:us-east-1:999999999999:identity/example.com"},
    ],
    ids=["other-account", "no-account", "other-identity"],
)
def test_feedback_about_someone_elses_mail_changes_nothing(harness, mail):
    outcome = harness.apply(event_of("bounce-permanent-general", **mail))
    assert outcome.action is Action.FOREIGN
    assert harness.suppression.entries == {}
    assert harness.ledger.events == set()
    assert harness.messages.applied == []


def test_feedback_from_another_configuration_set_changes_nothing(harness):
    event = event_of("bounce-permanent-general")
    tags = dict(event.tags) | {"ses:configuration-set": ("someone-elses-set",)}
    outcome = harness.apply(replace(event, tags=tags))
    assert outcome.action is Action.FOREIGN
    assert harness.suppression.entries == {}


# ---- issue 15: feedback that carries the SES tenant (docs/tenants.md) ----


def test_feedback_carrying_the_accounts_tenant_is_applied(harness):
    event = event_of("bounce-permanent-general", tenantName=f"litemx-{ACCOUNT_ID}")
    assert event.tenant_name == f"litemx-{ACCOUNT_ID}"
    outcome = harness.apply(event)
    assert outcome.action is Action.APPLIED


@pytest.mark.parametrize("tenant", ["litemx-acc-999999999999", "someone-elses-tenant"])
def test_a_tenant_that_is_not_the_accounts_makes_feedback_foreign(harness, tenant):
    outcome = harness.apply(event_of("bounce-permanent-general", tenantName=tenant))
    assert outcome.action is Action.FOREIGN
    assert harness.suppression.entries == {}


# ---- issue 11: suppression only gets stronger (item 5) ----


def test_transient_bounces_never_downgrade_a_permanent_suppression(harness):
    # Given an address permanently suppressed by a hard bounce
    harness.apply(event_of("bounce-permanent-general"))
    # When three transient bounces follow
    for n in range(3):
        harness.apply(soft_bounce(T0 + timedelta(hours=n + 1), n))
    # Then it is still suppressed for good
    entry = harness.suppression.get(GLOBAL_SCOPE, "recipient@outside.test")
    assert entry is not None
    assert entry.expires_at is None
    assert "permanent bounce" in entry.reason


def test_transient_bounces_never_replace_an_operators_entry(harness):
    # Given an operator's permanent suppression
    operator = SuppressionEntry(
        GLOBAL_SCOPE, "recipient@outside.test", "asked us to stop", T0, "operator:ops"
    )
    harness.suppression.add(operator)
    # When three transient bounces follow
    for n in range(3):
        harness.apply(soft_bounce(T0 + timedelta(hours=n + 1), n))
    # Then the operator's entry stands
    assert harness.suppression.get(GLOBAL_SCOPE, "recipient@outside.test") == operator


def test_a_permanent_bounce_strengthens_a_soft_suppression(harness):
    for n in range(3):
        harness.apply(soft_bounce(T0 + timedelta(hours=n), n))
    assert harness.suppression.get(GLOBAL_SCOPE, "recipient@outside.test").expires_at is not None
    harness.apply(event_of("bounce-permanent-general"))
    assert harness.suppression.get(GLOBAL_SCOPE, "recipient@outside.test").expires_at is None


# ---- out-of-order transient bounces (item 6) ----


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_three_transient_bounces_within_the_window_suppress_in_any_arrival_order(harness, order):
    times = [T0 + timedelta(days=d) for d in (0, 3, 6)]
    for n in order:
        harness.apply(soft_bounce(times[n], n))
    entry = harness.suppression.get(GLOBAL_SCOPE, "recipient@outside.test")
    assert entry is not None
    assert entry.expires_at == times[2] + timedelta(days=7)


# ---- attribution by the stored message (item 7) ----


def test_the_mailbox_and_account_come_from_the_stored_message_not_the_tags(harness):
    # Given two messages of o'brien@example.com, whose tag SES received rewritten as o_brien@example.com
    box = "o'brien@example.com"
    harness.directory.mailboxes[box] = replace(harness.directory.mailboxes[MAILBOX], address=box)
    ids = (MESSAGE_ID, "msg-0002")
    for n, message_id in enumerate(ids):
        harness.messages.messages[message_id] = sent_message(
            message_id, provider_message_id=f"ses-{n}", mailbox=box
        )
    # When a complaint about each arrives
    outcomes = []
    for n, message_id in enumerate(ids):
        event = event_of("complaint-abuse")
        tags = dict(event.tags) | {
            "litemx-mailbox": ("o_brien@example.com",),
            "litemx-message": (message_id,),
        }
        event = replace(event, event_id=f"complaint-{n}", ses_message_id=f"ses-{n}", tags=tags)
        outcomes.append(harness.apply(event))
    # Then both are counted against the real mailbox, which two complaints disable
    assert [o.attribution.mailbox if o.attribution else None for o in outcomes] == [box, box]
    assert harness.directory.mailboxes[box].status.value == "disabled"


def test_identity_notifications_are_attributed_through_the_provider_message_id(harness):
    outcome = harness.apply(event_of("bounce-permanent-general", fmt="identity"))
    assert outcome.attribution is not None
    assert (outcome.attribution.message_id, outcome.attribution.mailbox) == (MESSAGE_ID, MAILBOX)
    assert harness.messages.statuses[MESSAGE_ID] is MessageStatus.BOUNCED  # item 10


# ---- only our own mail (item 8) ----


@pytest.mark.parametrize("fmt", ["event", "identity"])
def test_feedback_about_another_identity_of_the_same_account_changes_nothing(harness, fmt):
    # Given a notification about mail another identity of this AWS account sent (no message of ours)
    event = event_of("bounce-permanent-general", fmt=fmt, messageId="someone-elses-ses-id")
    event = replace(event, tags={k: v for k, v in event.tags.items() if k != "litemx-message"})
    # When it is applied
    outcome = harness.apply(event)
    # Then nothing changes, and the outcome says why
    assert outcome.action is Action.FOREIGN
    assert "maps to no message" in outcome.note
    assert harness.suppression.entries == {}
    assert harness.ledger.events == set()


def test_a_tag_naming_our_message_is_not_enough_when_ses_sent_it_as_another(harness):
    outcome = harness.apply(event_of("bounce-permanent-general", messageId="another-ses-id"))
    assert outcome.action is Action.FOREIGN
    assert harness.suppression.entries == {}


def test_an_identity_that_does_not_cover_the_mailbox_is_not_ours(harness):
    event = event_of(
        "bounce-permanent-general",
        fmt="identity",
        sourceArn=f"arn:aws:ses:us-east-1:{DEPLOYMENT_ACCOUNT}:identity/other-app.test",
    )
    outcome = harness.apply(event)
    assert outcome.action is Action.FOREIGN
    assert "identity" in outcome.note
    assert harness.suppression.entries == {}


def test_only_recipients_of_the_message_are_acted_upon(harness):
    event = event_of("bounce-permanent-general")
    stranger = replace(event.recipients[0], address="victim@elsewhere.test")
    outcome = harness.apply(replace(event, recipients=(*event.recipients, stranger)))
    assert set(harness.suppression.entries) == {(GLOBAL_SCOPE, "recipient@outside.test")}
    assert any("victim@elsewhere.test" in s for s in outcome.skipped)


# ---- rejects (item 11) ----


def test_a_reject_ends_the_message_failed_with_the_reason(harness):
    # Given SES's Reject event for a message it accepted
    document = feedback("event-delivery", account_id=ACCOUNT_ID, message_id=MESSAGE_ID, mailbox=MAILBOX)
    del document["delivery"]
    document["eventType"] = "Reject"
    document["reject"] = {"reason": "Bad content"}
    event = parse_body(json.dumps(document))
    assert isinstance(event, FeedbackEvent)
    # When it is applied
    outcome = harness.apply(event)
    # Then the message is failed, with the reason
    message = harness.messages.messages[MESSAGE_ID]
    assert (message.status, message.reason_code, message.reason) == (
        MessageStatus.FAILED,
        "provider_rejected",
        "Bad content",
    )
    assert outcome.message_status == "failed"
    assert harness.suppression.entries == {}
