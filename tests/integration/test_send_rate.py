"""The sender's shared send-rate bucket against DynamoDB Local: concurrent senders together take at most
`per_second` recipients from each second (#12 item 4)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from litemx.outbound.aws import DynamoSendRate
from litemx_local.testclock import anchored_now

pytestmark = pytest.mark.integration


def _now() -> datetime:
    # The tests' clock (the counters carry a TTL an hour ahead of their second, and DynamoDB Local's TTL
    # clock follows a shifted anchor).
    return datetime.fromtimestamp(int(anchored_now().timestamp()) + 0.25, UTC)


def test_a_full_second_waits_once_for_the_next_then_names_the_retry_time(tables) -> None:
    waits: list[float] = []
    rate = DynamoSendRate(2, sleep=waits.append)
    now = _now()
    second = int(now.timestamp())

    results = [rate.acquire(1, now=now) for _ in range(5)]

    # Two fit this second, two the next one (after one short wait each), the fifth must come back later
    assert results[:4] == [None, None, None, None]
    assert results[4] == datetime.fromtimestamp(second + 2, UTC)
    assert waits == [pytest.approx(0.75)] * 3


def test_more_recipients_than_the_rate_take_an_empty_second_alone(tables) -> None:
    rate = DynamoSendRate(2, sleep=lambda _: None)
    now = _now()
    second = int(now.timestamp())
    later = now + timedelta(seconds=1)
    assert rate.acquire(5, now=now) is None  # this second, alone
    assert rate.acquire(1, now=now) is None  # the next second (this one is over-full)
    assert rate.acquire(5, now=later) is None  # not the partly used second: the one after
    assert rate.acquire(2, now=later) == datetime.fromtimestamp(second + 3, UTC)


def test_concurrent_senders_never_exceed_the_rate(tables) -> None:
    rate = DynamoSendRate(3, sleep=lambda _: None)
    now = _now()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: rate.acquire(1, now=now), range(10)))
    # 3 in this second, 3 in the next, the other 4 told to come back
    assert results.count(None) == 6
    assert len([r for r in results if r is not None]) == 4
