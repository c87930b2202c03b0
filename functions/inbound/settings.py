"""The inbound function's configuration, parsed once at its edge (see functions/settings.py)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from litemx.inbound.logic import DEFAULT_MAX_PARSE_BYTES, RawLocation


class InboundSettings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    raw_mail_bucket: str = Field(alias="RAW_MAIL_BUCKET", min_length=1)
    # The receipt rule's S3 action stores each message at <prefix><SES message id>.
    raw_mail_prefix: str = Field(alias="RAW_MAIL_PREFIX")
    # Larger messages are indexed from their header block alone (a ranged GET), whatever their size.
    max_parse_bytes: int = Field(alias="INBOUND_MAX_PARSE_BYTES", default=DEFAULT_MAX_PARSE_BYTES, gt=0)
    # cdk.json `rawMailExpirationDays`: the raw-mail bucket's lifecycle, and so the index entries' TTL.
    raw_mail_retention_days: int = Field(alias="RAW_MAIL_RETENTION_DAYS", default=365, gt=0)
    # The webhook delivery function, invoked asynchronously with each `message.received` event
    # (docs/agents.md).
    webhook_function: str = Field(alias="WEBHOOK_FUNCTION_NAME", min_length=1)

    @property
    def location(self) -> RawLocation:
        return RawLocation(bucket=self.raw_mail_bucket, prefix=self.raw_mail_prefix)


def inbound_settings(environ: Mapping[str, str] | None = None) -> InboundSettings:
    return InboundSettings.model_validate(dict(os.environ if environ is None else environ))
