"""The api's and the sender's typed configuration (the outbound provider, bucket and queue), parsed once
at their edge from the function's environment; the settings every handler reads are in functions.settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from litemx.providers.base import PROVIDER_MAX_MESSAGE_BYTES


class OutboundSettings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    outbound_bucket: str = Field(alias="OUTBOUND_BUCKET")
    send_queue_url: str = Field(alias="SEND_QUEUE_URL")
    provider: Literal["ses", "smtp"] = Field(alias="OUTBOUND_PROVIDER", default="ses")
    ses_configuration_set: str | None = Field(alias="SES_CONFIGURATION_SET", default=None)
    # auto: ask SES (GetAccount); sandbox/production: an operator's (or the local system's) override.
    sandbox_mode: Literal["auto", "sandbox", "production"] = Field(alias="SES_SANDBOX_MODE", default="auto")
    # SES v2 SendEmail's limit (40 MB after encoding); a JSON send stays far below it (the API's 5 MiB body
    # limit), a send with uploaded attachments can reach it.
    max_message_bytes: int = Field(alias="MAX_MESSAGE_BYTES", default=PROVIDER_MAX_MESSAGE_BYTES, gt=0)
    smtp_host: str | None = Field(alias="SMTP_HOST", default=None)
    smtp_port: int = Field(alias="SMTP_PORT", default=587)
    smtp_starttls: bool = Field(alias="SMTP_STARTTLS", default=True)
    smtp_username: str | None = Field(alias="SMTP_USERNAME", default=None)
    smtp_password: str | None = Field(alias="SMTP_PASSWORD", default=None)
    smtp_secret_arn: str | None = Field(alias="SMTP_SECRET_ARN", default=None)
    smtp_verify_tls: bool = Field(alias="SMTP_VERIFY_TLS", default=True)
    send_lease_seconds: int = Field(alias="SEND_LEASE_SECONDS", default=120, gt=0)
    # SES tenants (docs/tenants.md): "ses", "off", or "fake:<state file>" (the local system).
    ses_tenants: str = Field(alias="SES_TENANTS", default="ses", pattern=r"^(ses|off|fake:.+)$")
    ses_sending_account_id: str | None = Field(alias="SES_SENDING_ACCOUNT_ID", default=None)
    # The send queue's redrive maxReceiveCount (the stack sets it from the queue): on a record's last
    # receive the sender settles its message as failed before SQS dead-letters the record.
    send_max_receive_count: int = Field(alias="SEND_MAX_RECEIVE_COUNT", default=5, gt=0)
    # The provider's send rate in recipients per second (cdk.json `sesSendRate`): every concurrent sender
    # takes from one bucket per second. Unset: no bucket (the local system).
    send_rate: int | None = Field(alias="SEND_RATE_PER_SECOND", default=None, gt=0)


def outbound_settings(environ: Mapping[str, str] | None = None) -> OutboundSettings:
    return OutboundSettings.model_validate(dict(os.environ if environ is None else environ))
