"""Sending outcomes per mailbox and per account, and the thresholds that disable them.

Outcomes are counted in hourly buckets (`mailbox#<box>#<YYYY-MM-DDTHH>`); the short window is the current
hour and the 23 before it, the long window the last 7 days (168 buckets). The sender counts what it sent
(`sends`, once SES accepted a message); feedback counts bounces, complaints and, where the configuration
set publishes them (cdk.json `recordDeliveries`), deliveries. LiteMX disables well below
SES's own review thresholds (5% bounces, 0.1% complaints) because one tenant's pause would stop every
tenant's outbound. Rates need a minimum volume to mean anything, so they alone let a sender stay under
that volume and spread harm thin; the account's absolute counts apply at any volume, and the 7-day window
catches rates spread over days (docs/policy.md, "Automatic disablement").
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

WINDOW_HOURS = 24
LONG_WINDOW_HOURS = 7 * 24
# Buckets outlive the long window a little so that a late read still explains a disablement.
BUCKET_RETENTION = timedelta(days=8)
MAILBOX, ACCOUNT = "mailbox", "account"


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
    """What one send or one feedback event adds to one bucket."""

    key: str
    tally: Tally
    expires_at: datetime


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
    kind: str  # MAILBOX or ACCOUNT
    entity_id: str
    reason: str


def hour_label(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H")


def bucket_key(kind: str, entity_id: str, at: datetime) -> str:
    return f"{kind}#{entity_id}#{hour_label(at)}"


def window_keys(kind: str, entity_id: str, now: datetime, hours: int = WINDOW_HOURS) -> list[str]:
    """The bucket keys of the last `hours` hours, newest first (so the first 24 are the short window)."""
    return [bucket_key(kind, entity_id, now - timedelta(hours=h)) for h in range(hours)]


def increments(kind: str, entity_id: str, at: datetime, tally: Tally) -> Increment:
    return Increment(bucket_key(kind, entity_id, at), tally, at + BUCKET_RETENTION)


def sent_increments(mailbox: str, account_id: str, at: datetime, recipients: int) -> tuple[Increment, ...]:
    """What a message the provider accepted at `at` adds: its recipients (SES counts each one) as sends,
    to the mailbox's and the account's bucket of that hour."""
    tally = Tally(sends=recipients)
    return (increments(MAILBOX, mailbox, at, tally), increments(ACCOUNT, account_id, at, tally))


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
