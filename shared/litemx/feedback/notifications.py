"""SES feedback notifications as they arrive on the feedback queue, parsed tolerantly into domain events.

Two formats carry the same facts: identity notifications (`notificationType`) and configuration-set event
publishing (`eventType`, which adds `mail.tags`). Either may reach SQS inside an SNS envelope whose
`Message` is a JSON *string*, or bare when the subscription uses raw message delivery. SES may add fields
at any time, so unknown fields are ignored; what cannot be understood is reported as `Unusable` (logged
and acknowledged by the handler, never retried into a poison loop).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from litemx.addresses import normalize_address
from litemx.feedback.models import FeedbackEvent, FeedbackKind, FeedbackRecipient

_KINDS = {
    "bounce": FeedbackKind.BOUNCE,
    "complaint": FeedbackKind.COMPLAINT,
    "delivery": FeedbackKind.DELIVERY,
    "send": FeedbackKind.SEND,
}


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class SesMailObject(_Tolerant):
    timestamp: datetime
    messageId: str
    source: str = ""
    sourceArn: str = ""
    sendingAccountId: str = ""
    destination: list[str] = Field(default_factory=list)
    tags: dict[str, list[str]] = Field(default_factory=dict)
    tenantName: str = ""  # set when the send named an SES tenant (docs/tenants.md)


class SesBouncedRecipient(_Tolerant):
    emailAddress: str
    status: str | None = None
    action: str | None = None
    diagnosticCode: str | None = None


class SesBounce(_Tolerant):
    bounceType: str
    bounceSubType: str = "Undetermined"
    bouncedRecipients: list[SesBouncedRecipient]
    timestamp: datetime
    feedbackId: str


class SesComplainedRecipient(_Tolerant):
    emailAddress: str


class SesComplaint(_Tolerant):
    complainedRecipients: list[SesComplainedRecipient]
    timestamp: datetime
    feedbackId: str
    complaintFeedbackType: str | None = None
    complaintSubType: str | None = None


class SesDelivery(_Tolerant):
    timestamp: datetime
    recipients: list[str] = Field(default_factory=list)
    smtpResponse: str = ""


class SesNotification(_Tolerant):
    """Either format: `notificationType` (identity) or `eventType` (configuration set)."""

    notificationType: str | None = None
    eventType: str | None = None
    mail: SesMailObject
    bounce: SesBounce | None = None
    complaint: SesComplaint | None = None
    delivery: SesDelivery | None = None

    @property
    def type_name(self) -> str:
        return self.eventType or self.notificationType or ""


@dataclass(frozen=True)
class Unusable:
    """A record that carries nothing LiteMX can act on; `reason` is for the log."""

    reason: str
    type_name: str = ""


def parse_body(body: str) -> FeedbackEvent | Unusable:
    """One SQS record body -> the feedback event it carries, or why it carries none."""
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, TypeError):
        return Unusable("the body is not JSON")
    document = _unwrap_sns(document)
    if isinstance(document, Unusable):
        return document
    return parse_notification(document)


def _unwrap_sns(document: Any) -> dict[str, Any] | Unusable:
    if not isinstance(document, dict):
        return Unusable("the body is not a JSON object")
    if "Type" in document and "Message" in document:  # an SNS envelope
        if document.get("Type") != "Notification":
            return Unusable(f"SNS {document.get('Type')} message", str(document.get("Type")))
        message = document["Message"]
        if isinstance(message, str):
            try:
                message = json.loads(message)
            except json.JSONDecodeError:
                return Unusable("the SNS Message is not JSON")
        if not isinstance(message, dict):
            return Unusable("the SNS Message is not a JSON object")
        return message
    return document


def parse_notification(document: dict[str, Any]) -> FeedbackEvent | Unusable:
    type_name = str(document.get("eventType") or document.get("notificationType") or "")
    kind = _KINDS.get(type_name.lower())
    if kind is None:
        return Unusable(f"notification type {type_name or 'missing'} is not acted upon", type_name)
    try:
        notification = SesNotification.model_validate(document)
    except ValidationError as invalid:
        fields = ",".join(sorted({".".join(str(p) for p in e["loc"]) for e in invalid.errors()}))
        return Unusable(f"{type_name} notification is malformed ({fields})", type_name)
    builders = {
        FeedbackKind.BOUNCE: _bounce,
        FeedbackKind.COMPLAINT: _complaint,
        FeedbackKind.DELIVERY: _delivery,
        FeedbackKind.SEND: _send,
    }
    return builders[kind](notification)


def _base(notification: SesNotification, kind: FeedbackKind, event_id: str, at: datetime) -> dict[str, Any]:
    mail = notification.mail
    return {
        "event_id": event_id,
        "kind": kind,
        "type_name": notification.type_name,
        "at": at,
        "ses_message_id": mail.messageId,
        "sent_at": mail.timestamp,
        "sending_account_id": mail.sendingAccountId,
        "source_arn": mail.sourceArn,
        "source": mail.source,
        "tags": {name: tuple(values) for name, values in mail.tags.items()},
        "tenant_name": mail.tenantName or None,
    }


def _recipient(address: str, status: str | None = None, diagnostic: str | None = None) -> FeedbackRecipient:
    # Notifications may change the case of an address: keys are always the canonical form.
    return FeedbackRecipient(
        address=normalize_address(address) or address.strip().lower(),
        status=status or "",
        diagnostic=diagnostic or "",
    )


def _bounce(notification: SesNotification) -> FeedbackEvent | Unusable:
    bounce = notification.bounce
    if bounce is None:
        return Unusable("Bounce notification without a bounce object", notification.type_name)
    return FeedbackEvent(
        **_base(notification, FeedbackKind.BOUNCE, bounce.feedbackId, bounce.timestamp),
        recipients=tuple(
            _recipient(r.emailAddress, r.status, r.diagnosticCode) for r in bounce.bouncedRecipients
        ),
        bounce_type=bounce.bounceType,
        bounce_subtype=bounce.bounceSubType,
    )


def _complaint(notification: SesNotification) -> FeedbackEvent | Unusable:
    complaint = notification.complaint
    if complaint is None:
        return Unusable("Complaint notification without a complaint object", notification.type_name)
    return FeedbackEvent(
        **_base(notification, FeedbackKind.COMPLAINT, complaint.feedbackId, complaint.timestamp),
        recipients=tuple(_recipient(r.emailAddress) for r in complaint.complainedRecipients),
        complaint_feedback_type=complaint.complaintFeedbackType,
        complaint_subtype=complaint.complaintSubType,
    )


def _delivery(notification: SesNotification) -> FeedbackEvent | Unusable:
    delivery = notification.delivery
    if delivery is None:
        return Unusable("Delivery notification without a delivery object", notification.type_name)
    recipients = tuple(_recipient(r, diagnostic=delivery.smtpResponse) for r in delivery.recipients)
    # Deliveries carry no feedback id: one is derived from what identifies this delivery, so that the
    # same delivery seen twice (SQS redelivery, or both formats) is applied once.
    digest = _digest(notification.mail.messageId, *sorted(r.address for r in recipients))
    return FeedbackEvent(
        **_base(notification, FeedbackKind.DELIVERY, f"delivery-{digest}", delivery.timestamp),
        recipients=recipients,
    )


def _send(notification: SesNotification) -> FeedbackEvent | Unusable:
    mail = notification.mail
    return FeedbackEvent(
        **_base(notification, FeedbackKind.SEND, f"send-{mail.messageId}", mail.timestamp),
        recipients=tuple(_recipient(r) for r in mail.destination),
    )


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:32]
