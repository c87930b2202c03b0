"""Domain types of drafts; the storage class never leaves the store module."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from litemx.errors import LiteMXError, NotFoundError
from litemx.mail.compose import Attachment, Draft

# A DynamoDB item holds at most 400 KB; a draft's content (attachments base64) stays well inside it.
MAX_DRAFT_BYTES = 300 * 1024
MAX_LISTED_DRAFTS = 50
DRAFT_ID_PATTERN = r"^drf-[0-9a-f]{32}$"


class DraftStatus(StrEnum):
    PENDING = "pending"  # may be edited, discarded, approved
    SENT = "sent"  # approved and accepted: its message is queued (see its status under /v1/messages)


class DraftNotFoundError(NotFoundError):
    code = "draft_not_found"


class DraftNotPendingError(LiteMXError):
    """The draft was already approved and sent: it can no longer change (HTTP 409)."""

    code = "draft_not_pending"


class DraftTooLargeError(LiteMXError):
    """A draft's content (attachments included) takes more than MAX_DRAFT_BYTES (HTTP 413)."""

    code = "draft_too_large"


@dataclass(frozen=True)
class DraftRefusal:
    """Why the last approval was refused: the decision's (or the composer's) stable code and sentence."""

    code: str
    message: str
    at: datetime
    by: str  # who approved: `operator:<login>` or the approving token's id


@dataclass(frozen=True)
class StoredDraft:
    draft_id: str
    account_id: str
    mailbox: str
    token_id: str  # the token that wrote it
    content: Draft
    created_at: datetime
    updated_at: datetime
    message_id: str  # the id its send will have: an approval sends it at most once
    status: DraftStatus = DraftStatus.PENDING
    reply_of: str | None = None  # the received message it answers (read API id), for a reply draft
    refusal: DraftRefusal | None = None
    approved_by: str | None = None
    sent_at: datetime | None = None


def new_draft_id(now: datetime) -> str:
    """`drf-` and 32 hex digits: the UTC time to the microsecond (so that ids sort as drafts were made)
    and 12 random ones."""
    return f"drf-{now.astimezone(UTC):%Y%m%d%H%M%S%f}{uuid.uuid4().hex[:12]}"


def draft_message_id(draft_id: str, attempt: int = 0) -> str:
    """The outbound message id of a draft's send (another after an outage cancelled an attempt)."""
    suffix = f"-{attempt}" if attempt else ""
    return f"msg-{draft_id.removeprefix('drf-')}{suffix}"


def content_json(content: Draft) -> str:
    """The draft's content as stored: JSON, attachments base64; DraftTooLargeError past the limit."""
    text = json.dumps(
        {
            "from": content.from_address,
            "to": list(content.to),
            "cc": list(content.cc),
            "bcc": list(content.bcc),
            "reply_to": list(content.reply_to),
            "subject": content.subject,
            "text": content.text,
            "html": content.html,
            "in_reply_to": content.in_reply_to,
            "references": list(content.references),
            "headers": dict(content.headers),
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "content": base64.b64encode(a.data).decode("ascii"),
                }
                for a in content.attachments
            ],
        },
        ensure_ascii=False,
    )
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DRAFT_BYTES:
        raise DraftTooLargeError(
            f"The draft takes {size} bytes; a draft holds at most {MAX_DRAFT_BYTES} bytes (attachments "
            "included, base64). Send larger messages directly, or attach less."
        )
    return text


def content_from_json(text: str) -> Draft:
    data: dict[str, Any] = json.loads(text)
    return Draft(
        from_address=str(data.get("from", "")),
        to=tuple(data.get("to") or ()),
        cc=tuple(data.get("cc") or ()),
        bcc=tuple(data.get("bcc") or ()),
        reply_to=tuple(data.get("reply_to") or ()),
        subject=str(data.get("subject") or ""),
        text=data.get("text"),
        html=data.get("html"),
        in_reply_to=data.get("in_reply_to"),
        references=tuple(data.get("references") or ()),
        headers=dict(data.get("headers") or {}),
        attachments=tuple(
            Attachment(a["filename"], a["content_type"], base64.b64decode(a["content"]))
            for a in data.get("attachments") or ()
        ),
    )


class DraftStore(Protocol):
    def create(self, draft: StoredDraft) -> None: ...
    def get(self, mailbox: str, draft_id: str) -> StoredDraft:
        """The mailbox's draft; DraftNotFoundError when it has no such draft."""
        ...

    def find(self, draft_id: str) -> StoredDraft:
        """Any mailbox's draft (operators); DraftNotFoundError."""
        ...

    def list(self, account_id: str, mailbox: str | None = None) -> list[StoredDraft]:
        """The account's (or one mailbox's) drafts, newest first, at most MAX_LISTED_DRAFTS."""
        ...

    def replace_content(self, draft: StoredDraft, content: Draft, *, now: datetime) -> StoredDraft:
        """New content for a pending draft (its last refusal is cleared); DraftNotPendingError."""
        ...

    def delete(self, draft: StoredDraft) -> None: ...
    def record_refusal(self, draft: StoredDraft, refusal: DraftRefusal, *, message_id: str) -> bool:
        """Keep a refused approval's reason on a pending draft (and the message id its next approval
        will use); False when the draft is no longer pending (another approval sent it)."""
        ...

    def mark_sent(self, draft: StoredDraft, *, approved_by: str, at: datetime) -> StoredDraft:
        """A pending draft is now sent (idempotent: a draft already sent is answered as it is)."""
        ...
