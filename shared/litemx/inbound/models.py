"""Received mail as LiteMX keeps it: one index entry per mailbox, the raw message in S3."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


class Folder(StrEnum):
    INBOX = "inbox"
    SPAM = "spam"
    QUARANTINE = "quarantine"  # virus: kept for the operator, never listed or served


LISTED_FOLDERS = (Folder.INBOX, Folder.SPAM)


class Flag(StrEnum):
    MALFORMED = "malformed"  # MIME defects: stored with what could be parsed
    HEADERS_ONLY = "headers_only"  # too large to parse whole here: indexed from its header block
    HEADERS_TRUNCATED = "headers_truncated"  # the header block did not end within the part read
    MISSING_MESSAGE_ID = "missing_message_id"
    AUTO_GENERATED = "auto_generated"  # Auto-Submitted, null/MAILER-DAEMON sender, list mail
    BOUNCE = "bounce"  # a delivery status notification
    SPOOF_SUSPECT = "spoof_suspect"  # DMARC failed
    HAS_ATTACHMENTS = "has_attachments"
    CHARSET_FALLBACK = "charset_fallback"  # a text part's charset failed to decode: read as UTF-8, replaced
    RAW_MISSING = "raw_missing"  # (read API only) the raw message is gone from the bucket


@dataclass(frozen=True)
class Verdicts:
    """SES's receipt verdicts: PASS, FAIL, GRAY or PROCESSING_FAILED; `dmarc_policy` only on DMARC FAIL."""

    spam: str = "GRAY"
    virus: str = "GRAY"
    spf: str = "GRAY"
    dkim: str = "GRAY"
    dmarc: str = "GRAY"
    dmarc_policy: str | None = None

    def folder(self) -> Folder:
        if self.virus == "FAIL":
            return Folder.QUARANTINE
        if self.spam == "FAIL" or (self.dmarc == "FAIL" and (self.dmarc_policy or "").lower() == "reject"):
            return Folder.SPAM
        return Folder.INBOX

    def as_dict(self) -> dict[str, str]:
        values = {
            "spam": self.spam,
            "virus": self.virus,
            "spf": self.spf,
            "dkim": self.dkim,
            "dmarc": self.dmarc,
        }
        if self.dmarc_policy:
            values["dmarc_policy"] = self.dmarc_policy
        return values


@dataclass(frozen=True)
class Receipt:
    """What SES tells the receipt Lambda about one accepted message (no body)."""

    ses_message_id: str
    received_at: datetime
    recipients: tuple[str, ...]  # envelope recipients that matched the receipt rule
    envelope_sender: str  # MAIL FROM; empty for bounces
    verdicts: Verdicts


@dataclass(frozen=True)
class ParsedHeaders:
    """What the index keeps from the message's own headers."""

    from_address: str = ""  # canonical address of From, or "" when absent or unparseable
    from_header: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    subject: str = ""
    message_id: str = ""  # without angle brackets
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    auto_generated: bool = False
    bounce: bool = False
    flags: frozenset[Flag] = frozenset()


@dataclass(frozen=True)
class InboundMessage:
    """One index entry: a message as one mailbox received it."""

    mailbox: str
    message_id: str  # LiteMX's id in the read API
    ses_message_id: str
    folder: Folder
    received_at: datetime
    headers: ParsedHeaders
    size: int
    bucket: str
    raw_key: str
    verdicts: Verdicts
    flags: frozenset[Flag] = frozenset()


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class MessageDetail:
    message: InboundMessage
    text: tuple[str, ...] = ()
    html: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    raw_url: str = ""
    raw_url_expires_at: datetime | None = None
    parts_omitted: bool = False  # too large to parse here (use the raw URL), or the raw message is gone
    flags: frozenset[Flag] = frozenset()  # what reading the raw message found, beyond the index's flags


@dataclass(frozen=True)
class Page:
    messages: tuple[InboundMessage, ...]
    cursor: str | None  # pass back to get the next (older) page; None at the end


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one receipt did: per mailbox stored (or already stored), and what was not delivered."""

    ses_message_id: str
    folder: Folder
    stored: tuple[str, ...] = ()
    duplicates: tuple[str, ...] = ()
    unknown_recipients: tuple[str, ...] = ()
    correspondents: tuple[tuple[str, str], ...] = ()  # (mailbox, address) recorded
    flags: frozenset[Flag] = frozenset()
    details: Mapping[str, str] = field(default_factory=dict)
    webhooks_queued: int = 0  # message.received events queued for the mailboxes' webhooks
    webhooks_failed: str = ""  # why Lambda refused them (the mail itself is filed)


def id_time(at: datetime) -> str:
    """Fixed-width UTC time that sorts like the time and is safe in a URL path."""
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def public_id(received_at: datetime, ses_message_id: str) -> str:
    return f"{id_time(received_at)}.{ses_message_id}"


# SES receipt message ids are about 40 characters of [a-z0-9]; 128 leaves room and bounds every key.
MAX_SES_MESSAGE_ID = 128
PUBLIC_ID = re.compile(rf"^[0-9]{{8}}T[0-9]{{12}}Z\.[A-Za-z0-9._-]{{1,{MAX_SES_MESSAGE_ID}}}$")


def is_public_id(value: str) -> bool:
    """Whether `value` has the shape of an id `public_id` makes (anything else names no message)."""
    return PUBLIC_ID.match(value) is not None


def normalize_message_id(value: str) -> str:
    """A Message-ID as both the index and the policy compare it: without angle brackets and blanks."""
    return value.strip().removeprefix("<").removesuffix(">").strip()
