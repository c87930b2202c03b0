"""Each cap reached exactly, against DynamoDB Local."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from litemx.audit.models import AuditRecord
from litemx.plans import LimitOverrides, Limits, Plan
from litemx.policy.models import QuotaExceededError
from litemx.quotas.models import counter_slots, reservations_for
from litemx.quotas.store import QuotaStore
from tests.integration.conftest import World, build_world, recipients


def _day(world: World) -> str:
    return f"{world.clock.now():%Y-%m-%d}"


def _month(world: World) -> str:
    return f"{world.clock.now():%Y-%m}"


def _next_month(at: datetime) -> datetime:
    return (at.replace(day=1) + timedelta(days=32)).replace(day=1)


def _counter(key: str) -> int | None:
    try:
        return QuotaStore().read([key])[key]  # the account's day is a field of its month's item
    except KeyError:
        return None


def test_free_mailbox_takes_exactly_100_recipients_a_day(world: World) -> None:
    # Given a Free mailbox that sends 10 messages of 10 recipients
    for batch in range(10):
        decision = world.send(recipients(10, start=batch * 10))
        assert decision.allowed, decision.message

    # When it sends to one more recipient
    refused = world.send(recipients(1, start=500))

    # Then the 101st recipient is refused by the mailbox cap, with its reset time, and nothing moved
    assert refused.code == "quota_exceeded.mailbox_day"
    assert refused.exceeded is not None
    assert (refused.exceeded.limit, refused.exceeded.used) == (100, 100)
    midnight = world.clock.now().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    assert refused.exceeded.resets_at == midnight
    assert _counter(f"mailbox#box0@example.com#day#{_day(world)}") == 100

    # And the next UTC day starts afresh
    world.clock.set(world.clock.now() + timedelta(days=1))
    assert world.send(recipients(1, start=600)).allowed


def test_ten_mailboxes_share_the_account_day_cap(tables) -> None:
    world = build_world(tables, mailboxes=10)
    for box in world.mailboxes:
        assert world.send(recipients(10), mailbox=box.address).allowed
    for box in world.mailboxes:
        refused = world.send(recipients(1, start=99), mailbox=box.address)
        assert refused.code == "quota_exceeded.account_day", refused.message
    assert _counter(f"account#{world.account.account_id}#month#{_month(world)}|d{_day(world)[-2:]}") == 100
    assert all(_counter(f"mailbox#{box.address}#day#{_day(world)}") == 10 for box in world.mailboxes)


def test_month_cap_is_reached_across_days(world: World) -> None:
    # Given 100 recipients a day for five UTC days (Free: 500 a month), early next month: the test clock
    # only moves forward, since DynamoDB Local expires what is written in the past
    start = _next_month(world.clock.now()).replace(hour=10, minute=0, second=0, microsecond=0)
    for day in range(5):
        world.clock.set(start + timedelta(days=day))
        for batch in range(10):
            assert world.send(recipients(10, start=day * 100 + batch * 10)).allowed

    # When the sixth day starts, with a fresh day cap
    world.clock.set(start + timedelta(days=5))
    refused = world.send(recipients(1, start=9000))

    # Then the month cap refuses, resetting on the 1st of next month
    assert refused.code == "quota_exceeded.account_month"
    assert refused.exceeded is not None
    assert (refused.exceeded.used, refused.exceeded.limit) == (500, 500)
    assert refused.exceeded.resets_at == _next_month(start).replace(hour=0)
    # And next month is open again
    world.clock.set(_next_month(start))
    assert world.send(recipients(1, start=9001)).allowed


def test_account_cap_refusal_moves_no_counter(tables) -> None:
    # Given an account whose day cap (15) is lower than its mailbox cap (100), 10 already used
    world = build_world(tables, mailboxes=2, overrides=LimitOverrides(account_day=15))
    first, second = (box.address for box in world.mailboxes)
    assert world.send(recipients(10), mailbox=first).allowed

    # When the second mailbox, with room of its own, asks for 10
    refused = world.send(recipients(10, start=50), mailbox=second)

    # Then the account cap refuses and no counter moved, not even the second mailbox's
    assert refused.code == "quota_exceeded.account_day"
    assert _counter(f"mailbox#{second}#day#{_day(world)}") is None
    assert _counter(f"account#{world.account.account_id}#month#{_month(world)}|d{_day(world)[-2:]}") == 10
    assert _counter(f"account#{world.account.account_id}#month#{_month(world)}") == 10


def test_transaction_is_all_or_nothing_when_the_read_was_stale(tables) -> None:
    """The transaction itself refuses when the counters moved after the read: no partial write."""
    world = build_world(tables, plan=Plan.FREE, overrides=LimitOverrides(account_day=15))
    assert world.send(recipients(10)).allowed
    slots = counter_slots(
        account_id=world.account.account_id, mailbox="box0@example.com", now=world.clock.now()
    )
    # A reservation with room on the mailbox and month caps but not the account/day cap
    limits = Limits(mailbox_day=100, account_day=15, account_month=500, recipients_per_message=10)
    reservations = reservations_for(slots, limits, 10)
    audit = AuditRecord(world.account.account_id, world.clock.now(), "req-x", "policy.send", "t", "allow")
    with pytest.raises(QuotaExceededError) as refused:
        world.policy.reserve(reservations, audit)
    assert refused.value.failed == {
        f"account#{world.account.account_id}#month#{_month(world)}|d{_day(world)[-2:]}": 10
    }
    assert _counter(f"mailbox#box0@example.com#day#{_day(world)}") == 10
    assert _counter(f"account#{world.account.account_id}#month#{_month(world)}") == 10
    assert [r.request_id for r in world.audit.list(world.account.account_id) if r.request_id == "req-x"] == []
