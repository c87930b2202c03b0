"""Feedback: parsing both SES formats, suppression, message status, idempotency, foreign mail."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from litemx.clock import FixedClock
from litemx.feedback.logic import FeedbackPorts, handle_feedback
from litemx.feedback.models import Action, Deployment, FeedbackEvent, FeedbackKind
from litemx.feedback.notifications import Unusable, parse_body
from litemx.messages.models import MessageStatus
from litemx.suppression.models import GLOBAL_SCOPE
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
)

MESSAGE_ID = "msg-0001"
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
        self.messages = FakeMessages(statuses={MESSAGE_ID: MessageStatus.SENT})
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
    assert sum(t.hard_bounces for t in harness.ledger.buckets.values()) == 2  # mailbox + account
    # And the message (known from its tag in the event format) is bounced
    expected = MessageStatus.BOUNCED if fmt == "event" else MessageStatus.SENT
    assert harness.messages.statuses[MESSAGE_ID] is expected


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
    if fmt == "event":
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
    assert sum(t.complaints for t in harness.ledger.buckets.values()) == 2  # mailbox + account, once
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


def test_feedback_carrying_the_accounts_tenant_is_attributed_to_it(harness):
    event = event_of("bounce-permanent-general", tenantName=f"litemx-{ACCOUNT_ID}")
    assert event.tenant_name == f"litemx-{ACCOUNT_ID}"
    outcome = harness.apply(
        replace(event, tags={k: v for k, v in event.tags.items() if k != "litemx-account"})
    )
    assert outcome.action is Action.APPLIED
    assert outcome.attribution is not None
    assert outcome.attribution.account_id == ACCOUNT_ID


@pytest.mark.parametrize("tenant", ["litemx-acc-999999999999", "someone-elses-tenant"])
def test_a_tenant_that_is_not_the_accounts_makes_feedback_foreign(harness, tenant):
    outcome = harness.apply(event_of("bounce-permanent-general", tenantName=tenant))
    assert outcome.action is Action.FOREIGN
    assert harness.suppression.entries == {}
