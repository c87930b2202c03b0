"""Automatic disablement: rolling 24 h rates per mailbox and account, below SES's own thresholds."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from litemx.clock import FixedClock
from litemx.directory.models import Status
from litemx.feedback.logic import FeedbackPorts, handle_feedback
from litemx.feedback.models import Action, Deployment, FeedbackEvent, FeedbackKind, FeedbackRecipient
from litemx.reputation.logic import enforce
from litemx.reputation.models import (
    BUCKET_RETENTION,
    Increment,
    Tally,
    Thresholds,
    account_verdict,
    hour_label,
    mailbox_verdict,
    sent_increment,
)
from tests.events import DEPLOYMENT_ACCOUNT
from tests.fakes import (
    ACCOUNT_ID,
    T0,
    FakeAudit,
    FakeDirectory,
    FakeLedger,
    FakeMessages,
    FakeSuppression,
    directory_world,
    sent_message,
)
from tests.fakes import MAILBOX as BOX

DEFAULTS = Thresholds()


@pytest.mark.parametrize(
    ("tally", "disabled"),
    [
        (Tally(sends=1, complaints=1), False),
        (Tally(sends=1, complaints=2), True),
        (Tally(sends=19, hard_bounces=5), False),  # too few sends to judge a rate
        (Tally(sends=20, hard_bounces=1), True),  # 5.00%
        (Tally(sends=21, hard_bounces=1), False),  # 4.76%
        (Tally(deliveries=19, hard_bounces=1), True),  # no Send events: deliveries + bounces are attempts
    ],
)
def test_mailbox_thresholds(tally, disabled):
    assert (mailbox_verdict(tally, DEFAULTS) is not None) is disabled


@pytest.mark.parametrize(
    ("tally", "disabled"),
    [
        (Tally(sends=99, complaints=2, hard_bounces=9), False),  # under the counts, too few for rates
        (Tally(sends=90, complaints=3), True),  # 3 complaints at any volume
        (Tally(sends=10, hard_bounces=10), True),  # 10 hard bounces at any volume
        (Tally(sends=1000, complaints=1), True),  # 0.10%
        (Tally(sends=1001, complaints=1), False),
        (Tally(sends=100, hard_bounces=5), True),
        (Tally(sends=100, hard_bounces=4), False),
        (Tally(sends=2000, complaints=2), True),  # a 0.10% rate: the counts are not the only rule
    ],
)
def test_account_thresholds(tally, disabled):
    assert (account_verdict(tally, DEFAULTS) is not None) is disabled


def test_thresholds_are_configurable():
    strict = Thresholds(mailbox_complaints=1)
    assert mailbox_verdict(Tally(sends=1, complaints=1), strict) is not None


def _world() -> tuple[FakeLedger, FakeDirectory, FakeAudit]:
    ledger, directory, audit = FakeLedger(), directory_world(), FakeAudit()
    return ledger, directory, audit


def test_the_window_is_the_last_24_hours():
    # Given one complaint 25 hours ago and one now
    ledger, directory, audit = _world()
    ledger.put(BOX, T0 - timedelta(hours=25), Tally(sends=1, complaints=1))
    ledger.put(BOX, T0, Tally(sends=1, complaints=1))
    # When the mailbox is judged
    disabled = enforce(
        mailbox=BOX,
        account_id=ACCOUNT_ID,
        reader=ledger,
        directory=directory,
        audit=audit,
        clock=FixedClock(T0),
        thresholds=DEFAULTS,
    )
    # Then only one complaint is within the window: nothing is disabled
    assert disabled == ()
    # And an hour-old complaint is still inside it
    ledger.put(BOX, T0 - timedelta(hours=23), Tally(complaints=1))
    disabled = enforce(
        mailbox=BOX,
        account_id=ACCOUNT_ID,
        reader=ledger,
        directory=directory,
        audit=audit,
        clock=FixedClock(T0),
        thresholds=DEFAULTS,
    )
    assert [d.kind for d in disabled] == ["mailbox"]


def test_an_account_over_its_rates_is_disabled_and_audited():
    ledger, directory, audit = _world()
    ledger.put("other@example.com", T0, Tally(sends=200, hard_bounces=10))
    disabled = enforce(
        mailbox=None,
        account_id=ACCOUNT_ID,
        reader=ledger,
        directory=directory,
        audit=audit,
        clock=FixedClock(T0),
        thresholds=DEFAULTS,
    )
    assert [(d.kind, d.entity_id) for d in disabled] == [("account", ACCOUNT_ID)]
    assert directory.accounts[ACCOUNT_ID].status is Status.DISABLED
    assert audit.events() == ["account.disable"]
    assert audit.records[0].actor == "reputation"


def complaint(n: int) -> FeedbackEvent:
    return FeedbackEvent(
        event_id=f"complaint-{n}",
        kind=FeedbackKind.COMPLAINT,
        type_name="Complaint",
        at=T0 + timedelta(minutes=n),
        ses_message_id=f"ses-{n}",
        sent_at=T0,
        sending_account_id=DEPLOYMENT_ACCOUNT,
        source_arn=f"arn:aws:ses:us-east-1:{DEPLOYMENT_ACCOUNT}:identity/example.com",
        source=BOX,
        tags={"litemx-message": (f"msg-{n}",)},
        recipients=(),
        complaint_feedback_type="abuse",
    )


def test_two_complaints_disable_the_mailbox_once_with_audit():
    # Given a mailbox that sent to three people
    ledger, directory, audit = _world()
    sent = {
        f"msg-{n}": sent_message(
            f"msg-{n}", provider_message_id=f"ses-{n}", recipients=(f"person{n}@outside.test",)
        )
        for n in (1, 2, 3)
    }
    ports = FeedbackPorts(FakeSuppression(), FakeMessages(sent), ledger, ledger, directory, audit)
    clock = FixedClock(T0 + timedelta(hours=1))
    deployment = Deployment(account_id=DEPLOYMENT_ACCOUNT)

    def apply(n: int):
        event = replace(complaint(n), recipients=(FeedbackRecipient(f"person{n}@outside.test"),))
        return handle_feedback(event, ports=ports, deployment=deployment, clock=clock)

    # When the first complains, nothing is disabled
    assert apply(1).disabled == ()
    # When the second complains, the mailbox is disabled, with a reason and an audit entry
    second = apply(2)
    assert [(d.kind, d.entity_id) for d in second.disabled] == [("mailbox", BOX)]
    assert directory.mailboxes[BOX].status is Status.DISABLED
    assert "2 complaints in 24 h" in (directory.mailboxes[BOX].status_reason or "")
    assert audit.events() == ["mailbox.disable"]
    # And a redelivery does not disable it again
    assert apply(2).disabled == ()
    assert audit.events() == ["mailbox.disable"]
    # And a third complaint disables the account (3 in 24 h across it), not the mailbox again
    assert [d.kind for d in apply(3).disabled] == ["account"]
    assert audit.events() == ["mailbox.disable", "account.disable"]


# ---- the sender counts sends; feedback counts bounces, complaints and (optionally) deliveries (#13) ----


def feedback_event(kind: FeedbackKind, n: int, recipient: str, **fields) -> FeedbackEvent:
    return FeedbackEvent(
        event_id=f"{kind.value}-{n}",
        kind=kind,
        type_name=kind.value.capitalize(),
        at=T0 + timedelta(minutes=n),
        ses_message_id=f"ses-{n}",
        sent_at=T0,
        sending_account_id=DEPLOYMENT_ACCOUNT,
        source_arn=f"arn:aws:ses:us-east-1:{DEPLOYMENT_ACCOUNT}:identity/example.com",
        source=BOX,
        tags={"litemx-message": (f"msg-{n}",)},
        recipients=(FeedbackRecipient(recipient),),
        **fields,
    )


class Sent:
    """A mailbox that sent `count` one-recipient messages, counted as the sender counts them."""

    def __init__(self, count: int) -> None:
        self.ledger, self.directory, self.audit = _world()
        self.messages = {
            f"msg-{n}": sent_message(
                f"msg-{n}", provider_message_id=f"ses-{n}", recipients=(f"person{n}@outside.test",)
            )
            for n in range(count)
        }
        for message in self.messages.values():
            self.ledger.add(
                [sent_increment(message.account_id, message.mailbox, T0, len(message.recipients))]
            )
        self.ports = FeedbackPorts(
            FakeSuppression(),
            FakeMessages(self.messages),
            self.ledger,
            self.ledger,
            self.directory,
            self.audit,
        )

    def apply(self, event: FeedbackEvent):
        return handle_feedback(
            event,
            ports=self.ports,
            deployment=Deployment(account_id=DEPLOYMENT_ACCOUNT),
            clock=FixedClock(T0 + timedelta(hours=1)),
        )

    def bounce(self, n: int):
        return self.apply(
            feedback_event(
                FeedbackKind.BOUNCE,
                n,
                f"person{n}@outside.test",
                bounce_type="Permanent",
                bounce_subtype="General",
            )
        )


def test_a_send_counts_its_recipients_in_its_mailboxs_hour_with_the_buckets_ttl():
    at = T0 + timedelta(minutes=59)
    assert sent_increment(ACCOUNT_ID, BOX, at, 3) == Increment(
        ACCOUNT_ID, BOX, hour_label(at), Tally(sends=3), at + BUCKET_RETENTION
    )


def test_an_accounts_counts_are_the_sum_of_its_mailboxes():
    # Given 3 complaints in 24 h spread over three mailboxes of the account (one each: no mailbox rule)
    ledger, directory, audit = _world()
    for n, box in enumerate((BOX, "two@example.com", "three@example.com")):
        ledger.put(box, T0 - timedelta(hours=n), Tally(sends=10, complaints=1))
    # And another account's complaints, which are not this account's
    ledger.put(BOX, T0, Tally(sends=10, complaints=5), account_id="acc-other")
    # When the account is judged
    disabled = enforce(
        mailbox=BOX,
        account_id=ACCOUNT_ID,
        reader=ledger,
        directory=directory,
        audit=audit,
        clock=FixedClock(T0),
        thresholds=DEFAULTS,
    )
    # Then the account is disabled (3 complaints across it), the mailbox (1 of them) is not, in one read
    assert [(d.kind, d.entity_id) for d in disabled] == [("account", ACCOUNT_ID)]
    assert "3 complaints in 24 h across the account" in disabled[0].reason
    assert ledger.reads == 1


@pytest.mark.parametrize(("sent", "disabled"), [(20, True), (21, False)])
def test_a_hard_bounce_over_sender_counted_sends_disables_at_the_rate(sent, disabled):
    # Given a mailbox whose sends the sender counted (no Delivery events: the shipped default)
    world = Sent(sent)
    # When one of them bounces hard: 1 in 20 is 5.00 %, 1 in 21 is 4.76 %
    outcome = world.bounce(0)
    # Then the mailbox is disabled exactly when the rate reaches 5 %, with the sends in the reason
    assert ([d.kind for d in outcome.disabled] == ["mailbox"]) is disabled
    if disabled:
        assert "over 20 sends" in (world.directory.mailboxes[BOX].status_reason or "")


def test_without_counted_sends_one_bounce_is_too_few_attempts_to_judge():
    # Given bounces but no counted sends (what deliveries-only accounting would see without Delivery events)
    world = Sent(20)
    world.ledger.buckets.clear()
    # Then a hard bounce alone is 1 attempt, under the 20 a rate needs: the sender's count is what makes
    # the rate rules work by default
    assert world.bounce(0).disabled == ()


def test_a_send_event_counts_nothing_because_the_sender_already_did():
    # Given a message the sender counted
    world = Sent(1)
    before = dict(world.ledger.buckets)
    # When a Send event arrives for it (a configuration set an operator changed by hand)
    outcome = world.apply(feedback_event(FeedbackKind.SEND, 0, "person0@outside.test"))
    # Then no bucket moves: counted twice, sends would dilute the bounce and complaint rates
    assert world.ledger.buckets == before
    assert outcome.action is Action.IGNORED
    assert "sender counted" in outcome.note


def test_deliveries_with_sender_counted_sends_are_not_double_attempts():
    # Given 20 sends the sender counted, 19 of them delivered (recordDeliveries on)
    world = Sent(20)
    for n in range(1, 20):
        assert world.apply(feedback_event(FeedbackKind.DELIVERY, n, f"person{n}@outside.test")).counted
    # When the 20th bounces hard
    outcome = world.bounce(0)
    # Then the attempts are the 20 sends, not 20 + 19 deliveries + 1 bounce: 1 in 20 still disables
    day = world.ledger.of(BOX, T0)
    assert (day.sends, day.deliveries, day.hard_bounces) == (20, 19, 1)
    assert [d.kind for d in outcome.disabled] == ["mailbox"]


def test_an_event_stamped_ahead_of_this_clock_is_inside_its_own_window():
    # Given a mailbox with one complaint, and a second complaint SES stamped 00:00:01 of the next hour
    # while this function's clock still says 23:59:59 of the last (two machines' clocks)
    world = Sent(2)
    midnight = T0.replace(hour=0, minute=0, second=0) + timedelta(days=1)
    first, second = (
        replace(
            feedback_event(
                FeedbackKind.COMPLAINT, n, f"person{n}@outside.test", complaint_feedback_type="abuse"
            ),
            at=at,
        )
        for n, at in ((0, midnight - timedelta(minutes=5)), (1, midnight + timedelta(seconds=1)))
    )
    world.apply(first)
    outcome = handle_feedback(
        second,
        ports=world.ports,
        deployment=Deployment(account_id=DEPLOYMENT_ACCOUNT),
        clock=FixedClock(midnight - timedelta(seconds=1)),
    )
    # Then its bucket counts: the two complaints disable the mailbox
    assert [d.kind for d in outcome.disabled] == ["mailbox"]
