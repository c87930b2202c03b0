"""The plan table of the sending policy, in one place (../shared/seed/sending-policy.md)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Plan(StrEnum):
    FREE = "free"
    STARTER = "starter"
    SCALE = "scale"


@dataclass(frozen=True)
class Limits:
    """Caps counted in recipients (to+cc+bcc, deduplicated), over UTC calendar days and months."""

    mailbox_day: int
    account_day: int
    account_month: int
    recipients_per_message: int


PLAN_LIMITS: dict[Plan, Limits] = {
    Plan.FREE: Limits(mailbox_day=100, account_day=100, account_month=500, recipients_per_message=10),
    Plan.STARTER: Limits(mailbox_day=300, account_day=300, account_month=3_000, recipients_per_message=10),
    Plan.SCALE: Limits(mailbox_day=1_000, account_day=1_000, account_month=15_000, recipients_per_message=10),
}


@dataclass(frozen=True)
class LimitOverrides:
    """Per-account exceptions an operator may set; None keeps the plan's value."""

    mailbox_day: int | None = None
    account_day: int | None = None
    account_month: int | None = None
    recipients_per_message: int | None = None

    def is_empty(self) -> bool:
        return all(value is None for value in vars(self).values())


def effective_limits(plan: Plan, overrides: LimitOverrides | None = None) -> Limits:
    """The plan's limits with any operator override applied."""
    limits = PLAN_LIMITS[plan]
    if overrides is None:
        return limits
    changes = {name: value for name, value in vars(overrides).items() if value is not None}
    return replace(limits, **changes)
