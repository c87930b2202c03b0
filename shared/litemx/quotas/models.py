"""Counters and caps. Pure: the store turns a list of `CounterReservation` into one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from litemx.plans import Limits, Plan

# Counters outlive their window a little so that a late read still explains a refusal.
_COUNTER_GRACE = timedelta(days=2)


class Cap(StrEnum):
    MAILBOX_DAY = "mailbox_day"
    ACCOUNT_DAY = "account_day"
    ACCOUNT_MONTH = "account_month"
    # New people (neither correspondents nor mailed before) one mailbox may write to per UTC day.
    FIRST_CONTACT = "first_contact"


# The anti-cold-outbound cap per plan; an operator may override it per account.
FIRST_CONTACTS_PER_DAY: dict[Plan, int] = {Plan.FREE: 10, Plan.STARTER: 25, Plan.SCALE: 50}


def first_contact_limit(plan: Plan, override: int | None = None) -> int:
    return FIRST_CONTACTS_PER_DAY[plan] if override is None else override


@dataclass(frozen=True)
class Window:
    """A UTC calendar window: its label (part of the counter key) and when it resets."""

    label: str
    resets_at: datetime


def day_window(now: datetime) -> Window:
    now = now.astimezone(UTC)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return Window(label=start.strftime("%Y-%m-%d"), resets_at=start + timedelta(days=1))


def month_window(now: datetime) -> Window:
    now = now.astimezone(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start + timedelta(days=32)).replace(day=1)
    return Window(label=start.strftime("%Y-%m"), resets_at=following)


@dataclass(frozen=True)
class CounterSlot:
    """One counter a send moves: its key names the scope and the window, so it resets by itself."""

    cap: Cap
    key: str
    resets_at: datetime


@dataclass(frozen=True)
class CounterReservation:
    """Add `amount` to counter `key` only if it stays within `limit`."""

    cap: Cap
    key: str
    limit: int
    amount: int
    resets_at: datetime

    @property
    def expires_at(self) -> datetime:
        return self.resets_at + _COUNTER_GRACE


@dataclass(frozen=True)
class CapUsage:
    cap: Cap
    used: int
    limit: int
    resets_at: datetime

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


def counter_slots(*, account_id: str, mailbox: str, now: datetime) -> list[CounterSlot]:
    """The three counters one send moves, in the order refusals are reported."""
    day, month = day_window(now), month_window(now)
    return [
        CounterSlot(Cap.MAILBOX_DAY, f"mailbox#{mailbox}#day#{day.label}", day.resets_at),
        CounterSlot(Cap.ACCOUNT_DAY, f"account#{account_id}#day#{day.label}", day.resets_at),
        CounterSlot(Cap.ACCOUNT_MONTH, f"account#{account_id}#month#{month.label}", month.resets_at),
    ]


def first_contact_slot(*, mailbox: str, now: datetime) -> CounterSlot:
    day = day_window(now)
    return CounterSlot(Cap.FIRST_CONTACT, f"mailbox#{mailbox}#first_contact#day#{day.label}", day.resets_at)


def reservations_for(slots: list[CounterSlot], limits: Limits, recipients: int) -> list[CounterReservation]:
    limit_of = {
        Cap.MAILBOX_DAY: limits.mailbox_day,
        Cap.ACCOUNT_DAY: limits.account_day,
        Cap.ACCOUNT_MONTH: limits.account_month,
    }
    return [CounterReservation(s.cap, s.key, limit_of[s.cap], recipients, s.resets_at) for s in slots]


def usage_after(reservations: list[CounterReservation], used_before: Mapping[str, int]) -> list[CapUsage]:
    """What each cap shows once these reservations are added to the counters last read."""
    return [CapUsage(r.cap, used_before.get(r.key, 0) + r.amount, r.limit, r.resets_at) for r in reservations]


def usage_now(reservations: list[CounterReservation], used_before: Mapping[str, int]) -> list[CapUsage]:
    return [CapUsage(r.cap, used_before.get(r.key, 0), r.limit, r.resets_at) for r in reservations]


@dataclass(frozen=True)
class CapExceeded:
    """Why a reservation was refused: which cap, its limit, what is used and when it resets."""

    cap: Cap
    limit: int
    used: int
    requested: int
    resets_at: datetime


def first_exceeded(
    reservations: list[CounterReservation], used_before: Mapping[str, int]
) -> CapExceeded | None:
    """The binding cap among those the counters say cannot take the request (a dry run)."""
    failed = {
        r.key: used_before.get(r.key, 0)
        for r in reservations
        if used_before.get(r.key, 0) + r.amount > r.limit
    }
    return binding_cap(reservations, failed) if failed else None


def binding_cap(reservations: list[CounterReservation], failed: Mapping[str, int]) -> CapExceeded:
    """Of the caps that refused (counter key -> used), the one resetting last, since no retry succeeds
    before it resets; ties go to the narrowest scope (mailbox before account)."""
    exceeded = [
        CapExceeded(r.cap, r.limit, failed[r.key], r.amount, r.resets_at)
        for r in reservations
        if r.key in failed
    ]
    if not exceeded:
        raise ValueError("no refused cap among the reservations")
    return max(exceeded, key=lambda e: e.resets_at)
