"""Counters and caps. Pure: the store turns a list of `CounterReservation` into one transaction."""

from __future__ import annotations

import re
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
    # ... and all the account's mailboxes together: adding mailboxes adds no cold reach.
    ACCOUNT_FIRST_CONTACT = "account_first_contact"
    # First contacts that received the same content (one fingerprint band), over two UTC days.
    FANOUT = "fanout"


# The anti-cold-outbound cap per plan; an operator may override it per account. The account-wide cap is
# the same number by default, so that ten mailboxes reach no more new people than one.
FIRST_CONTACTS_PER_DAY: dict[Plan, int] = {Plan.FREE: 10, Plan.STARTER: 25, Plan.SCALE: 50}
# Distinct first contacts one content fingerprint may reach per account (see litemx.policy.fanout).
# At least the recipients per message (10), so that no single message trips it on its own.
FANOUT_FIRST_CONTACTS: dict[Plan, int] = {Plan.FREE: 10, Plan.STARTER: 15, Plan.SCALE: 25}
# A message's reserved entries that are contact marks rather than counters (amount 0); a refund removes
# them together with the counters, in one transaction.
MARK_PREFIX = "mark#"
# Counters that count first contacts: a refund that must keep a mark keeps its count there too.
_FIRST_CONTACT_KEY_PARTS = ("#first_contact#", "#fanout#")


# A counter key names a counter item, or one field of it (`<item>|dNN`). The account's day and month caps
# share one item per month: `used` counts the month, `d01`..`d31` each day of it, so that a send moves one
# item for both (one transaction item, 2 write units, fewer) and one condition holds both caps exactly.
USED_FIELD = "used"
_DAY_FIELD = re.compile(r"^(?P<item>.+)\|(?P<field>d\d{2})$")


def counter_item(key: str) -> tuple[str, str]:
    """The item a counter key lives in, and the field that counts it there."""
    found = _DAY_FIELD.match(key)
    return (found["item"], found["field"]) if found else (key, USED_FIELD)


def first_contact_limit(plan: Plan, override: int | None = None) -> int:
    return FIRST_CONTACTS_PER_DAY[plan] if override is None else override


def account_first_contact_limit(
    plan: Plan, override: int | None = None, mailbox_override: int | None = None
) -> int:
    """The account-wide cap: its own override, else the per-mailbox number (overridden or the plan's)."""
    if override is not None:
        return override
    return first_contact_limit(plan, mailbox_override)


def counts_first_contacts(key: str) -> bool:
    return any(part in key for part in _FIRST_CONTACT_KEY_PARTS)


def mark_entry(person: str) -> str:
    return f"{MARK_PREFIX}{person}"


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
    """The three counters one send moves, in the order refusals are reported: the account's day and month
    are two fields of one item (the month's: `account#a#month#2026-11`, day 24 in `…|d24`)."""
    day, month = day_window(now), month_window(now)
    account_month = f"account#{account_id}#month#{month.label}"
    return [
        CounterSlot(Cap.MAILBOX_DAY, f"mailbox#{mailbox}#day#{day.label}", day.resets_at),
        CounterSlot(Cap.ACCOUNT_DAY, f"{account_month}|d{day.label[-2:]}", day.resets_at),
        CounterSlot(Cap.ACCOUNT_MONTH, account_month, month.resets_at),
    ]


def first_contact_slot(*, mailbox: str, now: datetime) -> CounterSlot:
    day = day_window(now)
    return CounterSlot(Cap.FIRST_CONTACT, f"mailbox#{mailbox}#first_contact#day#{day.label}", day.resets_at)


def account_first_contact_slot(*, account_id: str, now: datetime) -> CounterSlot:
    day = day_window(now)
    return CounterSlot(
        Cap.ACCOUNT_FIRST_CONTACT, f"account#{account_id}#first_contact#day#{day.label}", day.resets_at
    )


@dataclass(frozen=True)
class FanoutSlots:
    """One fingerprint band's counters: today's (reserved) and yesterday's (read, and checked unchanged).
    The sum covers every rolling 24 h; the count leaves the window when tomorrow ends."""

    today: CounterSlot
    yesterday_key: str


def fanout_slots(*, account_id: str, band: str, now: datetime) -> FanoutSlots:
    today = day_window(now)
    yesterday = day_window(now - timedelta(days=1))
    prefix = f"account#{account_id}#fanout#{band}#day#"
    resets = today.resets_at + timedelta(days=1)
    return FanoutSlots(
        CounterSlot(Cap.FANOUT, f"{prefix}{today.label}", resets), f"{prefix}{yesterday.label}"
    )


def reservations_for(slots: list[CounterSlot], limits: Limits, recipients: int) -> list[CounterReservation]:
    limit_of = {
        Cap.MAILBOX_DAY: limits.mailbox_day,
        Cap.ACCOUNT_DAY: limits.account_day,
        Cap.ACCOUNT_MONTH: limits.account_month,
    }
    return [CounterReservation(s.cap, s.key, limit_of[s.cap], recipients, s.resets_at) for s in slots]


def usage_after(reservations: list[CounterReservation], used_before: Mapping[str, int]) -> list[CapUsage]:
    """What each budget cap shows once these reservations are added to the counters last read (fan-out
    counters are per content, not a budget, and are not shown)."""
    return [
        CapUsage(r.cap, used_before.get(r.key, 0) + r.amount, r.limit, r.resets_at)
        for r in reservations
        if r.cap is not Cap.FANOUT
    ]


def usage_now(reservations: list[CounterReservation], used_before: Mapping[str, int]) -> list[CapUsage]:
    return [
        CapUsage(r.cap, used_before.get(r.key, 0), r.limit, r.resets_at)
        for r in reservations
        if r.cap is not Cap.FANOUT
    ]


@dataclass(frozen=True)
class CounterCheck:
    """A counter the transaction only checks: it must still hold `expected` (0: absent or zero)."""

    key: str
    expected: int


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
