"""32 threads, each with its own DynamoDB client, race for one Free mailbox's daily cap; 16 for the
account's day and month caps, which are two fields of one item."""

from __future__ import annotations

import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from litemx.plans import LimitOverrides
from litemx.policy.logic import decide
from litemx.policy.models import SendRequest
from litemx.policy.store import DynamoPolicyStore
from litemx.quotas.store import QuotaStore
from litemx.storage.tables import AuditEntry
from tests.integration.conftest import build_world

THREADS = 32
# `make test` races three rounds; LITEMX_CONCURRENCY_ROUNDS=20 is the longer proof (see docs/testing.md).
ROUNDS = int(os.environ.get("LITEMX_CONCURRENCY_ROUNDS", "3"))


@pytest.mark.parametrize("round_number", range(1, ROUNDS + 1))
def test_concurrent_requests_accept_exactly_the_cap(tables, round_number: int) -> None:
    # Given one Free mailbox (100 recipients/day) and 32 workers with their own clients
    world = build_world(tables)
    mailbox = world.mailboxes[0].address
    secret = world.secrets[mailbox]
    accepted: list[int] = []
    lock = threading.Lock()
    sequence = iter(range(1_000_000))

    def worker(seed: int) -> None:
        store = DynamoPolicyStore()
        rng = random.Random(seed * 1000 + round_number)
        size = rng.randint(1, 10)
        while True:
            with lock:
                n = next(sequence)
            request = SendRequest(
                token_secret=secret,
                from_address=mailbox,
                to=tuple(f"r{n}-{i}@outside.test" for i in range(size)),
            )
            decision = decide(request, store=store, clock=world.clock, request_id=f"req-{round_number}-{n}")
            if decision.allowed:
                with lock:
                    accepted.append(size)
                size = rng.randint(1, 10)
            elif decision.code.startswith("quota_exceeded"):
                if size == 1:  # a single recipient refused: the cap is full
                    return
                size = 1
            else:
                raise AssertionError(decision.message)

    # When they all send until even one recipient is refused
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(worker, range(THREADS)))

    # Then exactly the cap was accepted, and every counter equals the sum of accepted requests
    assert sum(accepted) == 100
    now = world.clock.now()
    account = world.account.account_id
    for key in (
        f"mailbox#{mailbox}#day#{now:%Y-%m-%d}",
        f"account#{account}#month#{now:%Y-%m}|d{now:%d}",  # the day: a field of the month's item
        f"account#{account}#month#{now:%Y-%m}",
    ):
        assert QuotaStore().read([key]) == {key: 100}
    allowed = [e for e in AuditEntry.query(account) if e.outcome == "allow" and e.event == "policy.send"]
    assert len(allowed) == len(accepted)
    assert sum(int(e.recipients_count) for e in allowed) == 100


@pytest.mark.parametrize(
    ("overrides", "cap"),
    [
        (LimitOverrides(account_day=60), "account_day"),
        (LimitOverrides(account_month=40), "account_month"),
    ],
)
def test_the_account_day_and_month_fields_of_one_item_hold_each_cap_under_concurrency(
    tables, overrides: LimitOverrides, cap: str
) -> None:
    # Given an account whose day or month cap binds before any mailbox's, and 16 workers over 4 mailboxes
    world = build_world(tables, mailboxes=4, overrides=overrides)
    limit = overrides.account_day or overrides.account_month
    accepted: list[int] = []
    refused: set[str] = set()
    lock = threading.Lock()
    sequence = iter(range(1_000_000))

    def worker(seed: int) -> None:
        store = DynamoPolicyStore()
        mailbox = world.mailboxes[seed % 4].address
        rng = random.Random(seed)
        size = rng.randint(1, 10)
        while True:
            with lock:
                n = next(sequence)
            to = tuple(f"f{n}-{i}@outside.test" for i in range(size))
            request = SendRequest(token_secret=world.secrets[mailbox], from_address=mailbox, to=to)
            decision = decide(request, store=store, clock=world.clock, request_id=f"fold-{n}")
            if decision.allowed:
                with lock:
                    accepted.append(size)
                size = rng.randint(1, 10)
            elif decision.code.startswith("quota_exceeded"):
                with lock:
                    refused.add(decision.code)
                if size == 1:
                    return
                size = 1
            else:
                raise AssertionError(decision.message)

    # When they all send until even one recipient is refused
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(worker, range(16)))

    # Then exactly the binding cap was accepted, refused under its own code, and the one item's day and
    # month fields both equal what was accepted
    assert sum(accepted) == limit
    assert refused == {f"quota_exceeded.{cap}"}
    now = world.clock.now()
    month = f"account#{world.account.account_id}#month#{now:%Y-%m}"
    assert QuotaStore().read([month, f"{month}|d{now:%d}"]) == {month: limit, f"{month}|d{now:%d}": limit}
