"""The HTTP API's request and response shapes (Pydantic): they validate at the edge and feed OpenAPI."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from litemx.addresses import has_line_break, normalize_address
from litemx.mail.compose import Attachment, Draft
from litemx.mail.headers import MAX_HEADER_NAME, MAX_HEADER_VALUE, has_lone_surrogate
from litemx.outbound.uploads import MAX_UPLOAD_BYTES

MAX_ADDRESSES = 50
MAX_EXTRA_HEADERS = 20
ADDRESS_SCHEMA: dict[str, Any] = {
    "format": "idn-email",
    "description": "A bare address (`local@domain`, IDN domains accepted; no display name)",
}
Address = Annotated[str, Field(min_length=3, max_length=320, json_schema_extra=ADDRESS_SCHEMA)]
HeaderName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_HEADER_NAME)]
HeaderValue = Annotated[str, StringConstraints(max_length=MAX_HEADER_VALUE)]


class ApiModel(BaseModel):
    """The base of every API shape: its validator is built on first use, not at import. A cold start then
    builds only the shapes its route uses (the OpenAPI document builds the rest when asked for)."""

    model_config = ConfigDict(defer_build=True)


def _address_error(value: str, code: str) -> PydanticCustomError | None:
    """The stable code a refused address answers with (the policy's codes), or None when it is valid."""
    if has_line_break(value):
        return PydanticCustomError(
            "header_injection", "An address contains a line break or a control character."
        )
    if has_lone_surrogate(value) or normalize_address(value) is None:
        return PydanticCustomError(
            code, "{value} is not a bare mail address (no display name)", {"value": value[:320]}
        )
    return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, BaseModel):
        return _strings(value.model_dump())
    return []


class AttachmentIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(
        default="application/octet-stream", pattern=r"^[A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,64}$"
    )
    content: str = Field(
        description="The file, base64-encoded",
        pattern=r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
    )

    @field_validator("content")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError("content must be base64") from error
        return value


class UploadAttachmentIn(ApiModel):
    """An attachment uploaded first (POST /v1/uploads): its filename and content type are the upload's."""

    model_config = ConfigDict(extra="forbid")

    upload_id: str = Field(
        pattern=r"^upl-[0-9a-f]{32}$",
        description="The `id` POST /v1/uploads answered; the file must be uploaded",
    )


class UploadIn(ApiModel):
    """POST /v1/uploads: the file that will be uploaded, declared before."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(pattern=r"^[A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,64}$")
    # Range checked by the domain (`upload_invalid`, with the numbers), not here.
    size: int = Field(description=f"The file's exact size in bytes (1 to {MAX_UPLOAD_BYTES})")


class UploadOut(ApiModel):
    id: str
    method: str = Field(description="Always `POST`: a multipart/form-data upload to `url`")
    url: str
    fields: dict[str, str] = Field(
        description="Form fields to send, in this order, before the `file` field (the file itself, last)"
    )
    expires_at: datetime
    max_bytes: int = Field(description="S3 refuses a file of any other size")


class SendMessageIn(ApiModel):
    """POST /v1/messages and POST /v1/policy/check."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    from_: Address = Field(alias="from")
    to: list[Address] = Field(default_factory=list, max_length=MAX_ADDRESSES)
    cc: list[Address] = Field(default_factory=list, max_length=MAX_ADDRESSES)
    bcc: list[Address] = Field(default_factory=list, max_length=MAX_ADDRESSES)
    reply_to: list[Address] = Field(default_factory=list, max_length=10)
    subject: str = Field(default="", max_length=998)
    text: str | None = None
    html: str | None = None
    in_reply_to: str | None = Field(default=None, max_length=998)
    references: list[Annotated[str, StringConstraints(max_length=998)]] = Field(
        default_factory=list, max_length=100
    )
    headers: dict[HeaderName, HeaderValue] = Field(
        default_factory=dict,
        max_length=MAX_EXTRA_HEADERS,
        description="Extra headers: `X-` followed by letters, digits and hyphens (not `X-SES-`), "
        "`Auto-Submitted`, `Thread-Topic`, `Thread-Index`. Others are refused with `header_not_allowed`, "
        "bulk headers with `bulk_headers`.",
    )
    attachments: list[AttachmentIn | UploadAttachmentIn] = Field(
        default_factory=list,
        max_length=20,
        description="Inline (base64 `content`) or by upload (`upload_id`, at most 10); uploaded files follow "
        "the inline ones in the message",
    )

    @model_validator(mode="after")
    def _encodable_addresses(self) -> SendMessageIn:
        """Lone surrogates cannot be encoded anywhere; addresses answer with the policy's codes."""
        if any(has_lone_surrogate(text) for text in _strings(self.model_dump())):
            raise PydanticCustomError(
                "malformed_request", "The request holds a lone surrogate (\\ud800-\\udfff)."
            )
        fields = [(self.from_, "from_invalid")] + [
            (a, "recipient_invalid") for a in (*self.to, *self.cc, *self.bcc)
        ]
        fields += [(a, "reply_to_invalid") for a in self.reply_to]
        for value, code in fields:
            problem = _address_error(value, code)
            if problem is not None:
                raise problem
        return self

    def draft(self) -> Draft:
        return Draft(
            from_address=self.from_,
            to=tuple(self.to),
            cc=tuple(self.cc),
            bcc=tuple(self.bcc),
            reply_to=tuple(self.reply_to),
            subject=self.subject,
            text=self.text,
            html=self.html,
            in_reply_to=self.in_reply_to,
            references=tuple(self.references),
            attachments=tuple(
                Attachment(a.filename, a.content_type, base64.b64decode(a.content))
                for a in self.attachments
                if isinstance(a, AttachmentIn)
            ),
            headers=dict(self.headers),
        )

    def upload_ids(self) -> tuple[str, ...]:
        return tuple(a.upload_id for a in self.attachments if isinstance(a, UploadAttachmentIn))


class CapUsageOut(ApiModel):
    cap: str
    used: int
    limit: int
    remaining: int
    resets_at: datetime


class QueuedOut(ApiModel):
    id: str
    status: str
    usage: list[CapUsageOut]


class ReasonOut(ApiModel):
    code: str
    message: str


class MessageOut(ApiModel):
    id: str
    status: str = Field(
        description="queued, sending, sent (the provider accepted it), failed or cancelled (see reason); "
        "then bounced or complained from feedback, or failed when SES rejects it after accepting it. "
        "delivered (the recipient's server accepted it) only where the deployment records deliveries "
        "(cdk.json litemx:recordDeliveries, off by default): otherwise a delivered message stays sent."
    )
    mailbox: str
    recipients: int
    subject: str
    message_id_header: str
    provider: str | None = None
    provider_message_id: str | None = None
    reason: ReasonOut | None = None
    created_at: datetime
    updated_at: datetime


class TenantOut(ApiModel):
    """The account's SES tenant (docs/tenants.md), from a read cached for a few seconds."""

    available: bool
    name: str
    exists: bool
    sending_status: str | None
    reputation_policy: str | None
    findings: list[dict[str, str | None]]


class WarmupStepOut(ApiModel):
    first_day: int
    last_day: int
    share: float
    starts_at: datetime


class WarmupOut(ApiModel):
    """The warm-up schedules still running (empty once over, or when an operator waived it)."""

    account: list[WarmupStepOut] = []
    mailbox: list[WarmupStepOut] = []


class UsageOut(ApiModel):
    account: str
    mailbox: str
    plan: str
    counted: str = "recipients (to+cc+bcc, deduplicated), per UTC calendar day and month"
    usage: list[CapUsageOut]
    warmup: WarmupOut = WarmupOut()
    tenant: TenantOut | None = None


class CheckOut(ApiModel):
    allowed: bool
    code: str
    message: str
    usage: list[CapUsageOut]


class StatusOut(ApiModel):
    provider: str
    sandboxed: bool | None
    sending_enabled: bool | None
    max_24_hour_send: float | None = None
    max_send_rate: float | None = None
    sent_last_24_hours: float | None = None
    enforcement_status: str | None = None
    inbound: str = "enabled"
    detail: str = ""
    tenants: str | None = None
    tenant: TenantOut | None = None


class ErrorBody(ApiModel):
    code: str
    message: str


class ErrorOut(ApiModel):
    error: ErrorBody


# ---- agents: replies and drafts (docs/agents.md) ----


def _check_addresses(model: BaseModel, fields: list[tuple[str, str]]) -> None:
    """Lone surrogates cannot be encoded anywhere; addresses answer with the policy's codes."""
    if any(has_lone_surrogate(text) for text in _strings(model.model_dump())):
        raise PydanticCustomError(
            "malformed_request", "The request holds a lone surrogate (\\ud800-\\udfff)."
        )
    for value, code in fields:
        problem = _address_error(value, code)
        if problem is not None:
            raise problem


class ReplyIn(ApiModel):
    """POST /v1/mailboxes/{address}/messages/{id}/reply: the server names the recipients, the subject
    and the threading headers from the message answered."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    html: str | None = None
    attachments: list[AttachmentIn | UploadAttachmentIn] = Field(
        default_factory=list,
        max_length=20,
        description="As for POST /v1/messages: inline (base64 `content`) or by upload (`upload_id`)",
    )
    reply_all: bool = Field(default=False, description="Also to the original's To and Cc (Cc here)")
    quote: bool = Field(default=False, description="Quote the original's text under yours")
    exclude: list[Address] = Field(
        default_factory=list,
        max_length=MAX_ADDRESSES,
        description="Participants to leave out (for instance one who is suppressed)",
    )

    @model_validator(mode="after")
    def _encodable(self) -> ReplyIn:
        _check_addresses(self, [(a, "recipient_invalid") for a in self.exclude])
        return self

    def inline_attachments(self) -> tuple[Attachment, ...]:
        return tuple(
            Attachment(a.filename, a.content_type, base64.b64decode(a.content))
            for a in self.attachments
            if isinstance(a, AttachmentIn)
        )

    def upload_ids(self) -> tuple[str, ...]:
        return tuple(a.upload_id for a in self.attachments if isinstance(a, UploadAttachmentIn))


class ReplyOfIn(ApiModel):
    """A reply draft: the received message it answers (in the drafting token's mailbox)."""

    model_config = ConfigDict(extra="forbid")

    message_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:+=-]+$")
    reply_all: bool = False
    quote: bool = False
    exclude: list[Address] = Field(default_factory=list, max_length=MAX_ADDRESSES)


class DraftIn(ApiModel):
    """POST /v1/drafts and PUT /v1/drafts/{id}: a message From the token's mailbox, sent only once a
    person approves it. A reply draft (`reply`) takes its recipients, subject and threading from the
    message it answers, so it names none of them itself."""

    model_config = ConfigDict(extra="forbid")

    to: list[Address] = Field(default_factory=list, max_length=MAX_ADDRESSES)
    cc: list[Address] = Field(default_factory=list, max_length=MAX_ADDRESSES)
    bcc: list[Address] = Field(default_factory=list, max_length=MAX_ADDRESSES)
    subject: str = Field(default="", max_length=998)
    text: str | None = None
    html: str | None = None
    attachments: list[AttachmentIn] = Field(
        default_factory=list, max_length=10, description="Inline only (base64); a draft holds at most 300 KB"
    )
    reply: ReplyOfIn | None = None

    @model_validator(mode="after")
    def _valid(self) -> DraftIn:
        _check_addresses(self, [(a, "recipient_invalid") for a in (*self.to, *self.cc, *self.bcc)])
        if self.reply is not None:
            _check_addresses(self.reply, [(a, "recipient_invalid") for a in self.reply.exclude])
            if self.to or self.cc or self.bcc or self.subject:
                raise PydanticCustomError(
                    "malformed_request",
                    "A reply draft takes its recipients and subject from the message it answers: "
                    "leave to, cc, bcc and subject out.",
                )
        return self

    def inline_attachments(self) -> tuple[Attachment, ...]:
        return tuple(
            Attachment(a.filename, a.content_type, base64.b64decode(a.content)) for a in self.attachments
        )

    def draft(self, mailbox: str) -> Draft:
        return Draft(
            from_address=mailbox,
            to=tuple(self.to),
            cc=tuple(self.cc),
            bcc=tuple(self.bcc),
            subject=self.subject,
            text=self.text,
            html=self.html,
            attachments=self.inline_attachments(),
        )


class DraftAttachmentOut(ApiModel):
    filename: str
    content_type: str
    size: int


class RefusalOut(ApiModel):
    code: str
    message: str
    at: datetime
    by: str


class VerdictOut(ApiModel):
    would_send: bool
    code: str = Field(description="`allowed`, or the stable code an approval would be refused with")
    message: str
    summary: str = Field(description="`would_send` or `would be refused: <code>`")


class DraftOut(ApiModel):
    id: str
    mailbox: str
    status: str = Field(description="pending or sent")
    reply_of: str | None = Field(description="The received message a reply draft answers")
    to: list[str]
    cc: list[str]
    bcc: list[str]
    subject: str
    text: str | None
    html: str | None
    in_reply_to: str | None
    references: list[str]
    attachments: list[DraftAttachmentOut]
    created_at: datetime
    updated_at: datetime
    message_id: str = Field(description="The id of the message its approval sends (GET /v1/messages/{id})")
    approved_by: str | None
    sent_at: datetime | None
    last_refusal: RefusalOut | None = Field(description="Why the last approval was refused")
    verdict: VerdictOut | None = Field(
        default=None, description="What the policy would say to an approval now (dry run: nothing counted)"
    )


class DraftListOut(ApiModel):
    mailbox: str
    drafts: list[DraftOut] = Field(description="Newest first, at most 50")


class DraftSentOut(ApiModel):
    id: str = Field(description="The message's id (GET /v1/messages/{id})")
    status: str = Field(
        description="`queued` (this approval sent it), or `sent` (an earlier approval did; the message's own "
        "status is under GET /v1/messages/{id})"
    )
    draft: str
    already_sent: bool = Field(description="An earlier approval sent it; this one sent nothing")
    usage: list[CapUsageOut]
