"""Outbound message storage: every state change is a conditional write (pynamodb stays in here)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from litemx.audit.models import AuditRecord
from litemx.audit.store import DEFAULT_AUDIT_RETENTION, entry_from_record
from litemx.errors import AlreadyExistsError, NotFoundError
from litemx.messages.models import TRANSITIONS, MessageStatus, OutboundMessage, ReservedCounter
from litemx.storage.session import shared_connection
from litemx.storage.tables import AuditEntry, MessageRecord

RETENTION = timedelta(days=90)
_CLAIM_ROUNDS = 3
# The provider's id is a key of the `by_provider_message_id` index: non-empty, and far below its 2,048
# bytes (SES ids are about 60 characters; an SMTP relay's answer could be anything).
MAX_PROVIDER_ID_BYTES = 1_000


def provider_id(value: str | None) -> str | None:
    """The provider's message id as stored: None when empty, cut to MAX_PROVIDER_ID_BYTES."""
    if not value:
        return None
    return value.encode("utf-8", "replace")[:MAX_PROVIDER_ID_BYTES].decode("utf-8", "ignore") or None


def _from_record(record: MessageRecord) -> OutboundMessage:
    return OutboundMessage(
        message_id=record.message_id,
        account_id=record.account_id,
        mailbox=record.mailbox,
        token_id=record.token_id,
        recipients=tuple(str(r) for r in record.recipients),
        status=MessageStatus(record.status),
        created_at=record.created_at,
        updated_at=record.updated_at,
        raw_key=record.raw_key,
        subject=record.subject,
        rfc_message_id=record.rfc_message_id,
        reserved=tuple(ReservedCounter(key, amount) for key, amount in json.loads(record.reserved)),
        attempts=int(record.attempts),
        lease_until=record.lease_until,
        provider=record.provider,
        provider_message_id=record.provider_message_id,
        reason_code=record.reason_code,
        reason=record.reason,
        events=tuple(sorted(record.events or ())),
    )


def message_record(message: OutboundMessage) -> MessageRecord:
    """The stored form of a message (also written inside the policy's quota transaction)."""
    return MessageRecord(
        message.message_id,
        account_id=message.account_id,
        mailbox=message.mailbox,
        token_id=message.token_id,
        recipients=list(message.recipients),
        status=message.status.value,
        created_at=message.created_at,
        updated_at=message.updated_at,
        raw_key=message.raw_key,
        subject=message.subject,
        rfc_message_id=message.rfc_message_id,
        reserved=json.dumps([[r.key, r.amount] for r in message.reserved]),
        expires_at=int((message.created_at + RETENTION).timestamp()),
    )


def _claim_actions(now: datetime, lease: timedelta) -> list[Action]:
    return [
        MessageRecord.status.set(MessageStatus.SENDING.value),
        MessageRecord.lease_until.set(now + lease),
        MessageRecord.attempts.add(1),
        MessageRecord.updated_at.set(now),
    ]


def _claimable(now: datetime) -> Condition:
    """queued, or `sending` whose lease ran out (its sender died)."""
    condition: Condition = MessageRecord.message_id.exists() & (
        (MessageRecord.status == MessageStatus.QUEUED.value)
        | ((MessageRecord.status == MessageStatus.SENDING.value) & (MessageRecord.lease_until < now))
    )
    return condition


def _from_states(states: frozenset[MessageStatus]) -> Condition:
    return MessageRecord.status.is_in(*(s.value for s in states))


class MessageStore:
    def __init__(self, *, audit_retention: timedelta = DEFAULT_AUDIT_RETENTION) -> None:
        self._connection = shared_connection()
        self._audit_retention = audit_retention

    def create(self, message: OutboundMessage) -> OutboundMessage:
        try:
            message_record(message).save(condition=MessageRecord.message_id.does_not_exist())
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                raise AlreadyExistsError(f"message {message.message_id} already exists") from error
            raise
        return message

    def get(self, message_id: str) -> OutboundMessage:
        try:
            return _from_record(MessageRecord.get(message_id, consistent_read=True))
        except MessageRecord.DoesNotExist as missing:
            raise NotFoundError(f"message {message_id} does not exist") from missing

    def claim(self, message_id: str, *, now: datetime, lease: timedelta) -> OutboundMessage | None:
        """queued -> sending, or take over a `sending` whose lease ran out (its sender died).

        Returns None when another delivery owns the message or it is already final: a duplicate SQS
        delivery then sends nothing.
        """
        record = MessageRecord(message_id)
        try:
            record.update(actions=_claim_actions(now, lease), condition=_claimable(now))
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return _from_record(record)

    def claim_many(self, message_ids: Sequence[str], *, now: datetime, lease: timedelta) -> set[str]:
        """Claim a whole SQS batch in one transaction (the ids it returns may be sent); messages another
        delivery owns, or already final, are left out. Falls back to one claim each under contention."""
        pending = list(dict.fromkeys(message_ids))
        for _ in range(_CLAIM_ROUNDS):
            if not pending:
                return set()
            try:
                with TransactWrite(connection=self._connection) as transaction:
                    for message_id in pending:
                        transaction.update(
                            MessageRecord(message_id),
                            actions=_claim_actions(now, lease),
                            condition=_claimable(now),
                        )
                return set(pending)
            except TransactWriteError as error:
                reasons = error.cancellation_reasons or []
                refused = {
                    pending[i]
                    for i, r in enumerate(reasons)
                    if r is not None and r.code == "ConditionalCheckFailed"
                }
                if not refused:
                    break
                pending = [m for m in pending if m not in refused]
        return {m for m in pending if self.claim(m, now=now, lease=lease) is not None}

    def get_many(self, message_ids: Iterable[str]) -> dict[str, OutboundMessage]:
        return {
            r.message_id: _from_record(r)
            for r in MessageRecord.batch_get(list(message_ids), consistent_read=True)
        }

    def mark_sent(
        self,
        message: OutboundMessage,
        *,
        now: datetime,
        provider: str,
        provider_message_id: str,
        audit: AuditRecord,
    ) -> OutboundMessage | None:
        """The audit entry, then sending -> sent, right after the provider's answer: two plain writes (1 WRU
        each) instead of one transaction (2 WRU per item). The audit entry goes first because it is true as
        soon as the provider has accepted the message: a crash between the two leaves a truthful entry and
        a message still `sending`, which a redelivery after its lease sends again (and audits again, under
        the next attempt's request id). The `sent` write is the one whose absence after a crash reopens the
        resend window (docs/outbound.md). None when the message was no longer `sending`."""
        stored_id = provider_id(provider_message_id)
        provider_actions = [MessageRecord.provider_message_id.set(stored_id)] if stored_id else []
        try:
            entry_from_record(audit, self._audit_retention).save(condition=AuditEntry.sk.does_not_exist())
        except PutError as error:  # this attempt's entry is already there (a retried write): keep it
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
        try:
            MessageRecord(message.message_id).update(
                actions=[
                    MessageRecord.status.set(MessageStatus.SENT.value),
                    MessageRecord.updated_at.set(now),
                    MessageRecord.provider.set(provider),
                    *provider_actions,
                ],
                condition=MessageRecord.status == MessageStatus.SENDING.value,
            )
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return replace(
            message,
            status=MessageStatus.SENT,
            updated_at=now,
            provider=provider,
            provider_message_id=stored_id,
        )

    def transition(
        self,
        message: OutboundMessage,
        status: MessageStatus,
        *,
        now: datetime,
        reason_code: str | None = None,
        reason: str | None = None,
        provider: str | None = None,
        provider_message_id: str | None = None,
    ) -> OutboundMessage | None:
        """Move a message it owns (its current status unchanged since read) to `status`."""
        actions: list[Action] = [MessageRecord.status.set(status.value), MessageRecord.updated_at.set(now)]
        if reason_code is not None:
            actions += [MessageRecord.reason_code.set(reason_code), MessageRecord.reason.set(reason or "")]
        if provider is not None:
            actions.append(MessageRecord.provider.set(provider))
        stored_id = provider_id(provider_message_id)
        if stored_id is not None:
            actions.append(MessageRecord.provider_message_id.set(stored_id))
        if status is MessageStatus.QUEUED:
            actions.append(MessageRecord.lease_until.remove())
        if status not in TRANSITIONS[message.status]:
            return None
        try:
            MessageRecord(message.message_id).update(
                actions=actions, condition=MessageRecord.status == message.status.value
            )
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return replace(
            message,
            status=status,
            updated_at=now,
            reason_code=reason_code or message.reason_code,
            reason=reason if reason_code is not None else message.reason,
            provider=provider or message.provider,
            provider_message_id=provider_id(provider_message_id) or message.provider_message_id,
        )

    def find_by_provider_id(self, provider_message_id: str) -> OutboundMessage | None:
        """The message the provider knows by this id (the index is eventually consistent: a notification
        that outruns it by the fraction of a second it takes to update finds nothing)."""
        stored_id = provider_id(provider_message_id)
        if stored_id is None:
            return None
        for key in MessageRecord.by_provider_message_id.query(stored_id, limit=2):
            try:
                return self.get(key.message_id)
            except NotFoundError:
                continue
        return None

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
        """A feedback event moves a message on (delivered, bounced, complained; failed on a reject);
        idempotent on the event id, and never moves a message backwards. False when it did not apply."""
        sources = frozenset(s for s, targets in TRANSITIONS.items() if status in targets)
        condition = (
            MessageRecord.message_id.exists()
            & _from_states(sources)
            & ~MessageRecord.events.contains(event_id)
        )
        actions: list[Action] = [
            MessageRecord.status.set(status.value),
            MessageRecord.updated_at.set(at),
            MessageRecord.events.add({event_id}),
            MessageRecord.reason.set(detail),
        ]
        if reason_code is not None:
            actions.append(MessageRecord.reason_code.set(reason_code))
        try:
            MessageRecord(message_id).update(actions=actions, condition=condition)
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True
