"""Reading a mailbox (scope `read`): its messages newest first, and one message in full.

A Powertools Router included by the api handler (`app.include_router(router)`). It raises domain errors;
AuthError and NotFoundError are answered by the app's handlers, the two errors only this router raises are
answered here, in the same `{"error": {"code", "message"}}` shape.

The inbound models, logic and store load when a route first reads a mailbox, not with the api: most of its
cold starts send and never read, and registering these routes needs only their answers and refusals
(litemx.inbound.reads).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import ConfigDict, Field

from functions.api import guard
from functions.api.answers import error
from functions.api.docs import MESSAGE_ID, responses
from functions.api.models import ApiModel
from functions.settings import table_names
from litemx.clock import SystemClock
from litemx.directory.store import DirectoryStore
from litemx.inbound.reads import MAX_PAGE, InvalidCursorError, MailboxMismatchError
from litemx.storage.session import lazy_client
from litemx.storage.tables import bind_tables

if TYPE_CHECKING:
    from litemx.inbound.models import InboundMessage, MessageDetail
    from litemx.inbound.store import DynamoInboundIndex, S3RawMail

router = Router()  # type: ignore[no-untyped-call]
# A mailbox address as it arrives in the path: API Gateway (HTTP API) delivers the path percent-decoded,
# so `support%40a.test` reaches the handler as `support@a.test` (the local system does the same).
ADDRESS: dict[str, Any] = {"min_length": 1, "max_length": 320, "description": "The mailbox address"}


class MailboxSettings(ApiModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    raw_mail_bucket: str = Field(alias="RAW_MAIL_BUCKET", min_length=1)


@dataclass(frozen=True)
class Runtime:
    directory: DirectoryStore
    index: DynamoInboundIndex
    raw: S3RawMail
    clock: SystemClock


@cache
def runtime() -> Runtime:
    """Built on first use, not at import; cached for the life of the process."""
    from litemx.inbound.store import DynamoInboundIndex, S3RawMail

    bind_tables(table_names())
    settings = MailboxSettings.model_validate(dict(os.environ))
    return Runtime(
        directory=DirectoryStore(),
        index=DynamoInboundIndex(),
        raw=S3RawMail(lazy_client("s3"), settings.raw_mail_bucket),
        clock=SystemClock(),
    )


# ---- answers ----


class VerdictsOut(ApiModel):
    spam: str
    virus: str
    spf: str
    dkim: str
    dmarc: str
    dmarc_policy: str | None = None


class MessageSummaryOut(ApiModel):
    id: str
    folder: str
    received_at: datetime
    from_: str = Field(serialization_alias="from")
    from_address: str
    to: list[str]
    cc: list[str]
    subject: str
    message_id: str = Field(description="The Message-ID header, without angle brackets")
    in_reply_to: str
    references: list[str]
    size: int
    verdicts: VerdictsOut
    flags: list[str] = Field(
        description="malformed, headers_only, headers_truncated, missing_message_id, auto_generated, bounce, "
        "spoof_suspect, has_attachments, charset_fallback; in a message read in full also raw_missing"
    )


class MessagePageOut(ApiModel):
    mailbox: str
    folder: str
    messages: list[MessageSummaryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for older messages; null at the end")


class AttachmentOut(ApiModel):
    filename: str
    content_type: str
    size: int


class HeaderOut(ApiModel):
    name: str
    value: str


class MessageDetailOut(MessageSummaryOut):
    headers: list[HeaderOut]
    text: list[str]
    html: list[str]
    attachments: list[AttachmentOut]
    parts_omitted: bool = Field(
        description="Too large to parse here (fetch raw_url instead), or the raw message is gone (flag "
        "raw_missing: the answer is what the index holds)"
    )
    raw_url: str = Field(description="A presigned URL to the raw message (RFC 5322); empty when it is gone")
    raw_url_expires_at: datetime | None


def _summary(message: InboundMessage) -> dict[str, object]:
    headers = message.headers
    return {
        "id": message.message_id,
        "folder": message.folder.value,
        "received_at": message.received_at,
        "from_": headers.from_header,
        "from_address": headers.from_address,
        "to": list(headers.to),
        "cc": list(headers.cc),
        "subject": headers.subject,
        "message_id": headers.message_id,
        "in_reply_to": headers.in_reply_to,
        "references": list(headers.references),
        "size": message.size,
        "verdicts": VerdictsOut(**message.verdicts.as_dict()),
        "flags": sorted(flag.value for flag in message.flags),
    }


def _detail(detail: MessageDetail) -> MessageDetailOut:
    summary = _summary(detail.message) | {
        "flags": sorted(flag.value for flag in detail.message.flags | detail.flags)
    }
    return MessageDetailOut(
        **summary,
        headers=[HeaderOut(name=name, value=value) for name, value in detail.headers],
        text=list(detail.text),
        html=list(detail.html),
        attachments=[
            AttachmentOut(filename=a.filename, content_type=a.content_type, size=a.size)
            for a in detail.attachments
        ],
        parts_omitted=detail.parts_omitted,
        raw_url=detail.raw_url,
        raw_url_expires_at=detail.raw_url_expires_at,
    )


def _reader(address: str) -> str:
    """The mailbox the bearer may read: the guard verified a live `read` token; it must be this mailbox's."""
    from litemx.inbound.logic import check_owner

    return check_owner(guard.principal().mailbox, address)


@router.get(
    "/v1/mailboxes/<address>/messages",
    summary="A mailbox's received messages, newest first",
    responses=responses(
        (200, "One page of messages and the cursor of the next", MessagePageOut), 400, 401, 403, 404, 500
    ),
)
def list_mailbox_messages(
    address: Annotated[str, Path(**ADDRESS)],
    folder: Annotated[Literal["inbox", "spam"], Query(description="inbox or spam")] = "inbox",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 25,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> MessagePageOut:
    from litemx.inbound.logic import list_messages
    from litemx.inbound.models import Folder

    mailbox = _reader(address)
    page = list_messages(runtime().index, mailbox, folder=Folder(folder), limit=limit, cursor=cursor)
    return MessagePageOut(
        mailbox=mailbox,
        folder=folder,
        messages=[MessageSummaryOut(**_summary(m)) for m in page.messages],
        next_cursor=page.cursor,
    )


@router.get(
    "/v1/mailboxes/<address>/messages/<message_id>",
    summary="One received message: headers, text and HTML parts, attachments, a link to the raw message",
    responses=responses((200, "The message", MessageDetailOut), 400, 401, 403, 404, 500),
)
def get_mailbox_message(
    address: Annotated[str, Path(**ADDRESS)], message_id: Annotated[str, Path(**MESSAGE_ID)]
) -> MessageDetailOut:
    from litemx.inbound.logic import message_detail

    mailbox = _reader(address)
    rt = runtime()
    return _detail(message_detail(rt.index, rt.raw, mailbox, message_id, now=rt.clock.now()))


@router.exception_handler(MailboxMismatchError)  # type: ignore[untyped-decorator]
def _mailbox_mismatch(problem: MailboxMismatchError) -> Response[str]:
    return error(403, problem.code, str(problem)).response()


@router.exception_handler(InvalidCursorError)  # type: ignore[untyped-decorator]
def _invalid_cursor(problem: InvalidCursorError) -> Response[str]:
    return error(400, problem.code, str(problem)).response()
