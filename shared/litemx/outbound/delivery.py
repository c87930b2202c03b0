"""Delivering one queued message: claim it, re-check the kill switches, send once, record the outcome.

A duplicate SQS delivery or a retry never sends twice: only the delivery that moves the message from
`queued` to `sending` (a conditional write) may call the provider. The one remaining window: if the
process dies after the provider accepted the message but before `sent` is written, the message stays
`sending`; once its lease runs out a redelivery takes it over and sends it again. The window is the
time between the provider's answer and one conditional write (milliseconds); closing it entirely would
need the provider to deduplicate, which neither SES nor SMTP does.

Every send the provider accepted is counted into its mailbox's hourly reputation bucket, which its
account's counts sum up (`sends`, the denominator of the rates behind automatic disablement; one plain
UpdateItem), after `sent` is written: the same claim that keeps a duplicate delivery from sending keeps
it from counting, and a failing count can never reopen the resend window (at worst a count is lost,
which can only make a rate look higher).

Not now is not a failure: throttling, the provider's daily quota and another delivery's lease defer the
message (`RetryLaterError`, `retry_at`); the sender re-queues it with a delay instead of failing its
record, so deliberate waiting never uses up the send queue's maxReceiveCount. What does fail a record
repeatedly is given up (`give_up`) on its last receive, so no message sits in the DLQ while its record
says `queued`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from math import ceil

from litemx.addresses import domain_of, person_key
from litemx.clock import Clock
from litemx.directory.models import Status, TokenStatus, Verification
from litemx.errors import NotFoundError
from litemx.messages.models import FINAL_SEND_STATES, MessageStatus, OutboundMessage
from litemx.outbound.audit import message_audit
from litemx.outbound.ports import (
    AuditWriter,
    BlobStore,
    MessageRepository,
    QuotaReleaser,
    SendCounter,
    SendRate,
)
from litemx.policy.models import PolicyStore, Snapshot, SnapshotKeys
from litemx.providers.base import (
    OutboundProvider,
    ProviderBlockedError,
    ProviderRejectedError,
    ProviderThrottledError,
)
from litemx.reputation.models import sent_increment
from litemx.tags import TAG_ACCOUNT, TAG_MAILBOX, TAG_MESSAGE


class Outcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DUPLICATE = "duplicate"


class DeferReason(StrEnum):
    THROTTLED = "throttled"  # the provider's send rate (or an SMTP 4xx)
    QUOTA = "quota"  # the provider's daily sending quota is spent
    LEASE = "lease"  # another delivery holds the message
    RATE = "rate"  # LiteMX's own send-rate bucket (sesSendRate) is used up for this second


class RetryLaterError(Exception):
    """Not now: the message is re-queued with a delay (see `retry_at`), its record is not failed."""

    def __init__(
        self, message: str, *, reason: DeferReason = DeferReason.THROTTLED, not_before: datetime | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.not_before = not_before


# SQS delays a message by at most 15 minutes (DelaySeconds 0..900): longer waits are chained.
MAX_DELAY_SECONDS = 900
THROTTLE_BACKOFF_BASE = timedelta(seconds=10)
THROTTLE_BACKOFF_MAX = timedelta(seconds=MAX_DELAY_SECONDS)
# SES's daily quota is a rolling 24-hour window: capacity comes back as the sends of a day ago age out,
# so a message waiting for quota tries again hourly (24 provider calls a day at most, each refused free).
QUOTA_RETRY_INTERVAL = timedelta(hours=1)
# A message still waiting this long after it was queued fails (`send_expired`) and gives its quota back.
MAX_SEND_AGE = timedelta(days=3)
QUOTA_EXHAUSTED_CODE = "provider_quota_exhausted"
SEND_EXPIRED = "send_expired"
SEND_DEAD_LETTERED = "send_dead_lettered"


def retry_at(error: RetryLaterError, *, deferrals: int, now: datetime) -> datetime:
    """When a deferred message should be tried again (`deferrals`: how often it was deferred before)."""
    if error.not_before is not None:
        return max(error.not_before, now + timedelta(seconds=1))
    if error.reason is DeferReason.QUOTA:
        return now + QUOTA_RETRY_INTERVAL
    backoff: timedelta = THROTTLE_BACKOFF_BASE * 2 ** min(max(deferrals, 0), 16)
    return now + min(backoff, THROTTLE_BACKOFF_MAX)


def delay_seconds(not_before: datetime, now: datetime) -> int:
    """The next link of the chain of SQS delays that ends at `not_before`."""
    return max(0, min(ceil((not_before - now).total_seconds()), MAX_DELAY_SECONDS))


@dataclass(frozen=True)
class DeliveryDeps:
    messages: MessageRepository
    blobs: BlobStore
    provider: OutboundProvider
    policy: PolicyStore
    quotas: QuotaReleaser
    audit: AuditWriter
    clock: Clock
    lease: timedelta
    reputation: SendCounter
    # None: no limit of LiteMX's own (the provider's throttling is still deferred like any other).
    rate: SendRate | None = None


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    message_id: str
    reason_code: str | None = None
    detail: str = ""


class RawMissingError(Exception):
    """A message whose MIME travels inline arrived without it (a hand-made or damaged queue record)."""


def deliver_batch(
    message_ids: Sequence[str], deps: DeliveryDeps, inline: Mapping[str, bytes] | None = None
) -> dict[str, Delivery | Exception]:
    """Deliver one SQS batch: claim it in one write, read the messages and re-check every kill switch in
    two batched reads (a batch of one: its claim returns the message, one read), then send each once.
    Each id maps to its Delivery, or to the exception its record must fail with (RetryLaterError: back
    to the queue; anything else: towards the DLQ). `inline`: the MIME of messages whose queue record
    carries it (service.INLINE_MAX_BYTES)."""
    unique = list(dict.fromkeys(message_ids))
    found: dict[str, OutboundMessage]
    if len(unique) == 1:
        # A batch of one (the default at SES's sandbox rate): the claim's own write answers the record,
        # one plain UpdateItem instead of a transaction and a read.
        one = deps.messages.claim(unique[0], now=deps.clock.now(), lease=deps.lease)
        found = {one.message_id: one} if one is not None else {}
        claimed = set(found)
    else:
        claimed = deps.messages.claim_many(unique, now=deps.clock.now(), lease=deps.lease)
        found = deps.messages.get_many(claimed) if claimed else {}
    results: dict[str, Delivery | Exception] = {}
    for message_id in message_ids:
        if message_id not in claimed:
            results[message_id] = _captured(partial(_not_claimed, message_id, deps))
    messages = [found[m] for m in dict.fromkeys(message_ids) if m in found]  # a duplicate record sends once
    for message_id in claimed - set(found):
        results[message_id] = NotFoundError(f"message {message_id} does not exist")
    snapshots = _kill_switch_snapshots(messages, deps)
    for message, snapshot in zip(messages, snapshots, strict=True):
        raw = (inline or {}).get(message.message_id)
        results[message.message_id] = _captured(partial(_deliver_claimed, message, snapshot, deps, raw))
    return results


def _kill_switch_snapshots(messages: Sequence[OutboundMessage], deps: DeliveryDeps) -> list[Snapshot]:
    """The kill switches, read eventually consistent (half the read units): a switch thrown a moment ago
    may not show yet. A message they would cancel is read again consistently first, so that no message
    is cancelled on a read that missed a write of the last moment (a token or mailbox just re-enabled)."""
    if not messages:
        return []
    snapshots = deps.policy.load_snapshots([_keys(m) for m in messages], consistent=False)
    now = deps.clock.now()
    suspect = [i for i, (m, s) in enumerate(zip(messages, snapshots, strict=True)) if _kill_switch(m, s, now)]
    if suspect:
        fresh = deps.policy.load_snapshots([_keys(messages[i]) for i in suspect], consistent=True)
        for i, snapshot in zip(suspect, fresh, strict=True):
            snapshots[i] = snapshot
    return snapshots


def deliver(message_id: str, deps: DeliveryDeps) -> Delivery:
    result = deliver_batch([message_id], deps)[message_id]
    if isinstance(result, Exception):
        raise result
    return result


def _captured(work: Callable[[], Delivery]) -> Delivery | Exception:
    try:
        return work()
    except Exception as error:  # handed back per record: one record's failure never stops the batch
        return error


def _deliver_claimed(
    message: OutboundMessage, snapshot: Snapshot, deps: DeliveryDeps, inline: bytes | None = None
) -> Delivery:
    refusal = _kill_switch(message, snapshot, deps.clock.now())
    if refusal is not None:
        code, detail = refusal
        return _finish(
            message, MessageStatus.CANCELLED, Outcome.CANCELLED, deps, code, detail, give_back=True
        )
    if deps.rate is not None:
        # SES counts each recipient against the send rate: take them from the shared per-second bucket
        # before calling the provider, so concurrent senders together stay within the rate.
        retry = deps.rate.acquire(len(message.recipients), now=deps.clock.now())
        if retry is not None:
            deps.messages.transition(message, MessageStatus.QUEUED, now=deps.clock.now())
            raise RetryLaterError(
                "the send rate's current second is used up", reason=DeferReason.RATE, not_before=retry
            )
    raw = _raw(message, inline, deps)
    tags = {TAG_ACCOUNT: message.account_id, TAG_MAILBOX: message.mailbox, TAG_MESSAGE: message.message_id}
    try:
        result = deps.provider.send(raw, sender=message.mailbox, recipients=message.recipients, tags=tags)
    except ProviderThrottledError as error:
        now = deps.clock.now()
        if now - message.created_at > MAX_SEND_AGE:
            return _finish(
                message,
                MessageStatus.FAILED,
                Outcome.FAILED,
                deps,
                SEND_EXPIRED,
                f"Not sent within {MAX_SEND_AGE.days} days of queueing: {error.message}",
                give_back=True,
            )
        deps.messages.transition(message, MessageStatus.QUEUED, now=now)
        reason = DeferReason.QUOTA if error.code == QUOTA_EXHAUSTED_CODE else DeferReason.THROTTLED
        raise RetryLaterError(error.message, reason=reason) from error
    except (ProviderRejectedError, ProviderBlockedError) as error:
        # The provider was asked: the message has used its quota (docs/policy.md, "Refunds").
        return _finish(
            message, MessageStatus.FAILED, Outcome.FAILED, deps, error.code, error.message, give_back=False
        )
    now = deps.clock.now()
    sent = replace(message, status=MessageStatus.SENT)
    deps.messages.mark_sent(
        message,
        now=now,
        provider=result.provider,
        provider_message_id=result.provider_message_id,
        audit=message_audit(sent, "message.sent", now, provider=result.provider),
    )
    # Counted once per acceptance, whatever `mark_sent` found: the provider sends (and SES judges) it anyway.
    deps.reputation.add([sent_increment(message.account_id, message.mailbox, now, len(message.recipients))])
    return Delivery(Outcome.SENT, message.message_id, detail=result.provider_message_id)


def _raw(message: OutboundMessage, inline: bytes | None, deps: DeliveryDeps) -> bytes:
    """The MIME: from the queue message when it travelled inline, else from the bucket."""
    if message.raw_key:
        return deps.blobs.get(message.raw_key)
    if inline is None:
        # Put back to `queued`: the record fails, and on its last receive give_up settles the message.
        deps.messages.transition(message, MessageStatus.QUEUED, now=deps.clock.now())
        raise RawMissingError(f"message {message.message_id} travels inline; its queue record has no MIME")
    return inline


def _not_claimed(message_id: str, deps: DeliveryDeps) -> Delivery:
    current = deps.messages.get(message_id)  # NotFoundError: a poison record, left to reach the DLQ
    if current.status in FINAL_SEND_STATES:
        return Delivery(Outcome.DUPLICATE, message_id, detail=f"already {current.status.value}")
    if deps.clock.now() - current.created_at > MAX_SEND_AGE:
        detail = f"Not sent within {MAX_SEND_AGE.days} days of queueing (still {current.status.value})."
        return _finish(
            current, MessageStatus.FAILED, Outcome.FAILED, deps, SEND_EXPIRED, detail, give_back=True
        )
    raise RetryLaterError(
        f"message {message_id} is {current.status.value} under another delivery's lease",
        reason=DeferReason.LEASE,
        not_before=current.lease_until,
    )


def give_up(message_id: str, deps: DeliveryDeps, *, detail: str) -> Delivery | None:
    """The send queue is about to dead-letter this message's record: fail the message with a reason (and
    give its quota back) first, so the DLQ never holds a message whose record still says queued.
    None when there is nothing to settle (unknown id, or already final)."""
    try:
        message = deps.messages.get(message_id)
    except NotFoundError:
        return None
    if message.status in FINAL_SEND_STATES:
        return None
    return _finish(
        message, MessageStatus.FAILED, Outcome.FAILED, deps, SEND_DEAD_LETTERED, detail, give_back=True
    )


def _finish(
    message: OutboundMessage,
    status: MessageStatus,
    outcome: Outcome,
    deps: DeliveryDeps,
    code: str,
    detail: str,
    *,
    give_back: bool,
) -> Delivery:
    done = deps.messages.transition(message, status, now=deps.clock.now(), reason_code=code, reason=detail)
    if done is not None:
        if give_back:
            deps.quotas.refund(message)
        deps.audit.record(message_audit(done, f"message.{status.value}", deps.clock.now()))
    return Delivery(outcome, message.message_id, reason_code=code, detail=detail)


def _keys(message: OutboundMessage) -> SnapshotKeys:
    return SnapshotKeys(
        account_id=message.account_id,
        token_id=message.token_id,
        mailbox=message.mailbox,
        domain=domain_of(message.mailbox),
        # The kill switches only: no correspondents, contact marks or policy overrides (a read unit each).
        recipients=(),
        counter_keys=(),
        suppression_keys=tuple(dict.fromkeys(k for r in message.recipients for k in (person_key(r), r))),
        policy_overrides=False,
    )


def _kill_switch(message: OutboundMessage, snapshot: Snapshot, now: datetime) -> tuple[str, str] | None:
    """Anything disabled or suppressed since the message was queued cancels it."""
    token, account, domain, mailbox = snapshot.token, snapshot.account, snapshot.domain, snapshot.mailbox
    if token is None or token.status is TokenStatus.REVOKED:
        return "token_revoked", f"Token {message.token_id} was revoked after the message was queued."
    if token.status is not TokenStatus.ACTIVE:
        return "token_disabled", f"Token {message.token_id} was disabled after the message was queued."
    if account is None or account.status is not Status.ACTIVE:
        return "account_disabled", f"Account {message.account_id} was disabled after the message was queued."
    if (
        domain is None
        or domain.status is not Status.ACTIVE
        or domain.verification is not Verification.VERIFIED
    ):
        return (
            "domain_disabled",
            f"Domain {domain_of(message.mailbox)} was disabled after the message was queued.",
        )
    if mailbox is None or mailbox.status is not Status.ACTIVE:
        return "mailbox_disabled", f"Mailbox {message.mailbox} was disabled after the message was queued."
    recipients = {key for r in message.recipients for key in (r, person_key(r))}
    for entry in snapshot.suppressions:
        if entry.address in recipients and entry.is_active(now):
            return "recipient_suppressed", f"{entry.address} was suppressed after the message was queued."
    return None
