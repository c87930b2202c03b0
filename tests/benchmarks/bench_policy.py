"""Policy-decision figures against the local AWS: DynamoDB requests per decision and latency.

Requests are counted by botocore's own event hooks on the store's client (every request it sends, retries
included), not by hand. Run with `make bench`; prints figures, asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import string
import time
from collections import Counter
from typing import Any

from litemx.plans import LimitOverrides, Plan
from litemx.policy.models import Decision
from litemx.storage.tables import TableNames
from litemx_local.aws import LocalAws
from litemx_local.world import build_world


class RequestCounter:
    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        client.meta.events.register("before-send.dynamodb", self._count)

    def _count(self, request: Any, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        operation = target.decode() if isinstance(target, bytes) else str(target)
        self.calls[operation.rpartition(".")[2]] += 1

    def take(self) -> Counter[str]:
        taken, self.calls = self.calls, Counter()
        return taken


def _measure(
    world: Any, counter: RequestCounter, recipients: list[str], **fields: Any
) -> tuple[Decision, float, Counter[str]]:
    counter.take()
    started = time.perf_counter()
    decision = world.send(recipients, **fields)
    return decision, (time.perf_counter() - started) * 1000, counter.take()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=300)
    args = parser.parse_args()
    with LocalAws() as aws:
        os.environ.update(aws.environment())
        names = TableNames.with_prefix("bench")
        aws.create_tables(names)
        # Caps raised by an operator override so that the measured decisions are all accepted.
        world = build_world(
            names,
            plan=Plan.SCALE,
            overrides=LimitOverrides(mailbox_day=10**6, account_day=10**6, account_month=10**7),
        )
        counter = RequestCounter(world.policy.client)
        for warmup in range(20):
            world.send([f"warm{warmup}@outside.test"])

        allowed_ms, allowed_calls = [], Counter[str]()
        words = random.Random(7)
        for i in range(args.decisions):
            size = 1 + i % 10
            # Each with a body of its own (fingerprinted: 4 fan-out bands read and reserved) and a full
            # thread (In-Reply-To plus References: 8 reply rights read), the largest batched read.
            body = " ".join("".join(words.choices(string.ascii_lowercase, k=6)) for _ in range(30))
            thread = {
                "in_reply_to": f"<t{i}@x.test>",
                "references": tuple(f"<r{i}-{k}@x.test>" for k in range(7)),
            }
            decision, ms, calls = _measure(
                world, counter, [f"p{i}-{k}+tag@outside.test" for k in range(size)], body=body, **thread
            )
            assert decision.allowed, decision.message
            allowed_ms.append(ms)
            allowed_calls += calls

        # The same people written to again: the first repeat relies on their contact marks (decided on a
        # consistent read, like every first contact above), later ones are plain allows on one read.
        known_ms, known_calls = [], Counter[str]()
        for i in range(args.decisions // 3):
            people = [f"p{i}-{k}+tag@outside.test" for k in range(1 + i % 10)]
            assert world.send(people, body=f"again {i}").allowed
            decision, ms, calls = _measure(world, counter, people, body=f"and again {i}")
            assert decision.allowed, decision.message
            known_ms.append(ms)
            known_calls += calls

        denied_ms, denied_calls = [], Counter[str]()
        for i in range(args.decisions // 3):
            decision, ms, calls = _measure(
                world, counter, [f"d{i}@outside.test"], headers={"Precedence": "bulk"}
            )
            assert decision.code == "bulk_headers"
            denied_ms.append(ms)
            denied_calls += calls

    n, d, k = len(allowed_ms), len(denied_ms), len(known_ms)
    print(
        f"policy decision against DynamoDB Local ({n} accepted, {d} refused, 1-10 recipients each; accepted "
        "ones with +tag recipients, a fingerprinted body and 8 thread ids: the largest batched read)"
    )
    for label, calls, count in (
        ("accepted (first contacts)", allowed_calls, n),
        ("accepted (known people)", known_calls, k),
        ("refused", denied_calls, d),
    ):
        print(f"  DynamoDB requests per {label} decision: {sum(calls.values()) / count:.2f}  {dict(calls)}")
    print(
        f"  accepted latency: median {statistics.median(allowed_ms):.2f} ms, "
        f"p95 {statistics.quantiles(allowed_ms, n=20)[18]:.2f} ms"
    )
    print(f"  refused latency:  median {statistics.median(denied_ms):.2f} ms")


if __name__ == "__main__":
    main()
