"""Build the raw MIME of an outbound message (stdlib `email`, SMTP policy: CRLF, encoded Unicode headers).

Addresses are written with ASCII (IDNA) domains; Bcc recipients never appear in the headers, only in
the envelope. The Message-ID is minted on the sending domain so that replies thread back to it.
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from litemx.addresses import ascii_domain, domain_of, has_line_break

DEFAULT_MAX_BYTES = 10 * 1024 * 1024


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


def _address(raw: str) -> Address:
    local, _, domain = raw.strip().rpartition("@")
    host = ascii_domain(domain)
    if not local or host is None or has_line_break(raw):
        raise ComposeError("recipient_invalid", f"{raw!r} is not a valid address")
    if not local.isascii():
        raise ComposeError(
            "recipient_invalid",
            f"{raw!r}: non-ASCII local parts (SMTPUTF8) are not supported by the provider",
        )
    return Address(username=local, domain=host)


def compose(draft: Draft, *, now: datetime, max_bytes: int = DEFAULT_MAX_BYTES) -> ComposedMessage:
    """The MIME message for `draft`; ComposeError with `message_too_large` past `max_bytes`."""
    if draft.text is None and draft.html is None:
        raise ComposeError("body_missing", "A message needs text, html or both.")
    sender = _address(draft.from_address)
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    if draft.to:
        message["To"] = [_address(a) for a in draft.to]
    if draft.cc:
        message["Cc"] = [_address(a) for a in draft.cc]
    if draft.reply_to:
        message["Reply-To"] = [_address(a) for a in draft.reply_to]
    message["Subject"] = draft.subject
    message["Date"] = format_datetime(now, usegmt=True)
    rfc_message_id = make_msgid(domain=ascii_domain(domain_of(draft.from_address)) or sender.domain)
    message["Message-ID"] = rfc_message_id
    if draft.in_reply_to:
        message["In-Reply-To"] = draft.in_reply_to
    references = list(draft.references) or ([draft.in_reply_to] if draft.in_reply_to else [])
    if references:
        message["References"] = " ".join(references)
    for name, value in draft.headers.items():
        message[name] = value
    _set_body(message, draft)
    raw = message.as_bytes()
    if len(raw) > max_bytes:
        raise ComposeError(
            "message_too_large", f"The encoded message is {len(raw)} bytes; the limit is {max_bytes} bytes."
        )
    envelope = tuple(f"{a.username}@{a.domain}" for a in map(_address, (*draft.to, *draft.cc, *draft.bcc)))
    return ComposedMessage(raw=raw, rfc_message_id=rfc_message_id, envelope_recipients=envelope)


def _set_body(message: EmailMessage, draft: Draft) -> None:
    if draft.text is not None:
        message.set_content(draft.text, cte="quoted-printable")
        if draft.html is not None:
            message.add_alternative(draft.html, subtype="html", cte="quoted-printable")
    elif draft.html is not None:
        message.set_content(draft.html, subtype="html", cte="quoted-printable")
    for attachment in draft.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        if not maintype or not subtype:
            raise ComposeError("attachment_invalid", f"{attachment.content_type!r} is not a MIME type")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
