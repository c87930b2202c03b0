"""Feedback events (what SES reported) and outcomes (what LiteMX did about them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from litemx.reputation.models import Disabled


class FeedbackKind(StrEnum):
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    DELIVERY = "delivery"
    SEND = "send"
    REJECT = "reject"  # SES accepted the message, then refused to send it (a virus): final


@dataclass(frozen=True)
class FeedbackRecipient:
    address: str  # canonical (lower-case) form
    status: str = ""
    diagnostic: str = ""


@dataclass(frozen=True)
class FeedbackEvent:
    """One SES notification, whichever format carried it."""

    event_id: str  # SES feedbackId, or derived for deliveries and sends
    kind: FeedbackKind
    type_name: str
    at: datetime
    ses_message_id: str
    sent_at: datetime
    sending_account_id: str
    source_arn: str
    source: str
    tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    recipients: tuple[FeedbackRecipient, ...] = ()
    skipped: tuple[str, ...] = ()  # listed recipients that were not valid addresses, with why
    reject_reason: str = ""
    bounce_type: str | None = None
    bounce_subtype: str | None = None
    complaint_feedback_type: str | None = None
    complaint_subtype: str | None = None
    tenant_name: str | None = None  # the SES tenant the send named, when it named one

    def tag(self, name: str) -> str | None:
        values = self.tags.get(name) or ()
        return values[0] if values else None


@dataclass(frozen=True)
class Deployment:
    """Whose mail this deployment sends: feedback about anyone else's mail is ignored."""

    account_id: str
    configuration_set: str | None = None


@dataclass(frozen=True)
class Attribution:
    """Which LiteMX account, mailbox and message a notification is about (any may be unknown)."""

    account_id: str | None
    mailbox: str | None
    message_id: str | None


class Action(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # the same feedback id was applied before
    FOREIGN = "foreign"  # about mail this deployment did not send (or that maps to no message of its own)
    IGNORED = "ignored"  # understood, nothing to do (e.g. a `not-spam` complaint)


@dataclass(frozen=True)
class Suppressed:
    scope: str
    address: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class FeedbackOutcome:
    event_id: str
    kind: FeedbackKind
    action: Action
    attribution: Attribution | None = None
    suppressed: tuple[Suppressed, ...] = ()
    message_status: str | None = None  # the status the message moved to, if it moved
    counted: bool = False  # reputation counters moved (first time this event was seen)
    disabled: tuple[Disabled, ...] = ()
    skipped: tuple[
        str, ...
    ] = ()  # recipients set aside (invalid, or not recipients of the message), with why
    note: str = ""  # why nothing (or less than the whole notification) was applied
