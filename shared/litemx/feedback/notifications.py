"""SES feedback notifications as SNS delivers them to the feedback function, parsed tolerantly into domain
events.

Two formats carry the same facts: identity notifications (`notificationType`) and configuration-set event
publishing (`eventType`, which adds `mail.tags`). SNS invokes the function with one record per
notification, whose `Sns.Message` is SES's JSON as a *string* (`parse_sns_record`). `parse_body` reads that
string, and also what an SQS queue subscribed to the topic would hold (an SNS envelope, or the bare
document with raw delivery), which the feedback DLQ may still hold from before #13. SES may add fields at
any time, so unknown fields are ignored; what cannot be understood is reported as `Unusable` (logged and
acknowledged by the handler, never retried into a poison loop).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from litemx.addresses import normalize_address
from litemx.clock import plausible
from litemx.feedback.models import FeedbackEvent, FeedbackKind, FeedbackRecipient

_KINDS = {
    "bounce": FeedbackKind.BOUNCE,
    "complaint": FeedbackKind.COMPLAINT,
    "delivery": FeedbackKind.DELIVERY,
    "send": FeedbackKind.SEND,
    "reject": FeedbackKind.REJECT,
}
# Ids SES writes are about 60 characters; anything far longer is not SES's and would not fit a key.
MAX_ID = 256
MAX_TEXT = 1_000
MAX_RECIPIENTS = 100
# What decoding hostile JSON raises: malformed text, integers past the digit limit (ValueError), nesting
# past the interpreter's recursion limit (RecursionError).
_JSON_ERRORS = (ValueError, TypeError, RecursionError)


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT * 10)]


class SesMailObject(_Tolerant):
    timestamp: AwareDatetime
    messageId: Id
    source: Text = ""
    sourceArn: Text = ""
    sendingAccountId: Text = ""
    # Recipients and tags are read one by one (a bad one is skipped, not the whole notification).
    destination: list[Any] = Field(default_factory=list)
    tags: Any = None
    tenantName: Text = ""  # set when the send named an SES tenant (docs/tenants.md)


class SesBounce(_Tolerant):
    bounceType: Text
    bounceSubType: Text = "Undetermined"
    bouncedRecipients: list[Any]
    timestamp: AwareDatetime
    feedbackId: Id


class SesComplaint(_Tolerant):
    complainedRecipients: list[Any]
    timestamp: AwareDatetime
    feedbackId: Id
    complaintFeedbackType: Text | None = None
    complaintSubType: Text | None = None


class SesDelivery(_Tolerant):
    timestamp: AwareDatetime
    recipients: list[Any] = Field(default_factory=list)
    smtpResponse: Text = ""


class SesReject(_Tolerant):
    reason: Text = ""


class SesNotification(_Tolerant):
    """Either format: `notificationType` (identity) or `eventType` (configuration set)."""

    notificationType: str | None = None
    eventType: str | None = None
    mail: SesMailObject
    bounce: SesBounce | None = None
    complaint: SesComplaint | None = None
    delivery: SesDelivery | None = None
    reject: SesReject | None = None

    @property
    def type_name(self) -> str:
        return self.eventType or self.notificationType or ""


@dataclass(frozen=True)
class Unusable:
    """A record that carries nothing LiteMX can act on; `reason` is for the log."""

    reason: str
    type_name: str = ""


def parse_sns_record(record: object) -> FeedbackEvent | Unusable:
    """One record of the event SNS invokes Lambda with -> the feedback event it carries, or why it carries
    none. Never raises.

    An SQS record (`eventSource` aws:sqs) is read for its body: during the deploy that moves feedback
    from a queue to SNS's push, the old queue's event source mapping still invokes the new code with what
    the queue held (an SNS envelope, or SES's document with raw delivery), and acknowledging those as
    unusable would lose them."""
    if isinstance(record, dict) and record.get("eventSource") == "aws:sqs":
        return parse_body(record.get("body"))
    if not isinstance(record, dict) or not isinstance(record.get("Sns"), dict):
        return Unusable("the record is not an SNS record")
    sns = record["Sns"]
    kind = _text_field(sns, "Type")
    if kind != "Notification":
        return Unusable(f"SNS {kind or 'untyped'} message", kind)
    return parse_body(sns.get("Message"))


def parse_body(body: object) -> FeedbackEvent | Unusable:
    """One notification's text (an SNS Message, or an SQS body) -> the feedback event it carries, or why it
    carries none. Never raises."""
    if not isinstance(body, str):
        return Unusable("the body is not text")
    try:
        document = json.loads(body)
    except _JSON_ERRORS:
        return Unusable("the body is not JSON")
    document = _unwrap_sns(document)
    if isinstance(document, Unusable):
        return document
    return parse_notification(document)


def _unwrap_sns(document: Any) -> dict[str, Any] | Unusable:
    if not isinstance(document, dict):
        return Unusable("the body is not a JSON object")
    if "Type" in document and "Message" in document:  # an SNS envelope
        kind = _text_field(document, "Type")
        if kind != "Notification":
            return Unusable(f"SNS {kind} message", kind)
        message = document["Message"]
        if isinstance(message, str):
            try:
                message = json.loads(message)
            except _JSON_ERRORS:
                return Unusable("the SNS Message is not JSON")
        if not isinstance(message, dict):
            return Unusable("the SNS Message is not a JSON object")
        return message
    return document


def parse_notification(document: dict[str, Any]) -> FeedbackEvent | Unusable:
    type_name = _text_field(document, "eventType") or _text_field(document, "notificationType")
    kind = _KINDS.get(type_name.lower())
    if kind is None:
        return Unusable(f"notification type {type_name or 'missing'} is not acted upon", type_name)
    try:
        notification = SesNotification.model_validate(document)
    except ValidationError as invalid:
        fields = ",".join(sorted({".".join(str(p) for p in e["loc"]) for e in invalid.errors()}))
        return Unusable(f"{type_name} notification is malformed ({_clip(fields, 300)})", type_name)
    builders = {
        FeedbackKind.BOUNCE: _bounce,
        FeedbackKind.COMPLAINT: _complaint,
        FeedbackKind.DELIVERY: _delivery,
        FeedbackKind.SEND: _send,
        FeedbackKind.REJECT: _reject,
    }
    event = builders[kind](notification)
    if isinstance(event, FeedbackEvent) and not all(plausible(t) for t in (event.at, event.sent_at)):
        return Unusable(f"{type_name} notification has a timestamp SES never writes", type_name)
    return event


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
        "tags": _tags(mail.tags),
        "tenant_name": mail.tenantName or None,
    }


def _tags(tags: Any) -> dict[str, tuple[str, ...]]:
    """mail.tags as name -> values; entries of any other shape are dropped."""
    if not isinstance(tags, dict):
        return {}
    return {
        _clip(name, MAX_ID): tuple(_clip(v, MAX_ID) for v in values if isinstance(v, str))
        for name, values in tags.items()
        if isinstance(name, str) and isinstance(values, list)
    }


@dataclass
class _Recipients:
    """Each listed recipient, validated on its own: good ones kept (canonical, once), bad ones skipped with
    a reason."""

    found: list[FeedbackRecipient]
    skipped: list[str]

    @classmethod
    def read(cls, entries: list[Any], *, key: str | None = None, diagnostic: str = "") -> _Recipients:
        found: dict[str, FeedbackRecipient] = {}
        skipped: list[str] = []
        for entry in entries:
            item = entry if key is None else entry.get(key) if isinstance(entry, dict) else None
            recipient = _recipient(item, entry if key is not None else None, diagnostic)
            if isinstance(recipient, str):
                skipped.append(recipient)
            elif len(found) >= MAX_RECIPIENTS:
                skipped.append(f"{recipient.address}: more than {MAX_RECIPIENTS} recipients listed")
            else:
                found.setdefault(recipient.address, recipient)
        return cls(list(found.values()), skipped[:MAX_RECIPIENTS])


def _recipient(address: Any, entry: Any, diagnostic: str) -> FeedbackRecipient | str:
    """A recipient in canonical form (notifications may change an address's case), or why it is skipped."""
    if not isinstance(address, str):
        return f"a recipient entry without an address ({type(address).__name__})"
    canonical = normalize_address(address) if len(address) <= MAX_ID * 2 else None
    if canonical is None:
        return f"{_clip(address, 100)!r} is not a valid address"
    details = entry if isinstance(entry, dict) else {}
    status, code = details.get("status"), details.get("diagnosticCode")
    return FeedbackRecipient(
        address=canonical,
        status=_clip(status, 100) if isinstance(status, str) else "",
        diagnostic=_clip(code, MAX_TEXT) if isinstance(code, str) else diagnostic,
    )


def _bounce(notification: SesNotification) -> FeedbackEvent | Unusable:
    bounce = notification.bounce
    if bounce is None:
        return Unusable("Bounce notification without a bounce object", notification.type_name)
    recipients = _Recipients.read(bounce.bouncedRecipients, key="emailAddress")
    return FeedbackEvent(
        **_base(notification, FeedbackKind.BOUNCE, bounce.feedbackId, bounce.timestamp),
        recipients=tuple(recipients.found),
        skipped=tuple(recipients.skipped),
        bounce_type=_clip(bounce.bounceType, 100),
        bounce_subtype=_clip(bounce.bounceSubType, 100),
    )


def _complaint(notification: SesNotification) -> FeedbackEvent | Unusable:
    complaint = notification.complaint
    if complaint is None:
        return Unusable("Complaint notification without a complaint object", notification.type_name)
    recipients = _Recipients.read(complaint.complainedRecipients, key="emailAddress")
    return FeedbackEvent(
        **_base(notification, FeedbackKind.COMPLAINT, complaint.feedbackId, complaint.timestamp),
        recipients=tuple(recipients.found),
        skipped=tuple(recipients.skipped),
        complaint_feedback_type=_clip(complaint.complaintFeedbackType or "", 100) or None,
        complaint_subtype=_clip(complaint.complaintSubType or "", 100) or None,
    )


def _delivery(notification: SesNotification) -> FeedbackEvent | Unusable:
    delivery = notification.delivery
    if delivery is None:
        return Unusable("Delivery notification without a delivery object", notification.type_name)
    recipients = _Recipients.read(delivery.recipients, diagnostic=_clip(delivery.smtpResponse, MAX_TEXT))
    # Deliveries carry no feedback id: one is derived from what identifies this delivery, so that the
    # same delivery seen twice (SQS redelivery, or both formats) is applied once.
    digest = _digest(notification.mail.messageId, *sorted(r.address for r in recipients.found))
    return FeedbackEvent(
        **_base(notification, FeedbackKind.DELIVERY, f"delivery-{digest}", delivery.timestamp),
        recipients=tuple(recipients.found),
        skipped=tuple(recipients.skipped),
    )


def _send(notification: SesNotification) -> FeedbackEvent | Unusable:
    mail = notification.mail
    recipients = _Recipients.read(mail.destination)
    return FeedbackEvent(
        **_base(notification, FeedbackKind.SEND, f"send-{mail.messageId}", mail.timestamp),
        recipients=tuple(recipients.found),
        skipped=tuple(recipients.skipped),
    )


def _reject(notification: SesNotification) -> FeedbackEvent | Unusable:
    """SES accepted the message and then refused to send it (a virus): final for that message."""
    mail = notification.mail
    reason = _clip(notification.reject.reason if notification.reject else "", MAX_TEXT)
    return FeedbackEvent(
        **_base(notification, FeedbackKind.REJECT, f"reject-{mail.messageId}", mail.timestamp),
        reject_reason=reason or "rejected by SES",
    )


def _text_field(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    return _clip(value, 100) if isinstance(value, str) else ""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:32]
