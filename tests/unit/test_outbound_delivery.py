"""The sender's state machine against in-memory fakes: once-only sends, retries, cancellations."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pytest

from litemx.audit.models import AuditRecord
from litemx.clock import FixedClock
from litemx.directory.models import Status
from litemx.errors import NotFoundError
from litemx.messages.models import TRANSITIONS, MessageStatus, OutboundMessage, ReservedCounter
from litemx.outbound.delivery import (
    MAX_DELAY_SECONDS,
    MAX_SEND_AGE,
    QUOTA_RETRY_INTERVAL,
    DeferReason,
    DeliveryDeps,
    Outcome,
    RetryLaterError,
    delay_seconds,
    deliver,
    deliver_batch,
    give_up,
    retry_at,
)
from litemx.providers.base import (
    ProviderBlockedError,
    ProviderRejectedError,
    ProviderStatus,
    ProviderThrottledError,
    SendResult,
)
from litemx.reputation.models import BUCKET_RETENTION, Increment, Tally, hour_label
from tests.fakes import ACCOUNT_ID, MAILBOX, T0, TOKEN_ID, standard_world


@dataclass
class FakeMessages:
    messages: dict[str, OutboundMessage] = field(default_factory=dict)
    audit: list[AuditRecord] = field(default_factory=list)  # written with the sent transition

    def create(self, message: OutboundMessage) -> OutboundMessage:
        self.messages[message.message_id] = message
        return message

    def get(self, message_id: str) -> OutboundMessage:
        if message_id not in self.messages:
            raise NotFoundError(message_id)
        return self.messages[message_id]

    def claim(self, message_id: str, *, now: datetime, lease: timedelta) -> OutboundMessage | None:
        current = self.get(message_id)
        expired = (
            current.status is MessageStatus.SENDING
            and current.lease_until is not None
            and current.lease_until < now
        )
        if current.status is not MessageStatus.QUEUED and not expired:
            return None
        claimed = replace(
            current, status=MessageStatus.SENDING, lease_until=now + lease, attempts=current.attempts + 1
        )
        self.messages[message_id] = claimed
        return claimed

    def claim_many(self, message_ids: Sequence[str], *, now: datetime, lease: timedelta) -> set[str]:
        return {
            m for m in message_ids if m in self.messages and self.claim(m, now=now, lease=lease) is not None
        }

    def get_many(self, message_ids: Iterable[str]) -> dict[str, OutboundMessage]:
        return {m: self.messages[m] for m in message_ids if m in self.messages}

    def mark_sent(
        self, message: OutboundMessage, *, now: datetime, provider: str, provider_message_id: str, audit
    ):
        self.audit.append(audit)
        return self.transition(
            message, MessageStatus.SENT, now=now, provider=provider, provider_message_id=provider_message_id
        )

    def transition(
        self, message: OutboundMessage, status: MessageStatus, *, now: datetime, **fields: str | None
    ):
        if (
            self.messages[message.message_id].status is not message.status
            or status not in TRANSITIONS[message.status]
        ):
            return None
        changes = {k: v for k, v in fields.items() if v is not None}
        moved = replace(message, status=status, updated_at=now, **changes)  # type: ignore[arg-type]
        self.messages[message.message_id] = moved
        return moved


@dataclass
class FakeProvider:
    failures: list[Exception] = field(default_factory=list)
    sent: list[tuple[str, tuple[str, ...], dict[str, str]]] = field(default_factory=list)
    name: str = "fake"

    def send(
        self, raw: bytes, *, sender: str, recipients: tuple[str, ...], tags: Mapping[str, str]
    ) -> SendResult:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((sender, recipients, dict(tags)))
        return SendResult("fake", f"fake-{len(self.sent)}")

    def status(self) -> ProviderStatus:
        return ProviderStatus("fake", sandboxed=False, sending_enabled=True)


@dataclass
class FakeQuotas:
    released: list[ReservedCounter] = field(default_factory=list)

    def refund(self, message: OutboundMessage) -> None:
        self.released.extend(message.reserved)


@dataclass
class FakeAudit:
    records: list[AuditRecord] = field(default_factory=list)

    def record(self, record: AuditRecord) -> None:
        self.records.append(record)


@dataclass
class FakeSendCounter:
    """The reputation buckets as the sender moves them: every increment, in order."""

    added: list[Increment] = field(default_factory=list)
    failure: Exception | None = None

    def add(self, counts: Sequence[Increment]) -> None:
        if self.failure is not None:
            raise self.failure
        self.added.extend(counts)

    def sends(self) -> dict[tuple[str, str, str], int]:
        """(account, mailbox, hour) -> sends counted."""
        totals: dict[tuple[str, str, str], int] = {}
        for increment in self.added:
            key = (increment.account_id, increment.mailbox, increment.hour)
            totals[key] = totals.get(key, 0) + increment.tally.sends
        return totals


class FakeBlobs:
    def put(self, key: str, data: bytes) -> None:  # pragma: no cover - not used by delivery
        raise AssertionError

    def get(self, key: str) -> bytes:
        return b"From: support@example.com\r\n\r\nhi"


def _setup(*failures: Exception):
    world, _ = standard_world()
    messages, provider, quotas, audit = (
        FakeMessages(),
        FakeProvider(list(failures)),
        FakeQuotas(),
        FakeAudit(),
    )
    message = OutboundMessage(
        message_id="msg-1",
        account_id=ACCOUNT_ID,
        mailbox=MAILBOX,
        token_id=TOKEN_ID,
        recipients=("alice@outside.test",),
        status=MessageStatus.QUEUED,
        created_at=T0,
        updated_at=T0,
        raw_key="k",
        reserved=(ReservedCounter("c1", 1),),
    )
    messages.create(message)
    deps = DeliveryDeps(
        messages=messages,
        blobs=FakeBlobs(),
        provider=provider,
        policy=world,
        quotas=quotas,
        audit=audit,
        clock=FixedClock(T0),
        lease=timedelta(minutes=2),
        reputation=FakeSendCounter(),
    )
    return deps, world, messages, provider, quotas, audit


def counter(deps: DeliveryDeps) -> FakeSendCounter:
    assert isinstance(deps.reputation, FakeSendCounter)
    return deps.reputation


def test_sends_once_even_when_delivered_twice() -> None:
    deps, _, messages, provider, _, _ = _setup()
    assert deliver("msg-1", deps).outcome is Outcome.SENT
    assert deliver("msg-1", deps).outcome is Outcome.DUPLICATE
    assert len(provider.sent) == 1
    assert provider.sent[0][2] == {
        "litemx-account": ACCOUNT_ID,
        "litemx-mailbox": MAILBOX,
        "litemx-message": "msg-1",
    }
    assert messages.get("msg-1").status is MessageStatus.SENT
    assert [r.event for r in messages.audit] == ["message.sent"]  # written with the sent transition


def test_throttling_requeues_and_retries_later() -> None:
    deps, _, messages, provider, quotas, _ = _setup(ProviderThrottledError("provider_throttled", "slow down"))
    with pytest.raises(RetryLaterError):
        deliver("msg-1", deps)
    assert messages.get("msg-1").status is MessageStatus.QUEUED
    assert deliver("msg-1", deps).outcome is Outcome.SENT
    assert len(provider.sent) == 1
    assert quotas.released == []


@pytest.mark.parametrize(
    "failure",
    [
        ProviderRejectedError("provider_rejected", "MessageRejected"),
        ProviderBlockedError("outbound_blocked.provider_paused", "paused"),
    ],
)
def test_a_message_the_provider_refused_has_used_its_quota(failure: Exception) -> None:
    # Given a message whose provider attempt fails for good
    deps, _, messages, _, quotas, _ = _setup(failure)
    # When it is delivered
    delivery = deliver("msg-1", deps)
    # Then it fails with the provider's reason, and nothing is given back: the provider was asked (an
    # envelope SES rejects must not buy free contact marks)
    assert delivery.outcome is Outcome.FAILED
    assert messages.get("msg-1").reason_code == getattr(failure, "code", None)
    assert quotas.released == []


def test_a_live_lease_of_another_delivery_means_retry_later() -> None:
    deps, _, messages, provider, _, _ = _setup()
    messages.messages["msg-1"] = replace(
        messages.get("msg-1"), status=MessageStatus.SENDING, lease_until=T0 + timedelta(seconds=30)
    )
    with pytest.raises(RetryLaterError):
        deliver("msg-1", deps)
    assert provider.sent == []


def test_an_expired_lease_is_taken_over() -> None:
    """The documented window: the previous holder died; its send may be repeated."""
    deps, _, messages, provider, _, _ = _setup()
    messages.messages["msg-1"] = replace(
        messages.get("msg-1"), status=MessageStatus.SENDING, lease_until=T0 - timedelta(seconds=1)
    )
    assert deliver("msg-1", deps).outcome is Outcome.SENT
    assert len(provider.sent) == 1


def test_unknown_message_is_a_poison_record() -> None:
    deps, *_ = _setup()
    with pytest.raises(NotFoundError):
        deliver("msg-unknown", deps)


def test_kill_switches_after_queueing_cancel_and_give_back() -> None:
    deps, world, messages, provider, quotas, audit = _setup()
    world.accounts[ACCOUNT_ID] = replace(world.accounts[ACCOUNT_ID], status=Status.DISABLED)
    delivery = deliver("msg-1", deps)
    assert (delivery.outcome, delivery.reason_code) == (Outcome.CANCELLED, "account_disabled")
    assert messages.get("msg-1").status is MessageStatus.CANCELLED
    assert provider.sent == []
    assert quotas.released == [ReservedCounter("c1", 1)]
    assert [r.event for r in audit.records] == ["message.cancelled"]


def test_a_batch_is_claimed_and_checked_together_and_each_message_sent_once() -> None:
    # Given three queued messages, one of them named twice in the batch, and one unknown id
    deps, _, messages, provider, _, _ = _setup()
    for n in (2, 3):
        messages.create(replace(messages.get("msg-1"), message_id=f"msg-{n}"))

    # When the batch is delivered
    results = deliver_batch(["msg-1", "msg-2", "msg-2", "msg-3", "msg-unknown"], deps)

    # Then each known message is sent exactly once and the unknown one is a poison record
    assert {m: getattr(r, "outcome", type(r).__name__) for m, r in results.items()} == {
        "msg-1": Outcome.SENT,
        "msg-2": Outcome.SENT,
        "msg-3": Outcome.SENT,
        "msg-unknown": "NotFoundError",
    }
    assert len(provider.sent) == 3


# --- deferrals never fail a record; what does fail is settled before the DLQ (#12) --------------------


def test_a_spent_daily_quota_defers_for_an_hour_not_a_backoff() -> None:
    deps, _, messages, _, quotas, _ = _setup(ProviderThrottledError("provider_quota_exhausted", "quota"))
    with pytest.raises(RetryLaterError) as deferred:
        deliver("msg-1", deps)
    assert deferred.value.reason is DeferReason.QUOTA
    assert retry_at(deferred.value, deferrals=0, now=T0) == T0 + QUOTA_RETRY_INTERVAL
    assert messages.get("msg-1").status is MessageStatus.QUEUED
    assert quotas.released == []


def test_throttling_backs_off_exponentially_up_to_the_sqs_delay_limit() -> None:
    throttled = RetryLaterError("slow down")
    waits = [(retry_at(throttled, deferrals=n, now=T0) - T0).total_seconds() for n in range(9)]
    assert waits == [10, 20, 40, 80, 160, 320, 640, 900, 900]


def test_a_held_lease_defers_until_the_lease_ends() -> None:
    deps, _, messages, _, _, _ = _setup()
    lease_end = T0 + timedelta(seconds=30)
    messages.messages["msg-1"] = replace(
        messages.get("msg-1"), status=MessageStatus.SENDING, lease_until=lease_end
    )
    with pytest.raises(RetryLaterError) as deferred:
        deliver("msg-1", deps)
    assert deferred.value.reason is DeferReason.LEASE
    assert retry_at(deferred.value, deferrals=3, now=T0) == lease_end


def test_long_waits_are_chained_in_sqs_sized_delays() -> None:
    not_before = T0 + QUOTA_RETRY_INTERVAL
    assert delay_seconds(not_before, T0) == MAX_DELAY_SECONDS
    assert delay_seconds(not_before, not_before - timedelta(seconds=100)) == 100
    assert delay_seconds(not_before, not_before + timedelta(seconds=5)) == 0


def test_a_message_still_throttled_after_days_fails_and_gives_quota_back() -> None:
    deps, _, messages, _, quotas, _ = _setup(ProviderThrottledError("provider_quota_exhausted", "quota"))
    deps = replace(deps, clock=FixedClock(T0 + MAX_SEND_AGE + timedelta(minutes=1)))
    delivery = deliver("msg-1", deps)
    assert (delivery.outcome, delivery.reason_code) == (Outcome.FAILED, "send_expired")
    assert messages.get("msg-1").status is MessageStatus.FAILED
    assert quotas.released == [ReservedCounter("c1", 1)]


@pytest.mark.parametrize("status", [MessageStatus.QUEUED, MessageStatus.SENDING])
def test_giving_up_fails_an_unsent_message_with_a_reason(status: MessageStatus) -> None:
    deps, _, messages, provider, quotas, audit = _setup()
    messages.messages["msg-1"] = replace(messages.get("msg-1"), status=status)
    settled = give_up("msg-1", deps, detail="parked")
    assert settled is not None
    assert settled.reason_code == "send_dead_lettered"
    assert messages.get("msg-1").status is MessageStatus.FAILED
    assert messages.get("msg-1").reason_code == "send_dead_lettered"
    assert quotas.released == [ReservedCounter("c1", 1)]
    assert [r.event for r in audit.records] == ["message.failed"]
    assert provider.sent == []


def test_giving_up_leaves_final_and_unknown_messages_alone() -> None:
    deps, _, messages, _, quotas, _ = _setup()
    assert deliver("msg-1", deps).outcome is Outcome.SENT
    assert give_up("msg-1", deps, detail="parked") is None
    assert give_up("msg-unknown", deps, detail="parked") is None
    assert messages.get("msg-1").status is MessageStatus.SENT
    assert quotas.released == []


@dataclass
class FakeRate:
    """Grants `room` recipients, then answers 'next second'."""

    room: int
    taken: list[int] = field(default_factory=list)

    def acquire(self, units: int, *, now: datetime) -> datetime | None:
        if units > self.room:
            return now + timedelta(seconds=1)
        self.room -= units
        self.taken.append(units)
        return None


def test_the_send_rate_bucket_is_taken_per_recipient_before_the_provider_is_called() -> None:
    deps, _, messages, provider, quotas, _ = _setup()
    rate = FakeRate(room=1)
    deps = replace(deps, rate=rate)
    assert deliver("msg-1", deps).outcome is Outcome.SENT
    assert rate.taken == [1]
    # When the second is used up, the next message waits for the next second, unsent and still queued
    messages.create(replace(messages.get("msg-1"), message_id="msg-2", status=MessageStatus.QUEUED))
    with pytest.raises(RetryLaterError) as deferred:
        deliver("msg-2", deps)
    assert deferred.value.reason is DeferReason.RATE
    assert retry_at(deferred.value, deferrals=0, now=T0) == T0 + timedelta(seconds=1)
    assert messages.get("msg-2").status is MessageStatus.QUEUED
    assert len(provider.sent) == 1
    assert quotas.released == []


# --- the sender counts what it sent into the reputation buckets (#13) ---------------------------------


def test_a_sent_message_counts_its_recipients_once_in_its_mailboxs_bucket() -> None:
    # Given a queued message to three recipients
    deps, _, messages, provider, _, _ = _setup()
    recipients = ("alice@outside.test", "bob@outside.test", "carol@outside.test")
    messages.messages["msg-1"] = replace(messages.get("msg-1"), recipients=recipients)
    # When it is sent, and its SQS record is delivered again
    assert deliver("msg-1", deps).outcome is Outcome.SENT
    assert deliver("msg-1", deps).outcome is Outcome.DUPLICATE
    # Then the mailbox's bucket of the hour it was sent in (its account's counts sum them) counts three
    # sends, once, with the reputation TTL, and nothing else moved
    assert len(provider.sent) == 1
    assert counter(deps).added == [
        Increment(ACCOUNT_ID, MAILBOX, hour_label(T0), Tally(sends=3), T0 + BUCKET_RETENTION)
    ]


@pytest.mark.parametrize(
    "failure",
    [
        ProviderRejectedError("provider_rejected", "MessageRejected"),
        ProviderBlockedError("outbound_blocked.provider_paused", "paused"),
        ProviderThrottledError("provider_throttled", "slow down"),
    ],
)
def test_a_send_the_provider_did_not_accept_counts_nothing(failure: Exception) -> None:
    deps, *_ = _setup(failure)
    with contextlib.suppress(RetryLaterError):
        deliver("msg-1", deps)
    assert counter(deps).added == []


def test_a_cancelled_or_deferred_message_counts_nothing() -> None:
    # Given a message whose account was disabled after queueing, and one waiting for the send rate
    deps, world, messages, _, _, _ = _setup()
    messages.create(replace(messages.get("msg-1"), message_id="msg-2"))
    world.accounts[ACCOUNT_ID] = replace(world.accounts[ACCOUNT_ID], status=Status.DISABLED)
    assert deliver("msg-1", deps).outcome is Outcome.CANCELLED
    world.accounts[ACCOUNT_ID] = replace(world.accounts[ACCOUNT_ID], status=Status.ACTIVE)
    with pytest.raises(RetryLaterError):
        deliver("msg-2", replace(deps, rate=FakeRate(room=0)))
    # Then neither moved a reputation bucket
    assert counter(deps).added == []


def test_a_batch_counts_each_message_once_even_when_named_twice() -> None:
    deps, _, messages, provider, _, _ = _setup()
    messages.create(replace(messages.get("msg-1"), message_id="msg-2"))
    deliver_batch(["msg-1", "msg-2", "msg-2"], deps)
    assert len(provider.sent) == 2
    assert counter(deps).sends() == {(ACCOUNT_ID, MAILBOX, hour_label(T0)): 2}


def test_the_count_follows_the_sent_transition_so_a_failing_count_never_resends() -> None:
    # Given a reputation table that fails the count
    deps, _, messages, provider, _, _ = _setup()
    counter(deps).failure = RuntimeError("reputation table unavailable")
    # When the message is sent, the record fails with it
    with pytest.raises(RuntimeError):
        deliver("msg-1", deps)
    # Then the message was already `sent`: the redelivery of the record does not send it again
    assert messages.get("msg-1").status is MessageStatus.SENT
    counter(deps).failure = None
    assert deliver("msg-1", deps).outcome is Outcome.DUPLICATE
    assert len(provider.sent) == 1
