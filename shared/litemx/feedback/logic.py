"""What LiteMX does with one SES feedback event.

- Permanent bounce: the address is suppressed for everyone (with subtype, diagnostic and feedback id).
  `General`/`NoEmail` say the address is bad and count as hard bounces against the sender; subtypes that
  mean SES already had the address listed (`Suppressed`, `OnAccountSuppressionList`) suppress it too (a
  send to it would still use SES quota) but are not the sender's fault; `UnsubscribedRecipient` concerns
  only the account that mailed it.
- Transient (or undetermined) bounce: counted per address; 3 within 7 days suppress it for 7 days, in
  whatever order they arrive (SQS keeps none). Bounces about the message rather than the address (too
  large, content or attachment rejected) count against the sender's rates but never suppress the address.
- Suppression only gets stronger automatically: a permanent entry (or an operator's) is never shortened or
  replaced by a weaker one; only an operator weakens an entry, and that is audited.
- Complaint: the address is suppressed for the complaining account only; `not-spam` feedback is not a
  complaint. Complaints SES generated from its own list (`OnAccountSuppressionList`) are not counted.
- Delivery and bounce/complaint move the message's status; deliveries feed the rates' denominator. The
  sender counts sends itself (litemx.outbound.delivery), so a Send event counts nothing: counted twice,
  sends would dilute the bounce and complaint rates. Delivery events are published only where cdk.json
  sets `recordDeliveries`; without them a message stays `sent` unless it bounces or is complained about.
  A reject (SES refused to send what it had accepted) ends the message `failed` with the reason.
- Attribution: the notification names a LiteMX message (its `litemx-message` tag, or `mail.messageId`
  matched to the stored `provider_message_id`); mailbox and account come from that stored message, never
  from free-text tags. Only its listed recipients that are recipients of that message are acted upon.
- Everything is idempotent on the feedback id: suppression writes and status moves are idempotent by
  themselves, and the reputation counters move in the same transaction that records the id.
- Feedback is ours only when it was sent by this AWS account, through this stack's configuration set or
  an identity covering the message's mailbox, AND it maps to a stored message of ours. Anything else
  changes nothing (and says why).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from litemx import expiry
from litemx.addresses import normalize_address
from litemx.clock import Clock
from litemx.directory import admin
from litemx.errors import NotFoundError
from litemx.feedback.models import (
    Action,
    Attribution,
    Deployment,
    FeedbackEvent,
    FeedbackKind,
    FeedbackOutcome,
    FeedbackRecipient,
    Suppressed,
)
from litemx.messages.models import MessageStatus, OutboundMessage
from litemx.reputation import logic as enforcement
from litemx.reputation.models import Disabled, Increment, Tally, Thresholds, increment
from litemx.suppression.models import GLOBAL_SCOPE, SuppressionEntry
from litemx.tags import TAG_MESSAGE
from litemx.tenants.names import account_of_tenant

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
REJECTED = "provider_rejected"  # the message's reason code when SES rejects it after accepting it


class SuppressionWriter(Protocol):
    def strengthen(self, entry: SuppressionEntry) -> bool:
        """Write `entry` unless an entry at least as strong is there (permanent beats expiring, a later
        expiry beats an earlier one); True when written."""
        ...


class MessageFeedback(Protocol):
    def get(self, message_id: str) -> OutboundMessage:
        """NotFoundError when there is none."""
        ...

    def find_by_provider_id(self, provider_message_id: str) -> OutboundMessage | None: ...

    def apply_feedback(
        self,
        message_id: str,
        status: MessageStatus,
        event_id: str,
        *,
        at: datetime,
        detail: str,
        reason_code: str | None = None,
    ) -> bool: ...


class FeedbackLedger(Protocol):
    def add_soft_bounce(self, address: str, marker: str, *, expires_at: datetime) -> tuple[str, ...]:
        """Add `marker` (`<ISO time>#<feedback id>`, idempotent) to the address's transient bounces and
        return all of them."""
        ...

    def drop_soft_bounces(self, address: str, markers: Sequence[str]) -> None:
        """Forget markers too old to matter any more (keeps the item small)."""
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
    reason_code: str | None = None
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
    base = FeedbackOutcome(
        event_id=event.event_id, kind=event.kind, action=Action.APPLIED, skipped=event.skipped
    )
    message = our_message(event, deployment, ports.messages)
    if isinstance(message, str):
        return replace(base, action=Action.FOREIGN, note=message)
    mismatch = tenant_mismatch(event, message.account_id)
    if mismatch is not None:
        return replace(base, action=Action.FOREIGN, note=mismatch)
    who = Attribution(account_id=message.account_id, mailbox=message.mailbox, message_id=message.message_id)
    event, not_sent_to = _only_its_recipients(event, message)
    effects = _effects(event, who)
    now = clock.now()
    suppressed = [s for entry in effects.suppress if (s := _suppress(ports.suppression, entry)) is not None]
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
    if counts and who.account_id and (effects.tally.hard_bounces or effects.tally.complaints):
        # Only hard bounces and complaints can trip a rule (deliveries only lower the rates), so
        # only they pay for reading the windows' buckets. Also for a duplicate: a crash after counting and
        # before enforcing is healed by the redelivery.
        disabled = enforcement.enforce(
            mailbox=who.mailbox,
            account_id=who.account_id,
            reader=ports.reputation,
            directory=ports.directory,
            audit=ports.audit,
            clock=clock,
            thresholds=thresholds or Thresholds(),
            latest=event.at,
        )
    nothing = not (suppressed or status or counts)
    note = effects.note or _why_nothing(counted=counted, nothing=nothing)
    return replace(
        base,
        action=Action.DUPLICATE if not counted else Action.IGNORED if nothing else Action.APPLIED,
        attribution=who,
        suppressed=tuple(suppressed),
        message_status=status.value if status else None,
        counted=counted and bool(counts),
        disabled=disabled,
        skipped=event.skipped + not_sent_to,
        note=note,
    )


def _why_nothing(*, counted: bool, nothing: bool) -> str:
    if not counted:
        return "already applied: this feedback id was seen before"
    return "nothing to change: already as strong, or already in that state" if nothing else ""


def our_message(
    event: FeedbackEvent, deployment: Deployment, messages: MessageFeedback
) -> OutboundMessage | str:
    """The stored message this notification is about, or why it is not about one of ours."""
    foreign = foreign_reason(event, deployment)
    if foreign is not None:
        return foreign
    message = _tagged_message(event, messages)
    if isinstance(message, str):
        return message
    message = message or messages.find_by_provider_id(event.ses_message_id)
    if message is None:
        return f"SES message {event.ses_message_id} maps to no message this deployment sent"
    by_set = deployment.configuration_set is not None and (
        event.tag(_CONFIGURATION_SET_TAG) == deployment.configuration_set
    )
    if not by_set and not _identity_covers(event.source_arn, message.mailbox):
        return (
            f"neither its identity ({event.source_arn or 'none'}) nor its configuration set "
            f"({event.tag(_CONFIGURATION_SET_TAG) or 'none'}) is this deployment's"
        )
    return message


def _tagged_message(event: FeedbackEvent, messages: MessageFeedback) -> OutboundMessage | str | None:
    """The message the `litemx-message` tag names (None without a tag, or when it names none)."""
    tagged = event.tag(TAG_MESSAGE)
    if not tagged:
        return None
    try:
        message = messages.get(tagged)
    except NotFoundError:
        return None
    if message.provider_message_id not in (None, event.ses_message_id):
        return f"tag names message {message.message_id}, which SES sent as another message"
    return message


def _identity_covers(source_arn: str, mailbox: str) -> bool:
    """Whether the sending identity (an address, or a domain covering its subdomains) is the mailbox's."""
    _, found, identity = source_arn.partition(":identity/")
    identity = identity.strip().lower()
    if not found or not identity:
        return False
    domain = mailbox.rpartition("@")[2]
    return identity in (mailbox, domain) or domain.endswith(f".{identity}")


def foreign_reason(event: FeedbackEvent, deployment: Deployment) -> str | None:
    """Why this notification is about someone else's mail (from what it says alone), or None."""
    if event.sending_account_id != deployment.account_id:
        return f"sent by AWS account {event.sending_account_id[:20] or 'unknown'}, not this deployment's"
    if event.source_arn:
        parts = event.source_arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "ses" or parts[4] != deployment.account_id:
            return f"identity {event.source_arn[:200]} does not belong to this deployment"
    configuration_set = event.tag(_CONFIGURATION_SET_TAG)
    if deployment.configuration_set and configuration_set not in (None, deployment.configuration_set):
        return f"configuration set {configuration_set} is not this deployment's"
    return None


def _only_its_recipients(
    event: FeedbackEvent, message: OutboundMessage
) -> tuple[FeedbackEvent, tuple[str, ...]]:
    """The event restricted to addresses the message was sent to (a notification cannot suppress others)."""
    sent_to = {normalize_address(r) or r.lower() for r in message.recipients}
    kept = tuple(r for r in event.recipients if r.address in sent_to)
    others = tuple(
        f"{r.address}: not a recipient of {message.message_id}" for r in event.recipients if r not in kept
    )
    return replace(event, recipients=kept), others


def _effects(event: FeedbackEvent, who: Attribution) -> _Effects:
    count = len(event.recipients)
    if event.kind is FeedbackKind.REJECT:
        return _Effects(status=MessageStatus.FAILED, reason_code=REJECTED)
    if not event.recipients:
        return _Effects(note="no valid recipient of the message is named")
    if event.kind is FeedbackKind.DELIVERY:
        return _Effects(status=MessageStatus.DELIVERED, tally=Tally(deliveries=count))
    if event.kind is FeedbackKind.SEND:
        return _Effects(note="the sender counted this send when SES accepted it")
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


def _suppress(store: SuppressionWriter, entry: SuppressionEntry) -> Suppressed | None:
    """Suppressed, or None when an entry at least as strong was already there (nothing weakens)."""
    if not store.strengthen(entry):
        return None
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
    times = sorted(t for t in map(_marker_time, markers) if t is not None)
    newest = times[-1] if times else event.at
    stale = [m for m in markers if (t := _marker_time(m)) is None or t <= newest - SOFT_BOUNCE_WINDOW]
    if stale:
        ports.ledger.drop_soft_bounces(recipient.address, stale)
    last = soft_bounce_burst(times)
    if last is None or not expiry.is_live(last + SOFT_SUPPRESSION, now):
        return None
    entry = SuppressionEntry(
        scope=GLOBAL_SCOPE,
        address=recipient.address,
        reason=_clip(
            f"{SOFT_BOUNCE_LIMIT} transient bounces in 7 days ({event.bounce_subtype}): "
            f"{recipient.diagnostic or recipient.status or 'no diagnostic'}"
        ),
        created_at=event.at,
        source=f"ses-feedback:{event.event_id}",
        expires_at=last + SOFT_SUPPRESSION,
    )
    return _suppress(ports.suppression, entry)


def soft_bounce_burst(times: Sequence[datetime]) -> datetime | None:
    """The latest bounce that closes a run of SOFT_BOUNCE_LIMIT bounces within SOFT_BOUNCE_WINDOW (`times`
    sorted), or None when there is no such run: the order the bounces arrived in does not matter."""
    latest = None
    for first, last in zip(times, times[SOFT_BOUNCE_LIMIT - 1 :], strict=False):
        if last - first < SOFT_BOUNCE_WINDOW:
            latest = last
    return latest


def _marker_time(marker: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(marker.partition("#")[0])
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def _move_message(
    messages: MessageFeedback, event: FeedbackEvent, who: Attribution, effects: _Effects
) -> MessageStatus | None:
    if effects.status is None or who.message_id is None:
        return None
    detail = event.reject_reason or "; ".join(
        f"{r.address}: {r.diagnostic or r.status or event.type_name}" for r in event.recipients
    )
    moved = messages.apply_feedback(
        who.message_id,
        effects.status,
        event.event_id,
        at=event.at,
        detail=_clip(detail),
        reason_code=effects.reason_code,
    )
    return effects.status if moved else None


def _increments(event: FeedbackEvent, who: Attribution, tally: Tally, now: datetime) -> list[Increment]:
    """The reputation bucket the event moves (its mailbox's hour: the account's counts are the sum of its
    mailboxes'); none for an event so old that its bucket has expired."""
    if tally == Tally() or not who.mailbox or not who.account_id:
        return []
    counted = increment(who.account_id, who.mailbox, event.at, tally)
    return [counted] if expiry.is_live(counted.expires_at, now) else []


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


def tenant_mismatch(event: FeedbackEvent, account_id: str) -> str | None:
    """Issue 15 (docs/tenants.md): an event whose SES tenant is not the message's account's is foreign."""
    if event.tenant_name is None or account_of_tenant(event.tenant_name) == account_id:
        return None
    return f"SES tenant {event.tenant_name} is not account {account_id}'s"
