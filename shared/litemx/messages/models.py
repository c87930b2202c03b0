"""An outbound message's life: queued -> sending -> sent | failed | cancelled, then feedback.

Every accepted message ends in exactly one of sent, failed (with a reason), cancelled (with a reason), or
parked in the send queue's DLQ; feedback later moves a sent message to bounced or complained, to failed
when SES rejects it after accepting it (a Reject event: a virus), and to delivered only where the
deployment subscribes Delivery events (cdk.json `recordDeliveries`, off by default: a delivered message
otherwise stays sent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class MessageStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


# States a message may move to from each state; anything else is refused by a condition in the store.
TRANSITIONS: dict[MessageStatus, frozenset[MessageStatus]] = {
    MessageStatus.QUEUED: frozenset({MessageStatus.SENDING, MessageStatus.CANCELLED, MessageStatus.FAILED}),
    MessageStatus.SENDING: frozenset(
        {MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.CANCELLED, MessageStatus.QUEUED}
    ),
    # A sent message may still fail: SES publishes a Reject when it refuses to send what it accepted.
    MessageStatus.SENT: frozenset(
        {MessageStatus.DELIVERED, MessageStatus.BOUNCED, MessageStatus.COMPLAINED, MessageStatus.FAILED}
    ),
    MessageStatus.DELIVERED: frozenset({MessageStatus.BOUNCED, MessageStatus.COMPLAINED}),
    MessageStatus.BOUNCED: frozenset({MessageStatus.COMPLAINED}),
    MessageStatus.COMPLAINED: frozenset(),
    MessageStatus.FAILED: frozenset(),
    MessageStatus.CANCELLED: frozenset(),
}
FINAL_SEND_STATES = frozenset(
    {
        MessageStatus.SENT,
        MessageStatus.FAILED,
        MessageStatus.CANCELLED,
        MessageStatus.DELIVERED,
        MessageStatus.BOUNCED,
        MessageStatus.COMPLAINED,
    }
)


@dataclass(frozen=True)
class ReservedCounter:
    """A quota counter this message moved, so that a cancellation can give it back."""

    key: str
    amount: int


@dataclass(frozen=True)
class OutboundMessage:
    message_id: str
    account_id: str
    mailbox: str
    token_id: str
    recipients: tuple[str, ...]
    status: MessageStatus
    created_at: datetime
    updated_at: datetime
    raw_key: str  # object key of the raw MIME in the outbound bucket; "": inline in its queue message
    subject: str = ""
    rfc_message_id: str = ""  # the Message-ID header LiteMX wrote
    reserved: tuple[ReservedCounter, ...] = ()
    attempts: int = 0
    lease_until: datetime | None = None
    provider: str | None = None
    provider_message_id: str | None = None
    reason_code: str | None = None
    reason: str | None = None
    events: tuple[str, ...] = field(default=())  # feedback ids already applied
