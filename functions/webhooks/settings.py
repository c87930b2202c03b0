"""The webhook delivery function's configuration, parsed once at its edge (see functions/settings.py)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field


class WebhookSettings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    # Where an event settled as dead is parked (by this function, by Lambda after its retries, and by
    # Scheduler when it could not invoke this function).
    dlq_url: str = Field(alias="WEBHOOK_DLQ_URL", min_length=1)
    dlq_arn: str = Field(alias="WEBHOOK_DLQ_ARN", min_length=1)
    # The next receive of an event: a one-time schedule in this group, run with this role.
    schedule_group: str = Field(alias="WEBHOOK_SCHEDULE_GROUP", min_length=1)
    scheduler_role_arn: str = Field(alias="WEBHOOK_SCHEDULER_ROLE_ARN", min_length=1)
    # The read API's address: each event links to its message there.
    api_url: str = Field(alias="API_URL", min_length=1)
    # How many invocations one event may take (attempts and busy waits): on the last, a failure is
    # dead-lettered by the function, with its delivery record (infra/constructs/webhooks.py).
    max_receive_count: int = Field(alias="WEBHOOK_MAX_RECEIVE_COUNT", gt=1)
    # Local mode only (`litemx local up`, the tests): also call http://127.0.0.1:<port>/...
    allow_local_http: bool = Field(alias="WEBHOOK_ALLOW_LOCAL_HTTP", default=False)


def webhook_settings(environ: Mapping[str, str] | None = None) -> WebhookSettings:
    return WebhookSettings.model_validate(dict(os.environ if environ is None else environ))
