"""The received message a reply answers, as litemx.mail.reply needs it: from the index, and its text
(read from the raw message) only when the reply quotes it."""

from __future__ import annotations

from datetime import datetime

from litemx.inbound.logic import InboundIndex, RawMail, message_detail
from litemx.inbound.models import (
    LISTED_FOLDERS,
    InboundMessage,
    ParsedHeaders,
    is_public_id,
)
from litemx.inbound.reads import MessageNotFoundError
from litemx.mail.reply import Original


def reply_original(
    index: InboundIndex, raw: RawMail, mailbox: str, message_id: str, *, now: datetime, with_text: bool
) -> Original:
    """The mailbox's listed message `message_id` (inbox or spam); MessageNotFoundError otherwise."""
    if with_text:
        detail = message_detail(index, raw, mailbox, message_id, now=now)
        return _original(detail.message, next((t for t in detail.text if t.strip()), ""))
    entry = index.get(mailbox, message_id) if is_public_id(message_id) else None
    if entry is None or entry.folder not in LISTED_FOLDERS:
        raise MessageNotFoundError(f"{mailbox} has no message {message_id[:200]}")
    return _original(entry, "")


def _original(entry: InboundMessage, text: str) -> Original:
    return original_from(entry.mailbox, entry.headers, received_at=entry.received_at, text=text)


def original_from(mailbox: str, headers: ParsedHeaders, *, received_at: datetime, text: str) -> Original:
    """What a reply needs of a received message's parsed headers (the one mapping, tests included)."""
    return Original(
        mailbox=mailbox,
        from_address=headers.from_address,
        reply_to=headers.reply_to,
        to=headers.to,
        cc=headers.cc,
        subject=headers.subject,
        message_id=headers.message_id,
        references=headers.references,
        in_reply_to=headers.in_reply_to,
        from_header=headers.from_header,
        received_at=received_at,
        text=text,
    )
