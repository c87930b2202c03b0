"""The one policy decision every send goes through.

Checks run cheapest first and quotas last, in the order docs/policy.md lists them. Everything the checks
read comes from one batched read; an allowed send then reserves every cap and writes its audit record in
one transaction, so a decision costs two DynamoDB requests and a refusal never consumes quota. The read is
eventually consistent unless the decision refuses or counts a first contact, which are decided on a
consistent read (a third request, on those decisions only).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header

from litemx.addresses import domain_of, has_line_break, normalize_address, person_key, recipient_set
from litemx.audit.models import UNAUTHENTICATED, AuditRecord
from litemx.clock import Clock
from litemx.directory.models import Scope, Status, Token, TokenStatus, Verification
from litemx.directory.tokens import SecretClaims, parse_secret, secret_matches
from litemx.errors import StoreBusyError
from litemx.mail.headers import extra_header_refusal, has_lone_surrogate
from litemx.messages.models import OutboundMessage
from litemx.plans import Limits, effective_limits
from litemx.policy.fanout import fingerprint
from litemx.policy.models import (
    OPEN_PROVIDER,
    ContactMark,
    Decision,
    Mode,
    PolicyStore,
    ProviderGate,
    QuotaExceededError,
    SendRequest,
    Snapshot,
    SnapshotKeys,
)
from litemx.policy.reasons import Reason
from litemx.policy.warmup import Warmup, warm_limits
from litemx.quotas.models import (
    FANOUT_FIRST_CONTACTS,
    Cap,
    CapExceeded,
    CounterCheck,
    CounterReservation,
    CounterSlot,
    FanoutSlots,
    account_first_contact_limit,
    account_first_contact_slot,
    binding_cap,
    counter_slots,
    fanout_slots,
    first_contact_limit,
    first_contact_slot,
    first_exceeded,
    reservations_for,
    usage_after,
    usage_now,
)

# SES accepts at most 50 recipients per message; beyond that no override can allow a send, so
# suppression and correspondent keys are not even read for them.
MAX_RECIPIENTS_READ = 50
# In-Reply-To plus the most recent References: enough to recognise a reply, bounded for the batched read
# (one BatchGetItem holds 100 keys, and a decision must stay at one).
MAX_THREAD_IDS = 8
MAX_THREAD_ID_BYTES = 900  # a DynamoDB sort key holds at most 1024 bytes
# Bulk-mail signals: the whole RFC 2369 / RFC 2919 / RFC 8058 List-* family (and X-List-*), the
# feedback-loop and campaign ids of bulk senders; matched case-insensitively on the header name.
BULK_HEADER_PREFIXES = ("list-", "x-list-", "x-campaign", "x-newsletter", "x-mailing-list")
BULK_HEADER_NAMES = frozenset({"feedback-id", "x-feedback-id", "x-report-abuse", "x-csa-complaints"})
BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
# Headers that steer the provider (SES reads X-SES-CONFIGURATION-SET, X-SES-MESSAGE-TAGS, ... from the
# raw message): a client could escape feedback tracking with them, so they never pass.
RESERVED_HEADER_PREFIXES = ("x-ses-",)
SEND_SCOPES = frozenset({Scope.SEND, Scope.SEND_REPLY})


@dataclass(frozen=True)
class Refusal:
    reason: Reason
    message: str
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Context:
    """A request once its secret, From and recipients are parsed."""

    request: SendRequest
    claims: SecretClaims
    sender: str | None
    recipients: tuple[str, ...]
    invalid_recipients: tuple[str, ...]
    now: datetime
    provider: ProviderGate
    thread_ids: tuple[str, ...] = ()
    persons: Mapping[str, str] = field(default_factory=dict)  # canonical recipient -> person key
    bands: tuple[str, ...] = ()  # the body's fingerprint

    def person(self, recipient: str) -> str:
        return self.persons.get(recipient, recipient)


def decide(
    request: SendRequest,
    *,
    store: PolicyStore,
    clock: Clock,
    request_id: str,
    mode: Mode = Mode.SEND,
    provider: ProviderGate = OPEN_PROVIDER,
    queue_as: Callable[[Decision], OutboundMessage] | None = None,
) -> Decision:
    """Allow or refuse a send; on allow in SEND mode, the recipients are reserved against every cap, and
    the message `queue_as` builds from the allowed decision is recorded in the same transaction.

    The first read is eventually consistent (half the read units). Only a plain allow is decided on it:
    a refusal, a first contact or a contact mark to rely on is decided again on a consistent read, so
    that no refusal and no count ever comes from a read that missed a write of the last moment."""
    consistent = False
    for _ in range(1 + _STALE_ATTEMPTS):
        decision = _decide_once(request, store, clock, request_id, mode, provider, queue_as, consistent)
        if decision is not None:
            return decision
        consistent = True
    raise StoreBusyError("fan-out counters kept moving; nothing was reserved, retry the request")


_STALE_ATTEMPTS = 3  # consistent decisions after the first read, for fan-out counters that moved
# Refusals judged on the request (and the provider's gate) alone, never on what was read: a stale read
# cannot cause them, so they need no second, consistent read.
_REQUEST_REFUSALS = frozenset(
    {
        Reason.FROM_INVALID,
        Reason.RECIPIENTS_MISSING,
        Reason.RECIPIENT_INVALID,
        Reason.HEADER_INJECTION,
        Reason.HEADER_RESERVED,
        Reason.BULK_HEADERS,
        Reason.HEADER_NOT_ALLOWED,
        Reason.TENANT_PAUSED,
        Reason.PROVIDER_SANDBOX,
    }
)


def _decide_once(
    request: SendRequest,
    store: PolicyStore,
    clock: Clock,
    request_id: str,
    mode: Mode,
    provider: ProviderGate,
    queue_as: Callable[[Decision], OutboundMessage] | None,
    consistent: bool,
) -> Decision | None:
    """One decision on one read; None when a counter the transaction checked moved since the read, or
    when an eventually consistent read led anywhere but to a plain allow (decide again, consistently)."""
    now = clock.now()
    base = Decision(request_id=request_id, mode=mode, decided_at=now)
    claims = _claims(request)
    if claims is None:
        return _refuse(base, store, Refusal(Reason.TOKEN_INVALID, "The bearer token is not a LiteMX token."))
    ctx = _parse(request, claims, now, provider)
    sender = ctx.sender or request.from_address.strip().lower()
    slots = counter_slots(account_id=claims.account_id, mailbox=sender, now=now)
    first_slots = (
        first_contact_slot(mailbox=sender, now=now),
        account_first_contact_slot(account_id=claims.account_id, now=now),
    )
    bands = [fanout_slots(account_id=claims.account_id, band=band, now=now) for band in ctx.bands]
    snapshot = store.load_snapshot(
        SnapshotKeys(
            account_id=claims.account_id,
            token_id=claims.token_id,
            mailbox=sender,
            domain=domain_of(sender),
            recipients=tuple(dict.fromkeys(ctx.person(r) for r in ctx.recipients[:MAX_RECIPIENTS_READ])),
            counter_keys=(
                *(slot.key for slot in slots),
                *(slot.key for slot in first_slots),
                *(key for band in bands for key in (band.today.key, band.yesterday_key)),
            ),
            message_ids=ctx.thread_ids,
            suppression_keys=_suppression_keys(ctx),
        ),
        consistent=consistent,
    )
    base = replace(base, account_id=claims.account_id, token_id=claims.token_id, mailbox=sender)
    base = replace(base, details=_approved(request))
    token_refusal = _check_token(ctx, snapshot)
    if token_refusal is not None:
        return _refuse(base, store, token_refusal, authenticated=False) if consistent else None
    base = replace(base, recipients=ctx.recipients)
    refusal = _first_refusal(ctx, snapshot)
    if refusal is not None:
        trusted = consistent or refusal.reason in _REQUEST_REFUSALS
        return _refuse(base, store, refusal) if trusted else None
    first_contacts = _first_contacts(ctx, snapshot)
    if not consistent and (first_contacts or _marks_to_rely_on(ctx, snapshot)):
        # A correspondent or a contact mark written a moment ago may not show yet: counting a person
        # as new, or a mark as not yet relied on, is decided on a consistent read.
        return None
    reservations, checks = _reservations(ctx, snapshot, slots, first_slots, bands, first_contacts)
    base = replace(base, first_contacts=first_contacts)
    # Counters only grow within a window (but for refunds), so a consistent read that is already over a
    # cap is a refusal without a write; the transaction's conditions decide every other case.
    exceeded = first_exceeded(reservations, snapshot.counters)
    if exceeded is not None:
        return _refuse_quota(base, store, exceeded, snapshot) if consistent else None
    if mode is not Mode.SEND:
        allowed = replace(base, usage=tuple(usage_now(reservations, snapshot.counters)))
        _record(store, _audit(allowed, "allow"))
        return allowed
    allowed = replace(
        base, usage=tuple(usage_after(reservations, snapshot.counters)), reservations=tuple(reservations)
    )
    try:
        message = queue_as(allowed) if queue_as is not None else None
        contacts, relied = _marks(ctx, snapshot, first_contacts, message)
        store.reserve(reservations, _audit(allowed, "allow"), contacts, message, relied=relied, checks=checks)
    except QuotaExceededError as refused:
        if refused.failed and consistent:
            return _refuse_quota(base, store, binding_cap(reservations, refused.failed), snapshot)
        # yesterday's fan-out counter moved (a send across midnight), or a cap refused limits read
        # eventually (an operator may have raised them a moment ago): decide again, consistently
        return None
    return allowed


def _reservations(
    ctx: _Context,
    snapshot: Snapshot,
    slots: list[CounterSlot],
    first_slots: tuple[CounterSlot, CounterSlot],
    bands: list[FanoutSlots],
    first_contacts: tuple[str, ...],
) -> tuple[list[CounterReservation], list[CounterCheck]]:
    """Every counter the send moves, and the counters its transaction checks unchanged."""
    reservations = reservations_for(slots, _limits(ctx, snapshot), len(ctx.recipients))
    checks: list[CounterCheck] = []
    new_people = len({ctx.person(r) for r in first_contacts})
    if new_people:
        reservations += _first_contact_reservations(ctx, first_slots, snapshot, new_people)
        for band in bands:
            reservation, check = _fanout_reservation(band, snapshot, new_people)
            reservations.append(reservation)
            checks.append(check)
    return reservations, checks


def _claims(request: SendRequest) -> SecretClaims | None:
    """Whom the request claims to be: its secret's ids, or the draft token an operator's approval names."""
    if request.approval is not None:
        return SecretClaims(request.approval.account_id, request.approval.token_id)
    return parse_secret(request.token_secret)


def _approved(request: SendRequest) -> dict[str, str]:
    """An operator's approval is named in the decision's audit entry (its actor is the operator)."""
    if request.approval is None:
        return {}
    return {"approved_by": request.approval.actor, "draft_id": request.approval.draft_id}


def _marks(
    ctx: _Context, snapshot: Snapshot, first_contacts: tuple[str, ...], message: OutboundMessage | None
) -> tuple[list[ContactMark], list[ContactMark]]:
    """The contact marks a send makes (its first contacts, owned by its message) and those it relies on
    (people marked by an earlier send, who are not correspondents). A mark already relied on is not
    touched again: a refund can no longer remove it, and the write would cost 2 units per send."""
    sender, now = ctx.sender or "", ctx.now
    message_id = message.message_id if message is not None else None
    made = [
        ContactMark(sender, person, now, message_id)
        for person in dict.fromkeys(map(ctx.person, first_contacts))
    ]
    relied = [ContactMark(sender, person, now) for person in _marks_to_rely_on(ctx, snapshot)]
    return made, relied


def _marks_to_rely_on(ctx: _Context, snapshot: Snapshot) -> list[str]:
    """People marked by an earlier send, not correspondents, whose mark no send has relied on yet."""
    return [
        person
        for person in dict.fromkeys(ctx.person(r) for r in ctx.recipients)
        if person in snapshot.contacted
        and person not in snapshot.correspondents
        and person not in snapshot.relied_upon
    ]


def _suppression_keys(ctx: _Context) -> tuple[str, ...]:
    keys: dict[str, None] = {}
    for recipient in ctx.recipients[:MAX_RECIPIENTS_READ]:
        keys.setdefault(ctx.person(recipient), None)
        keys.setdefault(recipient, None)
    return tuple(keys)


def _parse(request: SendRequest, claims: SecretClaims, now: datetime, provider: ProviderGate) -> _Context:
    recipients = recipient_set(request.to, request.cc, request.bcc)
    return _Context(
        request=request,
        claims=claims,
        sender=normalize_address(request.from_address),
        recipients=recipients.all,
        invalid_recipients=recipients.invalid,
        now=now,
        provider=provider,
        thread_ids=thread_ids(request),
        persons={r: person_key(r) for r in recipients.all},
        bands=fingerprint(request.body),
    )


def thread_ids(request: SendRequest) -> tuple[str, ...]:
    """The Message-IDs a message answers, without angle brackets: In-Reply-To first, then References
    from the most recent."""
    found: dict[str, None] = {}
    candidates = [*(request.in_reply_to or "").split(), *reversed(" ".join(request.references).split())]
    for raw in candidates:
        value = raw.strip().removeprefix("<").removesuffix(">").strip()
        if (
            value
            and not has_line_break(value)
            and not has_lone_surrogate(value)
            and len(value.encode("utf-8")) <= MAX_THREAD_ID_BYTES
        ):
            found.setdefault(value, None)
    return tuple(found)[:MAX_THREAD_IDS]


def may_reply_to(ctx: _Context, snapshot: Snapshot) -> tuple[str, ...]:
    """The recipients a reply-only token may not write to: everyone who is neither a correspondent nor
    a participant (From, Reply-To, To, Cc) of a message it answers that the mailbox received with a
    reply right (clean, From authenticated, not sent by the mailbox itself)."""
    allowed = snapshot.correspondents | snapshot.reply_participants
    return tuple(r for r in ctx.recipients if ctx.person(r) not in allowed)


def _first_contacts(ctx: _Context, snapshot: Snapshot) -> tuple[str, ...]:
    """Recipients who never wrote to this mailbox and were never written to by it (compared by person
    key: `name+tag@` and, at gmail.com, `n.ame@` are the person `name@`)."""
    known = snapshot.correspondents | snapshot.contacted
    return tuple(r for r in ctx.recipients if ctx.person(r) not in known)


def _first_contact_reservations(
    ctx: _Context, slots: tuple[CounterSlot, CounterSlot], snapshot: Snapshot, amount: int
) -> list[CounterReservation]:
    assert snapshot.account is not None
    plan = snapshot.account.plan
    mailbox_limit = first_contact_limit(plan, snapshot.first_contacts_override)
    account_limit = account_first_contact_limit(
        plan, snapshot.account_first_contacts_override, snapshot.first_contacts_override
    )
    warm = _warm(ctx, snapshot)
    mailbox_limit = warm.mailbox_first_contacts(
        mailbox_limit, overridden=snapshot.first_contacts_override is not None
    )
    account_limit = warm.account_first_contacts(
        account_limit,
        overridden=(snapshot.account_first_contacts_override or snapshot.first_contacts_override) is not None,
    )
    mailbox_slot, account_slot = slots
    return [
        CounterReservation(mailbox_slot.cap, mailbox_slot.key, mailbox_limit, amount, mailbox_slot.resets_at),
        CounterReservation(account_slot.cap, account_slot.key, account_limit, amount, account_slot.resets_at),
    ]


def _fanout_reservation(
    band: FanoutSlots, snapshot: Snapshot, amount: int
) -> tuple[CounterReservation, CounterCheck]:
    """Today's counter of one fingerprint band may take `amount` more first contacts only while today
    and yesterday together stay within the plan's number; yesterday's must not move meanwhile."""
    assert snapshot.account is not None
    yesterday = snapshot.counters.get(band.yesterday_key, 0)
    limit = FANOUT_FIRST_CONTACTS[snapshot.account.plan] - yesterday
    slot = band.today
    return CounterReservation(slot.cap, slot.key, limit, amount, slot.resets_at), CounterCheck(
        band.yesterday_key, yesterday
    )


def send_scopes(request: SendRequest, token: Token) -> frozenset[Scope]:
    """The send rights a decision grants: the token's own, or under an operator's approval of a draft
    (written by a `draft` token, which never sends by itself) those of a `send` token."""
    if request.approval is not None:
        return frozenset({Scope.SEND}) if Scope.DRAFT in token.scopes else frozenset()
    return token.scopes & SEND_SCOPES


def _check_token(ctx: _Context, snapshot: Snapshot) -> Refusal | None:
    """Token first: until it is verified, nothing the request claims is believed. An operator's approval
    names the draft's token instead of presenting its secret: it must exist and still be live."""
    token = snapshot.token
    if (
        token is None
        or token.account_id != ctx.claims.account_id
        or (ctx.request.approval is None and not secret_matches(ctx.request.token_secret, token.secret_hash))
    ):
        return Refusal(Reason.TOKEN_INVALID, "The bearer token is unknown.")
    if token.status is TokenStatus.REVOKED:
        return Refusal(Reason.TOKEN_REVOKED, f"Token {token.token_id} was revoked.")
    if token.status is TokenStatus.DISABLED:
        return Refusal(Reason.TOKEN_DISABLED, f"Token {token.token_id} is disabled: {token.status_reason}.")
    if token.expires_at is not None and token.expires_at <= ctx.now:
        return Refusal(
            Reason.TOKEN_EXPIRED, f"Token {token.token_id} expired at {token.expires_at.isoformat()}."
        )
    if not send_scopes(ctx.request, token):
        return Refusal(Reason.SCOPE_DENIED, f"Token {token.token_id} has no send scope.")
    return None


def _limits(ctx: _Context, snapshot: Snapshot) -> Limits:
    assert snapshot.account is not None  # only called once _check_account has passed
    limits = effective_limits(snapshot.account.plan, snapshot.account.overrides)
    return _warm(ctx, snapshot).limits(limits, snapshot.account.overrides)


def _warm(ctx: _Context, snapshot: Snapshot) -> Warmup:
    assert snapshot.account is not None
    mailbox_created = snapshot.mailbox.created_at if snapshot.mailbox is not None else None
    return warm_limits(snapshot.account.created_at, mailbox_created, ctx.now, waived=snapshot.warmup_waived)


def _first_refusal(ctx: _Context, snapshot: Snapshot) -> Refusal | None:
    checks: tuple[Callable[[_Context, Snapshot], Refusal | None], ...] = (
        _check_sender,
        _check_account,
        _check_domain,
        _check_mailbox,
        _check_recipients,
        _check_injection,
        _check_bulk_headers,
        _check_extra_headers,
        _check_suppression,
        _check_tenant_paused,
        _check_provider_sandbox,
        _check_reply_only,
    )
    for check in checks:
        refusal = check(ctx, snapshot)
        if refusal is not None:
            return refusal
    return None


def _check_sender(ctx: _Context, snapshot: Snapshot) -> Refusal | None:
    token = snapshot.token
    assert token is not None
    if has_line_break(ctx.request.from_address):
        return Refusal(Reason.HEADER_INJECTION, "From contains a line break.")
    if ctx.sender is None:
        return Refusal(Reason.FROM_INVALID, f"From {ctx.request.from_address!r} is not a valid address.")
    if ctx.sender != token.mailbox:
        return Refusal(
            Reason.TOKEN_MAILBOX_MISMATCH,
            f"Token {token.token_id} may send only from {token.mailbox}, not {ctx.sender}.",
        )
    return None


def _check_account(ctx: _Context, snapshot: Snapshot) -> Refusal | None:
    account = snapshot.account
    if account is None or account.status is not Status.ACTIVE:
        reason = account.status_reason if account is not None else "it does not exist"
        return Refusal(Reason.ACCOUNT_DISABLED, f"Account {ctx.claims.account_id} is disabled: {reason}.")
    return None


def _check_domain(ctx: _Context, snapshot: Snapshot) -> Refusal | None:
    domain = snapshot.domain
    name = domain_of(ctx.sender or "")
    if domain is None or domain.account_id != ctx.claims.account_id:
        return Refusal(Reason.DOMAIN_NOT_OWNED, f"Domain {name} is not registered to this account.")
    if domain.verification is not Verification.VERIFIED:
        return Refusal(
            Reason.DOMAIN_NOT_VERIFIED,
            f"Domain {name} is not verified yet ({domain.verification.value}); publish its DNS records.",
        )
    if domain.status is not Status.ACTIVE:
        return Refusal(Reason.DOMAIN_DISABLED, f"Domain {name} is disabled: {domain.status_reason}.")
    return None


def _check_mailbox(ctx: _Context, snapshot: Snapshot) -> Refusal | None:
    mailbox = snapshot.mailbox
    if mailbox is None or mailbox.account_id != ctx.claims.account_id:
        return Refusal(Reason.MAILBOX_NOT_FOUND, f"{ctx.sender} is not a mailbox of this account.")
    if mailbox.status is not Status.ACTIVE:
        return Refusal(
            Reason.MAILBOX_DISABLED, f"Mailbox {mailbox.address} is disabled: {mailbox.status_reason}."
        )
    return None


def _check_recipients(ctx: _Context, snapshot: Snapshot) -> Refusal | None:
    limits = effective_limits(snapshot.account.plan, snapshot.account.overrides) if snapshot.account else None
    assert limits is not None
    if not ctx.request.all_recipients:
        return Refusal(Reason.RECIPIENTS_MISSING, "Name at least one recipient in to, cc or bcc.")
    count = len(ctx.recipients) + len(ctx.invalid_recipients)
    if count > limits.recipients_per_message:
        return Refusal(
            Reason.TOO_MANY_RECIPIENTS,
            f"{count} recipients; the plan allows {limits.recipients_per_message} per message.",
            {"limit": str(limits.recipients_per_message), "requested": str(count)},
        )
    for raw in ctx.invalid_recipients:
        if has_line_break(raw):
            return Refusal(Reason.HEADER_INJECTION, "A recipient address contains a line break.")
        return Refusal(
            Reason.RECIPIENT_INVALID, f"Recipient {raw!r} is not a valid address.", {"recipient": raw}
        )
    return None


def _check_injection(ctx: _Context, snapshot: Snapshot) -> Refusal | None:
    request = ctx.request
    values = [request.subject, request.in_reply_to or "", *request.references, *request.headers.values()]
    for name in request.headers:
        if has_line_break(name) or ":" in name or not name.isascii() or not name.strip() or " " in name:
            return Refusal(Reason.HEADER_INJECTION, f"Header name {name!r} is not a valid header name.")
    if any(has_line_break(value) for value in values):
        return Refusal(Reason.HEADER_INJECTION, "A header value or the subject contains a line break.")
    return None


def header_value(value: str) -> str:
    """A header value as a reader sees it: RFC 2047 encoded words decoded, folding undone."""
    try:
        decoded = str(make_header(decode_header(value)))
    except (HeaderParseError, UnicodeError, ValueError, LookupError):
        decoded = value
    return " ".join(decoded.split())


def bulk_signal(name: str, value: str) -> str | None:
    """Why a header marks bulk mail, or None. Pure, so that any caller can ask it."""
    lowered = name.strip().lower()
    if lowered.startswith(BULK_HEADER_PREFIXES) or lowered in BULK_HEADER_NAMES:
        return f"Header {name} marks bulk mail"
    if lowered == "precedence":
        first = re.split(r"[\s;,(]", header_value(value).lower().strip(), maxsplit=1)[0]
        if first in BULK_PRECEDENCE:
            return f"Precedence: {first} marks bulk mail"
    return None


def _check_bulk_headers(ctx: _Context, snapshot: Snapshot) -> Refusal | None:
    for name, value in ctx.request.headers.items():
        if name.strip().lower().startswith(RESERVED_HEADER_PREFIXES):
            return Refusal(
                Reason.HEADER_RESERVED,
                f"Header {name} steers the outbound provider; only LiteMX sets it.",
                {"header": name},
            )
        signal = bulk_signal(name, value)
        if signal is not None:
            return Refusal(
                Reason.BULK_HEADERS,
                f"{signal}; LiteMX does not send newsletters or campaigns.",
                {"header": name},
            )
    return None


def _check_extra_headers(ctx: _Context, snapshot: Snapshot) -> Refusal | None:
    for name in ctx.request.headers:
        refused = extra_header_refusal(name)
        if refused is not None:
            return Refusal(Reason.HEADER_NOT_ALLOWED, refused, {"header": name[:80]})
    return None


def _check_suppression(ctx: _Context, snapshot: Snapshot) -> Refusal | None:
    wanted = {key: r for r in ctx.recipients for key in (r, ctx.person(r))}
    for entry in snapshot.suppressions:
        recipient = wanted.get(entry.address)
        if recipient is not None and entry.is_active(ctx.now):
            scope = "all senders" if entry.scope == "global" else "this account"
            shown = recipient if entry.address == recipient else f"{recipient} (as {entry.address})"
            return Refusal(
                Reason.RECIPIENT_SUPPRESSED,
                f"{shown} is suppressed for {scope} ({entry.reason}).",
                {"recipient": recipient, "scope": entry.scope},
            )
    return None


def _check_tenant_paused(ctx: _Context, snapshot: Snapshot) -> Refusal | None:
    if ctx.provider.paused(ctx.claims.account_id):
        return Refusal(
            Reason.TENANT_PAUSED,
            f"SES has paused sending for account {ctx.claims.account_id}'s tenant; nothing is sent until "
            "it sends again (other accounts are unaffected).",
        )
    return None


def _check_provider_sandbox(ctx: _Context, snapshot: Snapshot) -> Refusal | None:
    unreachable = [address for address in ctx.recipients if not ctx.provider.reaches(address)]
    if unreachable:
        return Refusal(
            Reason.PROVIDER_SANDBOX,
            f"{unreachable[0]} is not a verified recipient and the outbound provider is still in its "
            "sandbox; production access is pending, so only verified addresses can be reached "
            "(inbound mail works).",
            {"recipient": unreachable[0]},
        )
    return None


def _check_reply_only(ctx: _Context, snapshot: Snapshot) -> Refusal | None:
    token = snapshot.token
    assert token is not None
    if Scope.SEND in send_scopes(ctx.request, token):
        return None
    strangers = may_reply_to(ctx, snapshot)
    if not strangers:
        return None
    answered = "a message it received" if snapshot.known_message_ids else "no message it received"
    return Refusal(
        Reason.NOT_A_REPLY,
        f"{strangers[0]} has never written to {ctx.sender} and took no part in {answered} that this "
        "message answers; this token may only reply.",
        {"recipient": strangers[0]},
    )


def _refuse(base: Decision, store: PolicyStore, refusal: Refusal, *, authenticated: bool = True) -> Decision:
    details = {**base.details, **refusal.details}
    decision = replace(base, reason=refusal.reason, message=refusal.message, details=details)
    _record(store, _audit(decision, "deny", authenticated=authenticated))
    return decision


def _record(store: PolicyStore, audit: AuditRecord) -> None:
    """A decision's audit entry; a preview (a draft list's verdict) writes nothing at all."""
    if not audit.event.endswith(f".{Mode.PREVIEW.value}"):
        store.record(audit)


def _refuse_quota(base: Decision, store: PolicyStore, exceeded: CapExceeded, snapshot: Snapshot) -> Decision:
    details: dict[str, str] = dict(base.details)
    if exceeded.cap is Cap.FIRST_CONTACT:
        reason = Reason.FIRST_CONTACT_LIMIT
        message = (
            f"{base.mailbox} may write to {exceeded.limit} new people (who never wrote to it and were never "
            f"written to by it) per UTC day; {exceeded.used} today, this message adds {exceeded.requested}; "
            f"it resets at {exceeded.resets_at.isoformat()}."
        )
        details["scope"] = "mailbox"
    elif exceeded.cap is Cap.ACCOUNT_FIRST_CONTACT:
        reason = Reason.FIRST_CONTACT_LIMIT
        message = (
            f"Account {base.account_id} may write to {exceeded.limit} new people per UTC day across all "
            f"its mailboxes; {exceeded.used} today, this message adds {exceeded.requested}; "
            f"it resets at {exceeded.resets_at.isoformat()}."
        )
        details["scope"] = "account"
    elif exceeded.cap is Cap.FANOUT:
        reason = Reason.BULK_CONTENT
        plan_limit = FANOUT_FIRST_CONTACTS[snapshot.account.plan] if snapshot.account else exceeded.limit
        message = (
            f"This content has already gone to {plan_limit - exceeded.limit + exceeded.used} new people from "
            f"this account in the last two UTC days (at most {plan_limit}); the same text to many people who "
            "never wrote is a campaign, and LiteMX does not send campaigns."
        )
    else:
        reason = Reason.from_code(f"quota_exceeded.{exceeded.cap.value}")
        message = (
            f"The {exceeded.cap.value.replace('_', '/')} cap is {exceeded.limit} recipients; "
            f"{exceeded.used} used, {exceeded.requested} requested; "
            f"it resets at {exceeded.resets_at.isoformat()}."
        )
    decision = replace(base, reason=reason, message=message, exceeded=exceeded, details=details)
    _record(store, _audit(decision, "deny"))
    return decision


def _audit(decision: Decision, outcome: str, *, authenticated: bool = True) -> AuditRecord:
    details = dict(decision.details)
    if not authenticated and decision.account_id:
        details["claimed_account"] = decision.account_id
    return AuditRecord(
        account_id=(decision.account_id if authenticated and decision.account_id else UNAUTHENTICATED),
        at=decision.decided_at,
        request_id=decision.request_id,
        event=f"policy.{decision.mode.value}",
        actor=details.get("approved_by") or decision.token_id or "unknown",
        outcome=outcome,
        reason_code=decision.reason.code if decision.reason else None,
        message=decision.message,
        mailbox=decision.mailbox,
        recipients_count=len(decision.recipients),
        details=details,
    )
