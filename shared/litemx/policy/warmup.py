"""Warm-up: for their first 14 days, new accounts and mailboxes get lower caps that grow on a schedule.

A new sender has no reputation yet; mailbox providers (and SES) judge a sudden volume from a new source
harshly, and a fresh account is where abuse usually starts. The day caps and the first-contact caps start
at a quarter of the plan and grow:

| Age (UTC days since creation) | Share of the plan's day caps and first-contact caps |
| --- | ---: |
| days 1-3 | 25 % |
| days 4-7 | 50 % |
| days 8-14 | 75 % |
| from day 15 | 100 % |

Account-wide caps follow the account's age, a mailbox's caps follow the mailbox's age (a new mailbox of
an old account warms up on its own; the account's caps do not shrink). Rounded up, never below 1. The
month cap and the recipients per message are not scaled. A cap an operator overrode for the account is
not scaled, and an operator may waive the whole schedule for an account (`warmup_waived`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from litemx.plans import LimitOverrides, Limits

WARMUP_DAYS = 14
# (last day of the step, share of the plan's caps); days count from 1 on the creation day.
SCHEDULE: tuple[tuple[int, float], ...] = ((3, 0.25), (7, 0.5), (14, 0.75))


def share_on(created_at: datetime | None, now: datetime) -> float:
    """The share of the plan's caps in force `now` for something created at `created_at`."""
    if created_at is None:
        return 1.0
    day = (now - created_at) // timedelta(days=1) + 1
    for last_day, share in SCHEDULE:
        if day <= last_day:
            return share
    return 1.0


def scaled(limit: int, share: float) -> int:
    return limit if share >= 1.0 else max(1, math.ceil(limit * share))


@dataclass(frozen=True)
class Warmup:
    account_share: float = 1.0
    mailbox_share: float = 1.0

    def limits(self, limits: Limits, overrides: LimitOverrides) -> Limits:
        return replace(
            limits,
            mailbox_day=limits.mailbox_day
            if overrides.mailbox_day is not None
            else scaled(limits.mailbox_day, self.mailbox_share),
            account_day=limits.account_day
            if overrides.account_day is not None
            else scaled(limits.account_day, self.account_share),
        )

    def mailbox_first_contacts(self, limit: int, *, overridden: bool) -> int:
        return limit if overridden else scaled(limit, self.mailbox_share)

    def account_first_contacts(self, limit: int, *, overridden: bool) -> int:
        return limit if overridden else scaled(limit, self.account_share)


def warm_limits(
    account_created: datetime | None, mailbox_created: datetime | None, now: datetime, *, waived: bool
) -> Warmup:
    if waived:
        return Warmup()
    return Warmup(account_share=share_on(account_created, now), mailbox_share=share_on(mailbox_created, now))


@dataclass(frozen=True)
class WarmupStep:
    first_day: int
    last_day: int
    share: float
    starts_at: datetime


def schedule(
    created_at: datetime | None, *, waived: bool, now: datetime | None = None
) -> tuple[WarmupStep, ...]:
    """The warm-up steps of something created at `created_at` (for /v1/usage); none once waived, or
    (given `now`) once the warm-up is over."""
    if created_at is None or waived:
        return ()
    if now is not None and share_on(created_at, now) >= 1.0:
        return ()
    steps, first = [], 1
    for last_day, share in (*SCHEDULE, (WARMUP_DAYS + 1, 1.0)):
        steps.append(WarmupStep(first, last_day, share, created_at + timedelta(days=first - 1)))
        first = last_day + 1
    return tuple(steps)
