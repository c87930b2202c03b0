"""What LiteMX does with one SES feedback event.

- Permanent bounce: the address is suppressed for everyone (with subtype, diagnostic and feedback id).
  `General`/`NoEmail` say the address is bad and count as hard bounces against the sender; subtypes that
  mean SES already had the address listed (`Suppressed`, `OnAccountSuppressionList`) suppress it too (a
  send to it would still use SES quota) but are not the sender's fault; `UnsubscribedRecipient` concerns
  only the account that mailed it.
- Transient (or undetermined) bounce: counted per address; 3 within 7 days suppress it for 7 days.
  Bounces about the message rather than the address (too large, content or attachment rejected) count
  against the sender's rates but never suppress the address.
- Complaint: the address is suppressed for the complaining account only; `not-spam` feedback is not a
  complaint. Complaints SES generated from its own list (`OnAccountSuppressionList`) are not counted.
- Delivery and bounce/complaint move the message's status; sends and deliveries feed the rates.
- Everything is idempotent on the feedback id: suppression writes and status moves are idempotent by
  themselves, and the reputation counters move in the same transaction that records the id.
- Feedback about mail this deployment did not send (other AWS account, identity or configuration set)
  changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Protocol

from litemx import expiry
from litemx.addresses import normalize_address
from litemx.clock import Clock
from litemx.directory import admin
from litemx.errors import NotFoundError
from litemx.feedback.models import (
    TAG_ACCOUNT,
    TAG_MAILBOX,
    TAG_MESSAGE,
    Action,
    Attribution,
    Deployment,
    FeedbackEvent,
    FeedbackKind,
    FeedbackOutcome,
    FeedbackRecipient,
    Suppressed,
)
from litemx.messages.models import MessageStatus
from litemx.reputation import logic as enforcement
from litemx.reputation.models import ACCOUNT, MAILBOX, Disabled, Increment, Tally, Thresholds, increments
from litemx.suppression.models import GLOBAL_SCOPE, SuppressionEntry
from litemx.tenants.models import account_of_tenant

SOFT_BOUNCE_WINDOW = timedelta(days=7)
SOFT_BOUNCE_LIMIT = 3
SOFT_SUPPRESSION = timedelta(days=7)
EVENT_RETENTION = timedelta(days=30)
ADDRESS_IS_BAD = frozenset({"General", "NoEmail"})
ACCOUNT_ONLY = frozenset({"UnsubscribedRecipient"})
ABOUT_THE_MESSAGE = frozenset({"MessageTooLarge", "ContentRejected", "AttachmentRejected"})
NOT_A_COMPLAINT = "not-spam"
SES_LISTED = "OnAccountSuppressionList"
_CONFIGURATION_SET_TAG = "ses:configuration-set"
_MAX_REASON = 500


class SuppressionWriter(Protocol):
    def add(self, entry: SuppressionEntry) -> SuppressionEntry: ...


class MessageFeedback(Protocol):
    def apply_feedback(
        self, message_id: str, status: MessageStatus, event_id: str, *, at: datetime, detail: str
    ) -> bool: ...


class FeedbackLedger(Protocol):
    def add_soft_bounce(self, address: str, marker: str, *, expires_at: datetime) -> tuple[str, ...]:
        """Add `marker` (`<ISO time>#<feedback id>`, idempotent) to the address's transient bounces and
        return all of them."""
        ...

    def record_once(
        self, event_id: str, kind: str, *, at: datetime, expires_at: datetime, counts: Sequence[Increment]
    ) -> bool:
        """Record the event id and move the reputation counters in one transaction; False (and nothing
        moved) when the id was recorded before."""
        ...


@dataclass(frozen=True)
class FeedbackPorts:
    suppression: SuppressionWriter
    messages: MessageFeedback
    ledger: FeedbackLedger
    reputation: enforcement.ReputationReader
    directory: enforcement.DirectoryPort
    audit: admin.AuditWriter


@dataclass
class _Effects:
    """What one event does, worked out before anything is written."""

    suppress: list[SuppressionEntry] = field(default_factory=list)
    soft: list[FeedbackRecipient] = field(default_factory=list)
    status: MessageStatus | None = None
    tally: Tally = field(default_factory=Tally)
    note: str = ""


def handle_feedback(
    event: FeedbackEvent,
    *,
    ports: FeedbackPorts,
    deployment: Deployment,
    clock: Clock,
    thresholds: Thresholds | None = None,
) -> FeedbackOutcome:
    base = FeedbackOutcome(event_id=event.event_id, kind=event.kind, action=Action.APPLIED)
    foreign = foreign_reason(event, deployment)
    if foreign is not None:
        return replace(base, action=Action.FOREIGN, note=foreign)
    who = attribute(event, ports.directory)
    effects = _effects(event, who)
    now = clock.now()
    suppressed = [_suppress(ports.suppression, entry) for entry in effects.suppress]
    suppressed += [s for r in effects.soft if (s := _soft_bounce(ports, event, r, now)) is not None]
    status = _move_message(ports.messages, event, who, effects)
    counts = _increments(event, who, effects.tally, now)
    counted = ports.ledger.record_once(
        event.event_id,
        event.kind.value,
        at=event.at,
        expires_at=expiry.from_write(event.at, EVENT_RETENTION, now),
        counts=counts,
    )
    disabled: tuple[Disabled, ...] = ()
    if counts:
        # Also for a duplicate: a crash after counting and before enforcing is healed by the redelivery.
        disabled = enforcement.enforce(
            mailbox=who.mailbox,
            account_id=who.account_id,
            reader=ports.reputation,
            directory=ports.directory,
            audit=ports.audit,
            clock=clock,
            thresholds=thresholds or Thresholds(),
        )
    nothing = not (suppressed or status or counts)
    return replace(
        base,
        action=Action.DUPLICATE if not counted else Action.IGNORED if nothing else Action.APPLIED,
        attribution=who,
        suppressed=tuple(suppressed),
        message_status=status.value if status else None,
        counted=counted and bool(counts),
        disabled=disabled,
        note=effects.note,
    )


def foreign_reason(event: FeedbackEvent, deployment: Deployment) -> str | None:
    """Why this notification is about someone else's mail, or None when it is ours."""
    if event.sending_account_id != deployment.account_id:
        return f"sent by AWS account {event.sending_account_id or 'unknown'}, not this deployment's"
    if event.source_arn:
        parts = event.source_arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "ses" or parts[4] != deployment.account_id:
            return f"identity {event.source_arn} does not belong to this deployment"
    configuration_set = event.tag(_CONFIGURATION_SET_TAG)
    if deployment.configuration_set and configuration_set not in (None, deployment.configuration_set):
        return f"configuration set {configuration_set} is not this deployment's"
    return _tenant_mismatch(event)


def _tenant_mismatch(event: FeedbackEvent) -> str | None:
    """Issue 15: a tenant that is not one of ours, or not the tagged account's, makes the event foreign."""
    if event.tenant_name is None:
        return None
    owner = account_of_tenant(event.tenant_name)
    if owner is None:
        return f"SES tenant {event.tenant_name} is not a LiteMX tenant"
    tagged = event.tag(TAG_ACCOUNT)
    if tagged is not None and tagged != owner:
        return f"SES tenant {event.tenant_name} is not account {tagged}'s"
    return None


def attribute(event: FeedbackEvent, directory: enforcement.DirectoryPort) -> Attribution:
    """The message tags say it all; identity notifications carry no tags, so the sending mailbox is then
    found from the envelope sender."""
    account_id, mailbox = event.tag(TAG_ACCOUNT), event.tag(TAG_MAILBOX)
    account_id = account_id or account_of_tenant(event.tenant_name)  # the tenant names the account too
    if mailbox is not None:
        mailbox = normalize_address(mailbox) or mailbox
    if account_id is None or mailbox is None:
        candidate = mailbox or normalize_address(parseaddr(event.source)[1])
        try:
            found = directory.get_mailbox(candidate) if candidate else None
        except NotFoundError:
            found = None
        if found is not None:
            mailbox, account_id = found.address, account_id or found.account_id
    return Attribution(account_id=account_id, mailbox=mailbox, message_id=event.tag(TAG_MESSAGE))


def _effects(event: FeedbackEvent, who: Attribution) -> _Effects:
    count = len(event.recipients)
    if event.kind is FeedbackKind.DELIVERY:
        return _Effects(status=MessageStatus.DELIVERED, tally=Tally(deliveries=count))
    if event.kind is FeedbackKind.SEND:
        return _Effects(tally=Tally(sends=count))
    if event.kind is FeedbackKind.COMPLAINT:
        return _complaint(event, who)
    if event.bounce_type == "Permanent":
        return _permanent_bounce(event, who)
    subtype = event.bounce_subtype or ""
    soft = [] if subtype in ABOUT_THE_MESSAGE else list(event.recipients)
    return _Effects(soft=soft, tally=Tally(soft_bounces=count))


def _permanent_bounce(event: FeedbackEvent, who: Attribution) -> _Effects:
    subtype = event.bounce_subtype or "Undetermined"
    scope = GLOBAL_SCOPE
    if subtype in ACCOUNT_ONLY:
        if who.account_id is None:
            return _Effects(status=MessageStatus.BOUNCED, note="unsubscribed recipient of an unknown account")
        scope = who.account_id
    entries = [
        SuppressionEntry(
            scope=scope,
            address=r.address,
            reason=_clip(f"permanent bounce ({subtype}): {r.diagnostic or r.status or 'no diagnostic'}"),
            created_at=event.at,
            source=f"ses-feedback:{event.event_id}",
        )
        for r in event.recipients
    ]
    # SES-listed addresses were never attempted: not the sender's fault, but still never worth a send.
    hard = 0 if ("Suppress" in subtype or subtype == SES_LISTED) else len(event.recipients)
    return _Effects(suppress=entries, status=MessageStatus.BOUNCED, tally=Tally(hard_bounces=hard))


def _complaint(event: FeedbackEvent, who: Attribution) -> _Effects:
    if (event.complaint_feedback_type or "").lower() == NOT_A_COMPLAINT:
        return _Effects(note="not-spam feedback is not a complaint against the sender")
    ses_listed = event.complaint_subtype == SES_LISTED
    if who.account_id is None:
        return _Effects(note="complaint about mail of an unknown account: nothing to scope it to")
    entries = [
        SuppressionEntry(
            scope=who.account_id,
            address=r.address,
            reason=_clip(f"complaint ({event.complaint_feedback_type or 'unspecified'})"),
            created_at=event.at,
            source=f"ses-feedback:{event.event_id}",
        )
        for r in event.recipients
    ]
    if ses_listed:
        return _Effects(suppress=entries, note="SES refused: the address was on its suppression list")
    return _Effects(
        suppress=entries, status=MessageStatus.COMPLAINED, tally=Tally(complaints=len(event.recipients))
    )


def _suppress(store: SuppressionWriter, entry: SuppressionEntry) -> Suppressed:
    store.add(entry)
    return Suppressed(scope=entry.scope, address=entry.address, expires_at=entry.expires_at)


def _soft_bounce(
    ports: FeedbackPorts, event: FeedbackEvent, recipient: FeedbackRecipient, now: datetime
) -> Suppressed | None:
    if not expiry.is_live(event.at + SOFT_BOUNCE_WINDOW, now):
        return None  # older than the window: it can never make three in 7 days, so it is not recorded
    marker = f"{event.at.isoformat()}#{event.event_id}"
    # The address's marker set lives a window from its latest write: an older bounce arriving late must
    # not shorten the life of fresher markers.
    markers = ports.ledger.add_soft_bounce(
        recipient.address, marker, expires_at=expiry.from_write(event.at, SOFT_BOUNCE_WINDOW, now)
    )
    since = event.at - SOFT_BOUNCE_WINDOW
    times = [t for t in map(_marker_time, markers) if t is not None]
    recent = [t for t in times if since < t <= event.at]
    if len(recent) < SOFT_BOUNCE_LIMIT:
        return None
    entry = SuppressionEntry(
        scope=GLOBAL_SCOPE,
        address=recipient.address,
        reason=_clip(
            f"{len(recent)} transient bounces in 7 days ({event.bounce_subtype}): "
            f"{recipient.diagnostic or recipient.status or 'no diagnostic'}"
        ),
        created_at=event.at,
        source=f"ses-feedback:{event.event_id}",
        expires_at=event.at + SOFT_SUPPRESSION,
    )
    return _suppress(ports.suppression, entry)


def _marker_time(marker: str) -> datetime | None:
    try:
        return datetime.fromisoformat(marker.partition("#")[0])
    except ValueError:
        return None


def _move_message(
    messages: MessageFeedback, event: FeedbackEvent, who: Attribution, effects: _Effects
) -> MessageStatus | None:
    if effects.status is None or who.message_id is None:
        return None
    detail = "; ".join(
        f"{r.address}: {r.diagnostic or r.status or event.type_name}" for r in event.recipients
    )
    moved = messages.apply_feedback(
        who.message_id, effects.status, event.event_id, at=event.at, detail=_clip(detail)
    )
    return effects.status if moved else None


def _increments(event: FeedbackEvent, who: Attribution, tally: Tally, now: datetime) -> list[Increment]:
    """The reputation buckets the event moves; none for an event so old that its bucket has expired."""
    if tally == Tally():
        return []
    at = event.sent_at if event.kind is FeedbackKind.SEND else event.at
    found = []
    if who.mailbox:
        found.append(increments(MAILBOX, who.mailbox, at, tally))
    if who.account_id:
        found.append(increments(ACCOUNT, who.account_id, at, tally))
    return [increment for increment in found if expiry.is_live(increment.expires_at, now)]


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"
