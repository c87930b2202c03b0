"""Delivering one queued message: claim it, re-check the kill switches, send once, record the outcome.

A duplicate SQS delivery or a retry never sends twice: only the delivery that moves the message from
`queued` to `sending` (a conditional write) may call the provider. The one remaining window: if the
process dies after the provider accepted the message but before `sent` is written, the message stays
`sending`; once its lease runs out a redelivery takes it over and sends it again. The window is the
time between the provider's answer and one conditional write (milliseconds); closing it entirely would
need the provider to deduplicate, which neither SES nor SMTP does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial

from litemx.addresses import domain_of, person_key
from litemx.clock import Clock
from litemx.directory.models import Status, TokenStatus, Verification
from litemx.errors import NotFoundError
from litemx.messages.models import FINAL_SEND_STATES, MessageStatus, OutboundMessage
from litemx.outbound.ports import AuditWriter, BlobStore, MessageRepository, QuotaReleaser
from litemx.outbound.service import message_audit
from litemx.policy.models import PolicyStore, Snapshot, SnapshotKeys
from litemx.providers.base import (
    OutboundProvider,
    ProviderBlockedError,
    ProviderRejectedError,
    ProviderThrottledError,
)

TAG_ACCOUNT, TAG_MAILBOX, TAG_MESSAGE = "litemx-account", "litemx-mailbox", "litemx-message"


class Outcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DUPLICATE = "duplicate"


class RetryLaterError(Exception):
    """Not now: the record goes back to the queue (throttling, or another delivery holds the lease)."""


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


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    message_id: str
    reason_code: str | None = None
    detail: str = ""


def deliver_batch(message_ids: Sequence[str], deps: DeliveryDeps) -> dict[str, Delivery | Exception]:
    """Deliver one SQS batch: claim it in one write, read the messages and re-check every kill switch in
    two batched reads, then send each once. Each id maps to its Delivery, or to the exception its record
    must fail with (RetryLaterError: back to the queue; anything else: towards the DLQ)."""
    claimed = deps.messages.claim_many(message_ids, now=deps.clock.now(), lease=deps.lease)
    results: dict[str, Delivery | Exception] = {}
    for message_id in message_ids:
        if message_id not in claimed:
            results[message_id] = _captured(partial(_not_claimed, message_id, deps))
    found = deps.messages.get_many(claimed)
    messages = [found[m] for m in dict.fromkeys(message_ids) if m in found]  # a duplicate record sends once
    for message_id in claimed - set(found):
        results[message_id] = NotFoundError(f"message {message_id} does not exist")
    snapshots = deps.policy.load_snapshots([_keys(m) for m in messages]) if messages else []
    for message, snapshot in zip(messages, snapshots, strict=True):
        results[message.message_id] = _captured(partial(_deliver_claimed, message, snapshot, deps))
    return results


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


def _deliver_claimed(message: OutboundMessage, snapshot: Snapshot, deps: DeliveryDeps) -> Delivery:
    refusal = _kill_switch(message, snapshot, deps.clock.now())
    if refusal is not None:
        code, detail = refusal
        return _finish(
            message, MessageStatus.CANCELLED, Outcome.CANCELLED, deps, code, detail, give_back=True
        )
    raw = deps.blobs.get(message.raw_key)
    tags = {TAG_ACCOUNT: message.account_id, TAG_MAILBOX: message.mailbox, TAG_MESSAGE: message.message_id}
    try:
        result = deps.provider.send(raw, sender=message.mailbox, recipients=message.recipients, tags=tags)
    except ProviderThrottledError as error:
        deps.messages.transition(message, MessageStatus.QUEUED, now=deps.clock.now())
        raise RetryLaterError(error.message) from error
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
    return Delivery(Outcome.SENT, message.message_id, detail=result.provider_message_id)


def _not_claimed(message_id: str, deps: DeliveryDeps) -> Delivery:
    current = deps.messages.get(message_id)  # NotFoundError: a poison record, left to reach the DLQ
    if current.status in FINAL_SEND_STATES:
        return Delivery(Outcome.DUPLICATE, message_id, detail=f"already {current.status.value}")
    raise RetryLaterError(f"message {message_id} is {current.status.value} under another delivery's lease")


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
        recipients=tuple(dict.fromkeys(person_key(r) for r in message.recipients)),
        counter_keys=(),
        suppression_keys=tuple(dict.fromkeys(k for r in message.recipients for k in (person_key(r), r))),
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
