"""Time is injected so that day and month windows can be tested without waiting for midnight."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

# The instants an outside document (an SES notification, a webhook job) may plausibly carry: anything
# outside is not AWS's or ours, and would overflow the date arithmetic of windows and retention.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def plausible(at: datetime) -> bool:
    """Whether an aware instant read from outside lies within [EARLIEST, LATEST)."""
    return EARLIEST <= at < LATEST


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The real UTC clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock tests can set and move forward."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at
