"""The HTTP API's request and response shapes (Pydantic): they validate at the edge and feed OpenAPI."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from litemx.mail.compose import Attachment, Draft

MAX_ADDRESSES = 50


class AttachmentIn(BaseModel):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(default="application/octet-stream", pattern=r"^[\w.+-]+/[\w.+-]+$")
    content: str = Field(description="The file, base64-encoded")

    @field_validator("content")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError("content must be base64") from error
        return value


class SendMessageIn(BaseModel):
    """POST /v1/messages and POST /v1/policy/check."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    from_: str = Field(alias="from", min_length=3, max_length=320)
    to: list[str] = Field(default_factory=list, max_length=MAX_ADDRESSES)
    cc: list[str] = Field(default_factory=list, max_length=MAX_ADDRESSES)
    bcc: list[str] = Field(default_factory=list, max_length=MAX_ADDRESSES)
    reply_to: list[str] = Field(default_factory=list, max_length=10)
    subject: str = Field(default="", max_length=998)
    text: str | None = None
    html: str | None = None
    in_reply_to: str | None = Field(default=None, max_length=998)
    references: list[str] = Field(default_factory=list, max_length=100)
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra headers (bulk headers are refused)"
    )
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)

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
                Attachment(a.filename, a.content_type, base64.b64decode(a.content)) for a in self.attachments
            ),
            headers=dict(self.headers),
        )


class CapUsageOut(BaseModel):
    cap: str
    used: int
    limit: int
    remaining: int
    resets_at: datetime


class QueuedOut(BaseModel):
    id: str
    status: str
    usage: list[CapUsageOut]


class ReasonOut(BaseModel):
    code: str
    message: str


class MessageOut(BaseModel):
    id: str
    status: str
    mailbox: str
    recipients: int
    subject: str
    message_id_header: str
    provider: str | None = None
    provider_message_id: str | None = None
    reason: ReasonOut | None = None
    created_at: datetime
    updated_at: datetime


class TenantOut(BaseModel):
    """The account's SES tenant (docs/tenants.md), from a read cached for a few seconds."""

    available: bool
    name: str
    exists: bool
    sending_status: str | None
    reputation_policy: str | None
    findings: list[dict[str, str | None]]


class UsageOut(BaseModel):
    account: str
    mailbox: str
    plan: str
    counted: str = "recipients (to+cc+bcc, deduplicated), per UTC calendar day and month"
    usage: list[CapUsageOut]
    tenant: TenantOut | None = None


class CheckOut(BaseModel):
    allowed: bool
    code: str
    message: str
    usage: list[CapUsageOut]


class StatusOut(BaseModel):
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


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody
