"""Sending outcomes per mailbox and per account, and the thresholds that disable them.

Outcomes are counted in hourly buckets, one per mailbox and hour, kept together per account: an
account's counts are the sum of its mailboxes', so every send or feedback event moves one bucket and a
verdict reads one account's window at once. The short window is the current hour and the 23 before it,
the long window the last 7 days (168 hours). The sender counts what it sent (`sends`, once SES accepted
a message); feedback counts bounces, complaints and, where the configuration set publishes them (cdk.json
`recordDeliveries`), deliveries. LiteMX disables well below SES's own review thresholds (5% bounces, 0.1%
complaints) because one tenant's pause would stop every tenant's outbound. Rates need a minimum volume
to mean anything, so they alone let a sender stay under that volume and spread harm thin; the account's
absolute counts apply at any volume, and the 7-day window catches rates spread over days (docs/policy.md,
"Automatic disablement").
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

WINDOW_HOURS = 24
LONG_WINDOW_HOURS = 7 * 24
# Buckets outlive the long window a little so that a late read still explains a disablement.
BUCKET_RETENTION = timedelta(days=8)


@dataclass(frozen=True)
class Tally:
    sends: int = 0
    deliveries: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    complaints: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @property
    def attempted(self) -> int:
        """Recipients sent to: the sender counts them (`sends`). Every delivery or bounce also proves an
        attempt, so they are a floor where a send's count was lost (a crash between the message's `sent`
        write and its count) or fell just outside the window (sent in the hour before it)."""
        return max(self.sends, self.deliveries + self.hard_bounces + self.soft_bounces)

    def rate(self, count: int) -> float:
        return count / self.attempted if self.attempted else 0.0

    @property
    def adverse(self) -> bool:
        """Bounces or complaints: what a verdict's numerator counts (never to be lost)."""
        return bool(self.hard_bounces or self.soft_bounces or self.complaints)


@dataclass(frozen=True)
class Increment:
    """What one send or one feedback event adds to one bucket: a mailbox's hour, within its account."""

    account_id: str
    mailbox: str
    hour: str  # hour_label
    tally: Tally
    expires_at: datetime


@dataclass(frozen=True)
class Window:
    """One account's buckets over some hours: (mailbox, hour label) -> what was counted there."""

    buckets: Mapping[tuple[str, str], Tally]

    def tally(self, hours: Collection[str], mailbox: str | None = None) -> Tally:
        """The sum over `hours`, of one mailbox, or of the whole account (`mailbox` None)."""
        total = Tally()
        for (box, hour), tally in self.buckets.items():
            if hour in hours and (mailbox is None or box == mailbox):
                total = total + tally
        return total


@dataclass(frozen=True)
class Thresholds:
    """Defaults from the sending policy; a deployment may configure its own."""

    mailbox_complaints: int = 2
    mailbox_hard_bounce_rate: float = 0.05
    mailbox_min_sends: int = 20
    account_complaint_rate: float = 0.001
    account_hard_bounce_rate: float = 0.05
    account_min_sends: int = 100
    # Absolute counts over 24 h at account level, at any volume: complaints spread over mailboxes (or
    # kept under the rates' minimum volume) still add up.
    account_complaints: int = 3
    account_hard_bounces: int = 10


@dataclass(frozen=True)
class Disabled:
    kind: str  # EntityKind.MAILBOX or EntityKind.ACCOUNT
    entity_id: str
    reason: str


def hour_label(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H")


def window_hours(now: datetime, hours: int = WINDOW_HOURS) -> list[str]:
    """The labels of the last `hours` hours, newest first (so the first 24 are the short window)."""
    return [hour_label(now - timedelta(hours=h)) for h in range(hours)]


def increment(account_id: str, mailbox: str, at: datetime, tally: Tally) -> Increment:
    return Increment(account_id, mailbox, hour_label(at), tally, at + BUCKET_RETENTION)


def sent_increment(account_id: str, mailbox: str, at: datetime, recipients: int) -> Increment:
    """What a message the provider accepted at `at` adds: its recipients (SES counts each one) as sends,
    to its mailbox's bucket of that hour (and so to its account's counts)."""
    return increment(account_id, mailbox, at, Tally(sends=recipients))


def mailbox_verdict(tally: Tally, thresholds: Thresholds, week: Tally | None = None) -> str | None:
    """Why a mailbox must be disabled, or None (`tally`: 24 h; `week`: 7 days)."""
    if tally.complaints >= thresholds.mailbox_complaints:
        return f"{tally.complaints} complaints in 24 h (limit {thresholds.mailbox_complaints})"
    why = _bounce_verdict(tally, thresholds.mailbox_hard_bounce_rate, thresholds.mailbox_min_sends, "24 h")
    if why is None and week is not None:
        why = _bounce_verdict(
            week, thresholds.mailbox_hard_bounce_rate, thresholds.mailbox_min_sends, "7 days"
        )
    return why


def account_verdict(tally: Tally, thresholds: Thresholds, week: Tally | None = None) -> str | None:
    """Why an account must be disabled, or None (`tally`: 24 h; `week`: 7 days)."""
    if tally.complaints >= thresholds.account_complaints:
        limit = thresholds.account_complaints
        return f"{tally.complaints} complaints in 24 h across the account (limit {limit})"
    if tally.hard_bounces >= thresholds.account_hard_bounces:
        return (
            f"{tally.hard_bounces} hard bounces in 24 h across the account "
            f"(limit {thresholds.account_hard_bounces})"
        )
    for window, label in ((tally, "24 h"), (week, "7 days")):
        if window is not None:
            why = _account_rates(window, thresholds, label)
            if why is not None:
                return why
    return None


def _account_rates(tally: Tally, thresholds: Thresholds, label: str) -> str | None:
    if tally.attempted < thresholds.account_min_sends:
        return None
    rate = tally.rate(tally.complaints)
    if tally.complaints and rate >= thresholds.account_complaint_rate:
        return (
            f"complaint rate {rate:.2%} over {tally.attempted} sends in {label} "
            f"(limit {thresholds.account_complaint_rate:.2%})"
        )
    return _bounce_verdict(tally, thresholds.account_hard_bounce_rate, thresholds.account_min_sends, label)


def _bounce_verdict(tally: Tally, limit: float, min_sends: int, label: str) -> str | None:
    if tally.attempted < min_sends or not tally.hard_bounces:
        return None
    rate = tally.rate(tally.hard_bounces)
    if rate >= limit:
        return f"hard-bounce rate {rate:.2%} over {tally.attempted} sends in {label} (limit {limit:.2%})"
    return None
