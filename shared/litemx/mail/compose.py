"""Build the raw MIME of an outbound message (stdlib `email`, SMTP policy: CRLF, encoded Unicode headers).

Addresses are written normalised (lower case, ASCII/IDNA domains) and deduplicated across to, cc and bcc
(`recipient_set`, the same set the caps count); Bcc recipients never appear in the headers, only in the
envelope. The Message-ID is minted on the sending domain so that replies thread back to it. Every input
becomes a message or a ComposeError with a stable code: nothing else is raised.
"""

from __future__ import annotations

import email.errors
import email.policy
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from litemx.addresses import normalize_address, recipient_set
from litemx.mail.headers import breaks_header, extra_header_refusal, has_lone_surrogate

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
_TOKEN = re.compile(r"^[A-Za-z0-9!#$&^_.+-]{1,64}$")


class ComposeError(ValueError):
    """The request cannot become a valid message; `code` is the stable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Draft:
    from_address: str
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    subject: str = ""
    text: str | None = None
    html: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ComposedMessage:
    raw: bytes
    rfc_message_id: str
    envelope_recipients: tuple[str, ...]


def _checked_address(raw: str, code: str) -> Address:
    """`raw` normalised (lower case, ASCII domain) as a header address; ComposeError with `code`, or
    `header_injection` for a line break, when it is not a plain address."""
    canonical = normalize_address(raw) if not has_lone_surrogate(raw) else None
    if canonical is None:
        if breaks_header(raw):
            raise ComposeError("header_injection", "An address contains a line break or a control character.")
        raise ComposeError(code, f"{raw[:320]!r} is not a valid address")
    local, _, host = canonical.rpartition("@")
    if not local.isascii():
        raise ComposeError(
            code, f"{raw[:320]!r}: non-ASCII local parts (SMTPUTF8) are not supported by the provider"
        )
    return Address(username=local, domain=host)


def _check_text(draft: Draft) -> None:
    """Refuse what cannot stand in a header or be encoded, before the stdlib sees it."""
    header_values = [
        draft.subject,
        draft.in_reply_to or "",
        *draft.references,
        *draft.headers.values(),
        *(a.filename for a in draft.attachments),
    ]
    everything = [*header_values, *draft.headers, draft.text or "", draft.html or ""]
    if any(has_lone_surrogate(value) for value in everything):
        raise ComposeError(
            "message_invalid", "The message contains text that cannot be encoded (a lone surrogate)."
        )
    if any(breaks_header(value) for value in header_values):
        raise ComposeError(
            "header_injection",
            "A header value, the subject or a filename contains a line break or a control character.",
        )
    for name in draft.headers:
        refused = extra_header_refusal(name)
        if refused is not None:
            raise ComposeError("header_not_allowed", refused)
    for attachment in draft.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        if not _TOKEN.match(maintype) or not _TOKEN.match(subtype):
            raise ComposeError("attachment_invalid", f"{attachment.content_type[:100]!r} is not a MIME type")


def compose(draft: Draft, *, now: datetime, max_bytes: int = DEFAULT_MAX_BYTES) -> ComposedMessage:
    """The MIME message for `draft`, or ComposeError with a stable code (`message_too_large` past
    `max_bytes`). Total: nothing else is raised, whatever the draft holds."""
    if draft.text is None and draft.html is None:
        raise ComposeError("body_missing", "A message needs text, html or both.")
    _check_text(draft)
    sender = _checked_address(draft.from_address, "from_invalid")
    recipients = recipient_set(draft.to, draft.cc, draft.bcc)
    for given in recipients.invalid:
        _checked_address(given, "recipient_invalid")  # raises: it is not an address
    if not recipients.all:
        raise ComposeError("recipients_missing", "Name at least one recipient in to, cc or bcc.")
    to = [_checked_address(a, "recipient_invalid") for a in recipients.to]
    cc = [_checked_address(a, "recipient_invalid") for a in recipients.cc]
    for address in recipients.bcc:
        _checked_address(address, "recipient_invalid")
    reply_to = [_checked_address(a, "reply_to_invalid") for a in dict.fromkeys(draft.reply_to)]
    try:
        raw, rfc_message_id = _build(draft, sender, to, cc, reply_to, now)
    except (ValueError, TypeError, LookupError, email.errors.MessageError) as problem:
        # Last resort: the checks above should leave nothing the stdlib refuses.
        raise ComposeError(
            "message_invalid", f"The message cannot be encoded: {type(problem).__name__}."
        ) from None
    if len(raw) > max_bytes:
        raise ComposeError(
            "message_too_large", f"The encoded message is {len(raw)} bytes; the limit is {max_bytes} bytes."
        )
    return ComposedMessage(raw=raw, rfc_message_id=rfc_message_id, envelope_recipients=recipients.all)


def _build(
    draft: Draft,
    sender: Address,
    to: list[Address],
    cc: list[Address],
    reply_to: list[Address],
    now: datetime,
) -> tuple[bytes, str]:
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    if to:
        message["To"] = to
    if cc:
        message["Cc"] = cc
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = draft.subject
    message["Date"] = format_datetime(now, usegmt=True)
    rfc_message_id = make_msgid(domain=sender.domain)
    message["Message-ID"] = rfc_message_id
    if draft.in_reply_to:
        message["In-Reply-To"] = draft.in_reply_to
    references = list(draft.references) or ([draft.in_reply_to] if draft.in_reply_to else [])
    if references:
        message["References"] = " ".join(references)
    for name, value in draft.headers.items():
        message[name] = value
    _set_body(message, draft)
    return message.as_bytes(), rfc_message_id


def _set_body(message: EmailMessage, draft: Draft) -> None:
    if draft.text is not None:
        message.set_content(draft.text, cte="quoted-printable")
        if draft.html is not None:
            message.add_alternative(draft.html, subtype="html", cte="quoted-printable")
    elif draft.html is not None:
        message.set_content(draft.html, subtype="html", cte="quoted-printable")
    for attachment in draft.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
