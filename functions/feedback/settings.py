"""The feedback function's configuration, parsed once at its edge (see functions/settings.py)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from litemx.feedback.models import Deployment
from litemx.reputation.models import Thresholds

_DEFAULT = Thresholds()


class FeedbackSettings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    # Feedback about mail another AWS account (or configuration set) sent must change nothing here.
    sending_account_id: str = Field(alias="SES_SENDING_ACCOUNT_ID", min_length=1)
    configuration_set: str | None = Field(alias="SES_CONFIGURATION_SET", default=None)
    # Automatic disablement over a rolling 24 h; the defaults are the sending policy's.
    mailbox_complaints: int = Field(
        alias="DISABLE_MAILBOX_COMPLAINTS", default=_DEFAULT.mailbox_complaints, gt=0
    )
    mailbox_hard_bounce_rate: float = Field(
        alias="DISABLE_MAILBOX_HARD_BOUNCE_RATE", default=_DEFAULT.mailbox_hard_bounce_rate, gt=0, le=1
    )
    mailbox_min_sends: int = Field(
        alias="DISABLE_MAILBOX_MIN_SENDS", default=_DEFAULT.mailbox_min_sends, ge=0
    )
    account_complaint_rate: float = Field(
        alias="DISABLE_ACCOUNT_COMPLAINT_RATE", default=_DEFAULT.account_complaint_rate, gt=0, le=1
    )
    account_hard_bounce_rate: float = Field(
        alias="DISABLE_ACCOUNT_HARD_BOUNCE_RATE", default=_DEFAULT.account_hard_bounce_rate, gt=0, le=1
    )
    account_min_sends: int = Field(
        alias="DISABLE_ACCOUNT_MIN_SENDS", default=_DEFAULT.account_min_sends, ge=0
    )
    account_complaints: int = Field(
        alias="DISABLE_ACCOUNT_COMPLAINTS", default=_DEFAULT.account_complaints, gt=0
    )
    account_hard_bounces: int = Field(
        alias="DISABLE_ACCOUNT_HARD_BOUNCES", default=_DEFAULT.account_hard_bounces, gt=0
    )

    @property
    def deployment(self) -> Deployment:
        return Deployment(account_id=self.sending_account_id, configuration_set=self.configuration_set)

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(
            mailbox_complaints=self.mailbox_complaints,
            mailbox_hard_bounce_rate=self.mailbox_hard_bounce_rate,
            mailbox_min_sends=self.mailbox_min_sends,
            account_complaint_rate=self.account_complaint_rate,
            account_hard_bounce_rate=self.account_hard_bounce_rate,
            account_min_sends=self.account_min_sends,
            account_complaints=self.account_complaints,
            account_hard_bounces=self.account_hard_bounces,
        )


def feedback_settings(environ: Mapping[str, str] | None = None) -> FeedbackSettings:
    return FeedbackSettings.model_validate(dict(os.environ if environ is None else environ))
