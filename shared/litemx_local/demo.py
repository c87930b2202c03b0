"""`make demo`: LiteMX's policy core deciding real requests against the local AWS, step by step.

Each step says what should happen, does it against DynamoDB Local, and prints what did happen. The demo
exits 0 only if every step behaved as narrated. Later issues grow it into the tour of the whole system.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from litemx.clock import FixedClock
from litemx.directory import admin
from litemx.directory.models import EntityKind, Scope
from litemx.plans import Plan
from litemx.policy.models import Decision
from litemx.storage.tables import TableNames
from litemx.suppression.models import GLOBAL_SCOPE, SuppressionEntry
from litemx_local.aws import LocalAws
from litemx_local.world import World, build_world

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class TickingClock(FixedClock):
    """Moves one second per reading, so that the audit trail of the tour reads in order."""

    def now(self) -> datetime:
        self.at += timedelta(seconds=1)
        return self.at


@dataclass
class Step:
    narration: str
    expected: str
    action: Callable[[], Decision]


class Tour:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.failures = 0
        self.count = 0

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text)

    def run(self, step: Step) -> Decision:
        self.count += 1
        decision = step.action()
        ok = decision.code == step.expected
        self.failures += 0 if ok else 1
        mark = "ok " if ok else "FAIL"
        print(f"[{mark}] {self.count:2}. {step.narration}")
        detail = f"        -> {decision.code}: {decision.message}"
        if decision.allowed and decision.usage:
            detail += "  usage " + ", ".join(f"{u.cap.value} {u.used}/{u.limit}" for u in decision.usage)
        if not ok:
            detail += f"  (expected {step.expected})"
        if not self.quiet or not ok:
            print(detail)
        return decision


def play(world: World, reply_secret: str, tour: Tour) -> None:
    support, hello = (box.address for box in world.mailboxes)
    world.secrets[hello] = reply_secret

    def send(to: list[str], *, mailbox: str = support, **fields: object) -> Callable[[], Decision]:
        return lambda: world.send(to, mailbox=mailbox, **fields)  # type: ignore[arg-type]

    tour.say("\nDay 1")
    tour.run(Step(f"{support} writes to a customer", "allowed", send(["customer@outside.test"])))
    tour.run(
        Step(
            "A newsletter (List-Unsubscribe, Precedence: bulk) is refused",
            "bulk_headers",
            send(
                ["customer@outside.test"],
                headers={"List-Unsubscribe": "<mailto:u@example.com>", "Precedence": "bulk"},
            ),
        )
    )
    tour.run(
        Step(
            "Eleven recipients in one message exceed the Free plan's 10",
            "too_many_recipients",
            send([f"lead{i}@outside.test" for i in range(11)]),
        )
    )
    tour.run(
        Step(
            "A subject smuggling a Bcc header is refused",
            "header_injection",
            send(["customer@outside.test"], subject="Hi\r\nBcc: everyone@outside.test"),
        )
    )
    world.suppression.add(
        SuppressionEntry(
            GLOBAL_SCOPE, "gone@outside.test", "hard bounce (5.1.1)", world.clock.now(), "feedback"
        )
    )
    tour.say("        (gone@outside.test hard-bounced earlier: it is on the global suppression list)")
    tour.run(
        Step("Mail to a suppressed address is refused", "recipient_suppressed", send(["gone@outside.test"]))
    )
    tour.say(f"        (refusals consumed nothing; {support} now sends 99 more recipients, 10 per message)")
    for batch in range(10):
        decision = world.send([f"friend{batch}-{i}@outside.test" for i in range(9 if batch == 9 else 10)])
        if not decision.allowed:
            tour.failures += 1
            print(f"[FAIL] filling the cap was refused: {decision.message}")
    tour.run(
        Step(
            "The Free mailbox cap (100 recipients/day) is reached: 429 until 00:00 UTC",
            "quota_exceeded.mailbox_day",
            send(["one-more@outside.test"]),
        )
    )

    world.clock.set(world.clock.now().replace(hour=9) + timedelta(days=1))
    tour.say("\nDay 2: a new UTC day, the day caps start afresh")
    tour.run(
        Step(
            f"{hello} holds a reply-only token: a cold message to a stranger is refused",
            "not_a_reply",
            send(["stranger@outside.test"], mailbox=hello),
        )
    )
    world.directory.record_correspondent(hello, "alice@outside.test", now=world.clock.now())
    tour.say(f"        (alice@outside.test writes to {hello}: she becomes a correspondent)")
    tour.run(Step(f"{hello} replies to Alice", "allowed", send(["Alice@Outside.test"], mailbox=hello)))
    admin.set_enabled(
        world.directory,
        world.audit,
        world.clock,
        kind=EntityKind.MAILBOX,
        entity_id=hello,
        enabled=False,
        reason="2 complaints in 24 h",
        actor="operator",
    )
    tour.say(f"        (the operator disables {hello}: 2 complaints in 24 h)")
    tour.run(
        Step(
            f"The very next send from {hello} is refused",
            "mailbox_disabled",
            send(["alice@outside.test"], mailbox=hello),
        )
    )
    admin.set_enabled(
        world.directory,
        world.audit,
        world.clock,
        kind=EntityKind.MAILBOX,
        entity_id=hello,
        enabled=True,
        reason="customer cleaned up their list",
        actor="operator",
    )
    tour.say(f"        (the operator re-enables {hello})")
    tour.run(Step(f"{hello} may send again", "allowed", send(["alice@outside.test"], mailbox=hello)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quiet", action="store_true", help="print one line per step")
    args = parser.parse_args()
    tour = Tour(args.quiet)
    started = time.monotonic()
    print("LiteMX demo: the sending-policy core against the local AWS (DynamoDB Local + moto server)")
    with LocalAws() as aws:
        os.environ.update(aws.environment())
        tour.say(f"  DynamoDB Local on {aws.dynamodb_endpoint}, moto server on {aws.moto_endpoint}")
        names = TableNames.with_prefix("demo")
        aws.create_tables(names)
        world = build_world(
            names, name="Acme Support", plan=Plan.FREE, mailboxes=2, clock=TickingClock(START)
        )
        support, hello = (box.address for box in world.mailboxes)
        issued = admin.issue_token(
            world.directory,
            world.audit,
            world.clock,
            mailbox=world.mailboxes[1],
            scopes=frozenset({Scope.SEND_REPLY}),
            actor="operator",
        )
        tour.say(
            f"  Account {world.account.account_id} (Free), domain example.com (verified), "
            f"mailboxes {support} (send) and {hello} (send:reply)"
        )
        play(world, issued.secret, tour)
        if not tour.quiet:
            print("\nAudit trail of the tour (oldest first):")
            for record in reversed(world.audit.list(world.account.account_id, limit=500)):
                what = record.reason_code or ", ".join(f"{k}={v}" for k, v in sorted(record.details.items()))
                print(
                    f"  {record.at:%d %H:%M:%S} {record.event:16} {record.outcome:5} "
                    f"{record.recipients_count:>2} rcpt  {record.actor:17} {what}"
                )
    elapsed = time.monotonic() - started
    verdict = (
        "every step behaved as narrated" if tour.failures == 0 else f"{tour.failures} step(s) misbehaved"
    )
    print(f"\n{tour.count} steps, {verdict}, in {elapsed:.1f} s")
    return 0 if tour.failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
