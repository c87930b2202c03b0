"""Accepting a send: policy decision, MIME, raw message to storage, message record, queue.

The policy decision runs before anything is composed, stored or queued. Once quota is reserved the message is
accounted for: it is queued, or — if storing or queueing fails — marked failed with its quota given back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from litemx.addresses import person_key
from litemx.clock import Clock
from litemx.directory.auth import Principal
from litemx.errors import LiteMXError, NotFoundError
from litemx.mail.compose import ComposedMessage, ComposeError, Draft, compose
from litemx.messages.models import MessageStatus, OutboundMessage, ReservedCounter
from litemx.outbound.audit import message_audit as message_audit
from litemx.outbound.ports import AuditWriter, BlobStore, MessageRepository, QuotaReleaser, SendQueue
from litemx.outbound.uploads import UploadStore, VerifiedUpload, verify_uploads, with_uploads
from litemx.plans import effective_limits
from litemx.policy.fanout import body_text
from litemx.policy.logic import decide
from litemx.policy.models import (
    OPEN_PROVIDER,
    AccountPolicy,
    Decision,
    Mode,
    OperatorApproval,
    PolicyStore,
    ProviderGate,
    SendRequest,
)
from litemx.policy.warmup import warm_limits
from litemx.quotas.models import (
    CounterReservation,
    account_first_contact_limit,
    account_first_contact_slot,
    counter_slots,
    first_contact_limit,
    first_contact_slot,
    mark_entry,
    reservations_for,
)

# A message whose MIME is at most this size travels inside its send-queue message instead of S3: base64
# (4/3) plus the JSON around it stays under 64 KiB, the size SQS bills as one request (its limit is
# 256 KiB). An S3 PUT costs as much as 12.5 SQS requests; a larger message still goes through the bucket.
INLINE_MAX_BYTES = 45 * 1024


class OutboundUnavailableError(LiteMXError):
    """Storing or queueing failed after the decision; the quota was given back and nothing will send."""

    code = "outbound_unavailable"


@dataclass(frozen=True)
class OutboundDeps:
    policy: PolicyStore
    messages: MessageRepository
    blobs: BlobStore
    queue: SendQueue
    quotas: QuotaReleaser
    audit: AuditWriter
    clock: Clock
    max_message_bytes: int
    uploads: UploadStore | None = None


@dataclass(frozen=True)
class UploadRefs:
    """Uploads a send references, with the account of the token the API verified (their prefix)."""

    account_id: str
    upload_ids: tuple[str, ...]


@dataclass(frozen=True)
class Submission:
    decision: Decision
    message: OutboundMessage | None = None


def new_message_id() -> str:
    return f"msg-{uuid.uuid4().hex}"


def policy_request(token_secret: str, draft: Draft) -> SendRequest:
    return SendRequest(
        token_secret=token_secret,
        from_address=draft.from_address,
        to=draft.to,
        cc=draft.cc,
        bcc=draft.bcc,
        subject=draft.subject,
        headers=draft.headers,
        in_reply_to=draft.in_reply_to,
        references=draft.references,
        body=body_text(draft.text, draft.html),
    )


def submit(
    token_secret: str,
    draft: Draft,
    deps: OutboundDeps,
    *,
    request_id: str,
    provider: ProviderGate = OPEN_PROVIDER,
    mode: Mode = Mode.SEND,
    uploads: UploadRefs | None = None,
    message_id: str | None = None,
    approval: OperatorApproval | None = None,
) -> Submission:
    """Decide, and when allowed in SEND mode, store and queue the message.

    One direction: the decision (token first) runs before anything is built, so no byte of a request
    whose token, sender or recipients are refused ever reaches the MIME builder. An allowed send is
    composed inside the decision, after every check and before its transaction: a ComposeError (which
    carries the stable code) leaves nothing reserved or recorded. A dry run is composed after an allowed
    decision, so that it reports what the send would. The message record is written by the decision's
    own transaction, so an accepted message always exists with its quota reserved.

    Referenced uploads (`uploads`, under the verified token's account) are checked with HeadObject before
    the decision (UploadError, a ComposeError, when one is missing, not as declared, or too large); their
    bytes are read only to compose, after every check of the decision.

    `message_id` (a draft's) makes the send happen at most once: a second decision with it finds the
    message recorded and raises MessageExistsError, with nothing reserved. `approval` decides on an
    operator's approval of a draft instead of a secret (litemx.policy.models.OperatorApproval)."""
    message_id = message_id or new_message_id()
    built: list[tuple[OutboundMessage, ComposedMessage]] = []  # what the decision's transaction recorded
    verified = _verified_uploads(draft, uploads, deps)

    def full_message(at: datetime) -> ComposedMessage:
        complete = with_uploads(draft, verified, deps.uploads) if deps.uploads is not None else draft
        return compose(complete, now=at, max_bytes=deps.max_message_bytes)

    def queue_as(allowed: Decision) -> OutboundMessage:
        composed = full_message(allowed.decided_at)
        built.append((queued_message(message_id, allowed, draft, composed), composed))
        return built[0][0]

    decision = decide(
        replace(policy_request(token_secret, draft), approval=approval),
        store=deps.policy,
        clock=deps.clock,
        request_id=request_id,
        mode=mode,
        provider=provider,
        queue_as=queue_as,
    )
    if not decision.allowed:
        return Submission(decision)
    if mode is not Mode.SEND:
        full_message(decision.decided_at)
        return Submission(decision)
    message, composed = built[0]
    _store_and_enqueue(message, composed, deps)
    return Submission(decision, message)


def _verified_uploads(
    draft: Draft, refs: UploadRefs | None, deps: OutboundDeps
) -> tuple[VerifiedUpload, ...]:
    if refs is None or not refs.upload_ids:
        return ()
    if deps.uploads is None:
        raise ComposeError("upload_not_found", "This deployment accepts no uploads.")
    inline = sum(len(a.data) * 4 // 3 for a in draft.attachments)
    inline += len((draft.text or "").encode("utf-8", "replace")) + len(
        (draft.html or "").encode("utf-8", "replace")
    )
    return verify_uploads(
        refs.account_id,
        refs.upload_ids,
        deps.uploads,
        inline_bytes=inline,
        max_message_bytes=deps.max_message_bytes,
    )


def reserved_counters(decision: Decision) -> tuple[ReservedCounter, ...]:
    """Every counter an allowed decision moved (the caps, first contacts and fan-out) and every contact
    mark it made, so that a cancellation can give back exactly that."""
    marks = dict.fromkeys(person_key(address) for address in decision.first_contacts)
    return (
        *(ReservedCounter(r.key, r.amount) for r in decision.reservations),
        *(ReservedCounter(mark_entry(person), 0) for person in marks),
    )


def queued_message(
    message_id: str, decision: Decision, draft: Draft, composed: ComposedMessage
) -> OutboundMessage:
    assert decision.account_id is not None
    assert decision.mailbox is not None
    assert decision.token_id is not None
    return OutboundMessage(
        message_id=message_id,
        account_id=decision.account_id,
        mailbox=decision.mailbox,
        token_id=decision.token_id,
        recipients=composed.envelope_recipients,
        status=MessageStatus.QUEUED,
        created_at=decision.decided_at,
        updated_at=decision.decided_at,
        # "": the MIME travels inline in the queue message (INLINE_MAX_BYTES), no object is written.
        raw_key=""
        if len(composed.raw) <= INLINE_MAX_BYTES
        else f"outbound/{decision.account_id}/{message_id}.eml",
        subject=draft.subject,
        rfc_message_id=composed.rfc_message_id,
        reserved=reserved_counters(decision),
    )


def _store_and_enqueue(message: OutboundMessage, composed: ComposedMessage, deps: OutboundDeps) -> None:
    try:
        if message.raw_key:
            deps.blobs.put(message.raw_key, composed.raw)
            deps.queue.enqueue(message.message_id)
        else:
            deps.queue.enqueue(message.message_id, composed.raw)
    except Exception as error:  # any storage or queue failure: account for the message, then answer 503
        deps.quotas.refund(message)  # LiteMX cancelled it before any provider attempt
        deps.messages.transition(
            message,
            MessageStatus.FAILED,
            now=deps.clock.now(),
            reason_code="outbound_unavailable",
            reason=f"queueing failed: {type(error).__name__}",
        )
        raise OutboundUnavailableError(
            "The message could not be queued; nothing was sent or counted."
        ) from error


def message_for(principal: Principal, message_id: str, messages: MessageRepository) -> OutboundMessage:
    """The caller's own message; another account's message is reported as not found."""
    message = messages.get(message_id)
    if message.account_id != principal.account_id:
        raise NotFoundError(f"message {message_id} does not exist")
    return message


def usage_reservations(
    principal: Principal,
    now: datetime,
    first_contacts_override: int | None,
    *,
    policy: AccountPolicy | None = None,
    mailbox_created_at: datetime | None = None,
) -> list[CounterReservation]:
    """The caller's caps as zero-sized reservations: each counter's key, the limit in force (warm-up
    included, when `policy` is given) and reset."""
    account = principal.account
    policy = policy or AccountPolicy(first_contacts=first_contacts_override, warmup_waived=True)
    warm = warm_limits(account.created_at, mailbox_created_at, now, waived=policy.warmup_waived)
    slots = counter_slots(account_id=principal.account_id, mailbox=principal.mailbox, now=now)
    limits = warm.limits(effective_limits(account.plan, account.overrides), account.overrides)
    caps = reservations_for(slots, limits, 0)
    first = first_contact_slot(mailbox=principal.mailbox, now=now)
    limit = warm.mailbox_first_contacts(
        first_contact_limit(account.plan, policy.first_contacts), overridden=policy.first_contacts is not None
    )
    shared = account_first_contact_slot(account_id=principal.account_id, now=now)
    account_limit = warm.account_first_contacts(
        account_first_contact_limit(account.plan, policy.account_first_contacts, policy.first_contacts),
        overridden=(policy.account_first_contacts or policy.first_contacts) is not None,
    )
    return [
        *caps,
        CounterReservation(first.cap, first.key, limit, 0, first.resets_at),
        CounterReservation(shared.cap, shared.key, account_limit, 0, shared.resets_at),
    ]
