"""Receiving: route each envelope recipient to its mailbox, index the message there, learn correspondents.

SES has already stored the raw message in S3 (the receipt rule's S3 action runs first); the receipt event
carries verdicts and headers but no body. Routing is case-insensitive and ignores plus-addressing
(`user+tag@` → `user@`). Unknown recipients are reported, never stored. Storing is idempotent on the SES
message id: a redelivered event writes nothing twice and learns no correspondent twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from litemx.addresses import domain_of, normalize_address
from litemx.clock import Clock
from litemx.directory.models import Mailbox, WebhookRoute
from litemx.errors import NotFoundError
from litemx.inbound.models import (
    LISTED_FOLDERS,
    DeliveryOutcome,
    Flag,
    Folder,
    InboundMessage,
    MessageDetail,
    Page,
    ParsedHeaders,
    Receipt,
    Verdicts,
    is_public_id,
    public_id,
)
from litemx.inbound.reads import (
    MAX_PAGE,
    InvalidCursorError,
    MailboxMismatchError,
    MessageNotFoundError,
    RawMailMissingError,
)
from litemx.webhooks import events as webhook_events
from litemx.webhooks.models import EnqueueError, WebhookJob

DEFAULT_MAX_PARSE_BYTES = 10 * 1024 * 1024
RAW_URL_LIFETIME = timedelta(minutes=5)


class RawMail(Protocol):
    """The raw-mail bucket (the only reader of S3 objects)."""

    def size(self, key: str) -> int: ...
    def read(self, key: str, *, max_bytes: int | None = None) -> bytes:
        """The object, or only its first `max_bytes` (a ranged GET); RawMailMissingError when it is gone."""
        ...

    def presign(self, key: str, *, expires_in: timedelta) -> str: ...


class MailboxDirectory(Protocol):
    def get_mailbox(self, address: str) -> Mailbox: ...
    def record_correspondent(self, mailbox: str, address: str, *, now: datetime) -> None: ...
    def record_reply_right(
        self, mailbox: str, rfc_message_id: str, participants: Sequence[str], *, now: datetime
    ) -> None: ...


class WebhookOutbox(Protocol):
    def enqueue(self, jobs: Sequence[WebhookJob]) -> None:
        """Queue the jobs for delivery; EnqueueError when the queue refused them."""
        ...


class InboundIndex(Protocol):
    def add(self, message: InboundMessage) -> bool:
        """Store the index entry; False when it was already stored."""
        ...

    def get(self, mailbox: str, message_id: str) -> InboundMessage | None: ...
    def list(self, mailbox: str, folder: Folder, *, limit: int, cursor: str | None) -> Page: ...


@dataclass(frozen=True)
class RawLocation:
    bucket: str
    prefix: str  # the receipt rule's S3 object key prefix

    def key(self, ses_message_id: str) -> str:
        return f"{self.prefix}{ses_message_id}"


def route(address: str) -> str | None:
    """The mailbox address an envelope recipient names: canonical, without its +tag."""
    canonical = normalize_address(address)
    if canonical is None:
        return None
    local, _, domain = canonical.rpartition("@")
    return f"{local.partition('+')[0] or local}@{domain}"


def receive(
    receipt: Receipt,
    *,
    raw: RawMail,
    location: RawLocation,
    index: InboundIndex,
    directory: MailboxDirectory,
    clock: Clock,
    max_parse_bytes: int = DEFAULT_MAX_PARSE_BYTES,
    webhooks: WebhookOutbox | None = None,
) -> DeliveryOutcome:
    """Files the message; then queues a `message.received` event for each subscription of each mailbox
    that newly stored it (never for a duplicate). The subscriptions come with the mailbox item that
    routing reads, so webhooks cost no DynamoDB request here."""
    key = location.key(receipt.ses_message_id)
    size = raw.size(key)
    headers, whole = _read_headers(raw, key, size, receipt.envelope_sender, max_parse_bytes)
    folder = receipt.verdicts.folder()
    flags = set(headers.flags)
    if receipt.verdicts.dmarc == "FAIL":
        flags.add(Flag.SPOOF_SUSPECT)
    outcome = DeliveryOutcome(ses_message_id=receipt.ses_message_id, folder=folder, flags=frozenset(flags))
    mailboxes, unknown = _resolve(receipt.recipients, directory)
    stored, duplicates, learned = [], [], []
    announce: list[tuple[InboundMessage, list[WebhookRoute]]] = []
    for box in mailboxes:
        mailbox = box.address
        entry = InboundMessage(
            mailbox=mailbox,
            message_id=public_id(receipt.received_at, receipt.ses_message_id),
            ses_message_id=receipt.ses_message_id,
            folder=folder,
            received_at=receipt.received_at,
            headers=headers,
            size=size,
            bucket=location.bucket,
            raw_key=key,
            verdicts=receipt.verdicts,
            flags=frozenset(flags),
        )
        if not index.add(entry):
            duplicates.append(mailbox)
            continue
        stored.append(mailbox)
        routes = webhook_events.routes_for(folder, box.webhooks)
        if routes:
            announce.append((entry, routes))
        correspondent = learn(entry, receipt.envelope_sender, directory, now=clock.now())
        if correspondent is not None:
            learned.append((mailbox, correspondent))
    queued, failure = _announce(announce, whole, webhooks, now=clock.now())
    return replace(
        outcome,
        stored=tuple(stored),
        duplicates=tuple(duplicates),
        unknown_recipients=tuple(unknown),
        correspondents=tuple(learned),
        webhooks_queued=queued,
        webhooks_failed=failure,
    )


def _announce(
    announce: list[tuple[InboundMessage, list[WebhookRoute]]],
    whole: bytes | None,
    outbox: WebhookOutbox | None,
    *,
    now: datetime,
) -> tuple[int, str]:
    """Queue the events; a refused enqueue is reported (the mail stays filed, and retrying the receipt
    could not help: a redelivered receipt is a duplicate, which announces nothing)."""
    if not announce or outbox is None:
        return 0, ""
    text = ""
    if whole is not None:
        from litemx.inbound import mime  # the parser: imported where mail is parsed

        parts = mime.read_parts(whole)
        text = webhook_events.snippet(parts.text, parts.html)
    jobs = [
        webhook_events.job_for(entry, route, snippet_text=text, queued_at=now)
        for entry, routes in announce
        for route in routes
    ]
    try:
        outbox.enqueue(jobs)
    except EnqueueError as error:
        return 0, str(error)
    return len(jobs), ""


def _read_headers(
    raw: RawMail, key: str, size: int, envelope_sender: str, max_parse_bytes: int
) -> tuple[ParsedHeaders, bytes | None]:
    """The headers, and the whole message when it was read whole (for a webhook event's snippet)."""
    from litemx.inbound import mime  # the parser: imported where mail is parsed, not by every reader

    if size <= max_parse_bytes:
        whole = raw.read(key)
        return mime.read_headers(whole, whole=True, envelope_sender=envelope_sender), whole
    head = raw.read(key, max_bytes=mime.HEADER_READ_BYTES)
    return mime.read_headers(head, whole=False, envelope_sender=envelope_sender), None


def _resolve(recipients: Sequence[str], directory: MailboxDirectory) -> tuple[list[Mailbox], list[str]]:
    mailboxes: list[Mailbox] = []
    unknown: list[str] = []
    for recipient in recipients:
        address = route(recipient)
        try:
            mailbox = directory.get_mailbox(address) if address else None
        except NotFoundError:
            mailbox = None
        if mailbox is None:
            unknown.append(recipient)
        elif mailbox.address not in {m.address for m in mailboxes}:
            mailboxes.append(mailbox)
    return mailboxes, unknown


def aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment without a public-suffix list: the same domain, or one a subdomain of the other.
    Sibling subdomains (`bounce.x.com` for `mail.x.com`) do not align here: the safe direction."""
    domain, from_domain = domain.lower().rstrip("."), from_domain.lower().rstrip(".")
    if not domain or not from_domain:
        return False
    return domain == from_domain or domain.endswith(f".{from_domain}") or from_domain.endswith(f".{domain}")


def authenticated_from(verdicts: Verdicts, from_address: str, envelope_sender: str) -> bool:
    """Whether SES's verdicts prove the From domain: DMARC PASS, or (no DMARC verdict) SPF PASS for an
    envelope sender aligned with From. DMARC FAIL, and GRAY or PROCESSING_FAILED everywhere, prove
    nothing. SES's DKIM verdict does not name the signing domain, so DKIM counts through DMARC only."""
    if verdicts.dmarc == "PASS":
        return True
    if verdicts.dmarc == "FAIL" or verdicts.spf != "PASS":
        return False
    return aligned(domain_of(envelope_sender), domain_of(from_address))


def learn(
    entry: InboundMessage, envelope_sender: str, directory: MailboxDirectory, *, now: datetime
) -> str | None:
    """What a received message teaches the mailbox; returns the correspondent learned, if any.

    Only a clean message (inbox: no spam or virus verdict, DMARC not failed, not a bounce) whose From
    domain is authenticated teaches anything, and never one From the mailbox itself:
    - a reply right: the mailbox may answer this Message-ID, to its From, Reply-To, To and Cc;
    - a correspondent: its From, unless it was auto-generated (auto-replies, list mail).
    """
    headers = entry.headers
    if entry.folder is not Folder.INBOX or Flag.SPOOF_SUSPECT in entry.flags or headers.bounce:
        return None
    sender = headers.from_address
    if not sender or sender == entry.mailbox:
        return None
    if not authenticated_from(entry.verdicts, sender, envelope_sender):
        return None
    if headers.message_id:
        participants = [sender, *headers.reply_to, *headers.to, *headers.cc]
        directory.record_reply_right(
            entry.mailbox, headers.message_id, [a for a in participants if a != entry.mailbox], now=now
        )
    if headers.auto_generated:
        return None
    directory.record_correspondent(entry.mailbox, sender, now=now)
    return sender


# ---- the read API ----


def check_owner(token_mailbox: str, address: str) -> str:
    """The mailbox a `read` token may read: only its own."""
    requested = normalize_address(address) or address.strip().lower()
    if requested != token_mailbox:
        raise MailboxMismatchError(f"This token may read only {token_mailbox}, not {requested}.")
    return requested


def list_messages(
    index: InboundIndex, mailbox: str, *, folder: Folder, limit: int, cursor: str | None
) -> Page:
    if folder not in LISTED_FOLDERS:
        raise InvalidCursorError(f"folder {folder.value} is not listed")
    return index.list(mailbox, folder, limit=max(1, min(limit, MAX_PAGE)), cursor=cursor)


def message_detail(
    index: InboundIndex,
    raw: RawMail,
    mailbox: str,
    message_id: str,
    *,
    now: datetime,
    max_parse_bytes: int = DEFAULT_MAX_PARSE_BYTES,
    url_lifetime: timedelta = RAW_URL_LIFETIME,
) -> MessageDetail:
    """One indexed message in full. Every indexed, listed message has an answer: broken MIME is read as
    far as it goes (flagged), and a raw message gone from the bucket is answered from the index alone."""
    entry = index.get(mailbox, message_id) if is_public_id(message_id) else None
    if entry is None or entry.folder not in LISTED_FOLDERS:
        raise MessageNotFoundError(f"{mailbox} has no message {message_id[:200]}")
    url = raw.presign(entry.raw_key, expires_in=url_lifetime)
    detail = MessageDetail(message=entry, raw_url=url, raw_url_expires_at=now + url_lifetime)
    from litemx.inbound import mime  # the parser: the mailbox listing routes never need it

    try:
        if entry.size > max_parse_bytes:
            head = raw.read(entry.raw_key, max_bytes=mime.HEADER_READ_BYTES)
            return replace(detail, headers=mime.header_list(head), parts_omitted=True)
        body = raw.read(entry.raw_key)
    except RawMailMissingError:
        return replace(
            detail,
            raw_url="",
            raw_url_expires_at=None,
            parts_omitted=True,
            flags=frozenset({Flag.RAW_MISSING}),
        )
    parts = mime.read_parts(body)
    return replace(
        detail,
        headers=mime.header_list(body),
        text=parts.text,
        html=parts.html,
        attachments=parts.attachments,
        flags=parts.flags,
    )
