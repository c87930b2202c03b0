"""The one clock of the integration tests, the demo and the benchmark: anchored to the real instant the
process started (or to `LITEMX_TEST_NOW`), then moving with real elapsed time.

Why not a calendar literal: DynamoDB Local enforces TTL within seconds, so counters, markers and buckets
written "in the past" vanish while a test still reads them. Why not libfaketime on Python: timed thread
waits hang under it. A shifted anchor instead reaches DynamoDB Local's JVM as a relative faketime offset
(`dynamodb_clock_offset`), so its TTL clock agrees with the anchor.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

ANCHOR_VARIABLE = "LITEMX_TEST_NOW"


class AnchorError(ValueError):
    pass


def parse_anchor(text: str) -> datetime:
    """An ISO-8601 instant; a naive one is read as UTC."""
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise AnchorError(f"{ANCHOR_VARIABLE}={text!r} is not an ISO-8601 instant") from error
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


_REAL_START = datetime.now(UTC)
_MONOTONIC_START = time.monotonic()
_configured = os.environ.get(ANCHOR_VARIABLE, "").strip()
ANCHOR = parse_anchor(_configured) if _configured else _REAL_START


def anchored_now() -> datetime:
    """The anchor plus the real time elapsed since this process started (so a run can cross midnight)."""
    return ANCHOR + timedelta(seconds=time.monotonic() - _MONOTONIC_START)


def dynamodb_clock_offset() -> int:
    """Whole seconds between the anchor and real time: the relative offset for DynamoDB Local's JVM."""
    return round((ANCHOR - _REAL_START).total_seconds())


def month_end_anchor(now: datetime, *, before: timedelta = timedelta(seconds=20)) -> datetime:
    """`before` ahead of the next 00:00 UTC that starts a month, at least a day from `now` (so that the
    run writes nothing whose TTL is already past on the real clock)."""
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while True:
        month = (month + timedelta(days=32)).replace(day=1)
        if month - before - now >= timedelta(days=1):
            return month - before


def main(argv: list[str]) -> int:
    """`python -m litemx_local.testclock plus-days N | month-end`: prints an anchor for LITEMX_TEST_NOW."""
    now = datetime.now(UTC)
    match argv:
        case ["plus-days", days]:
            at = now + timedelta(days=int(days))
        case ["month-end"]:
            at = month_end_anchor(now)
        case _:
            print("usage: python -m litemx_local.testclock plus-days N | month-end")
            return 2
    print(at.isoformat(timespec="seconds").replace("+00:00", "Z"))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
