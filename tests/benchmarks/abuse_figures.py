"""Issue 14 figures: every red-team attack, recipients that left before (as the red team measured them at
75ce87f) and after (measured here, through the real policy decision and inbound learning on the in-memory
stores; tests/integration/test_abuse_resistance.py performs the same attacks on DynamoDB Local), and the
false positives on a support-desk workload.

Run: `.venv/bin/python -m tests.benchmarks.abuse_figures` (no AWS needed, about a second).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from litemx.addresses import normalize_address, person_of
from litemx.clock import FixedClock
from litemx.directory.models import Scope
from litemx.inbound.logic import learn
from litemx.inbound.models import Flag, Folder, InboundMessage, ParsedHeaders, Verdicts
from litemx.plans import Plan
from litemx.policy.logic import decide
from litemx.policy.models import SendRequest
from litemx.reputation.logic import enforce
from litemx.reputation.models import Tally, Thresholds
from litemx.suppression.models import SuppressionEntry
from tests.events.fanout_corpus import CAMPAIGNS, CANNED, SUPPORT_REPLIES, campaign
from tests.fakes import (
    ACCOUNT_ID,
    MAILBOX,
    T0,
    FakeAudit,
    FakeDirectory,
    FakeLedger,
    FakePolicyStore,
    directory_world,
    standard_world,
)

REPLY = frozenset({Scope.SEND_REPLY})


def send(world: FakePolicyStore, secret: str, to: list[str], at: Any = T0, **fields: Any) -> int:
    """Recipients that leave (0 when refused)."""
    request = replace(SendRequest(token_secret=secret, from_address=MAILBOX, to=tuple(to)), **fields)
    decision = decide(request, store=world, clock=FixedClock(at), request_id="r")
    return len(decision.recipients) if decision.allowed else 0


def people(n: int, domain: str = "cold.test", start: int = 0) -> list[str]:
    return [f"p{start + i}@{domain}" for i in range(n)]


def inbound(sender: str, verdicts: Verdicts, folder: Folder = Folder.INBOX, **headers: Any) -> InboundMessage:
    flags = frozenset({Flag.SPOOF_SUSPECT}) if verdicts.dmarc == "FAIL" else frozenset()
    return InboundMessage(
        MAILBOX,
        "id",
        "ses",
        folder,
        T0,
        ParsedHeaders(from_address=sender, message_id="t@x.test", **headers),
        1,
        "b",
        "k",
        verdicts,
        flags,
    )


def reply_attack(entry: InboundMessage | None, strangers: int) -> int:
    world, secret = standard_world(scopes=REPLY)
    directory = FakeDirectory()
    if entry is not None:
        learn(entry, entry.headers.from_address, directory, now=T0)
    world.reply_rights.update(directory.reply_rights)
    world.correspondents |= set(directory.correspondents)
    return send(world, secret, people(strangers), references=("<t@x.test>",))


def laundering() -> tuple[int, int]:
    directory = FakeDirectory()
    forged = people(100, "victims.test")
    for address in forged:
        learn(inbound(address, Verdicts(spam="PASS", virus="PASS")), "bulk@spam.test", directory, now=T0)
    reply, secret = standard_world(scopes=REPLY)
    reply.correspondents |= set(directory.correspondents)
    by_reply = sum(send(reply, secret, [a]) for a in forged)
    sender, secret = standard_world()
    sender.correspondents |= set(directory.correspondents)
    by_send = sum(send(sender, secret, forged[i : i + 10]) for i in range(0, 100, 10))
    return by_reply, by_send


def refund_bypass() -> int:
    # Rejected by the provider: nothing is refunded, so the caps stay spent (see test_outbound_delivery).
    world, secret = standard_world()
    for i in range(0, 200, 10):
        send(world, secret, people(10, start=i))
    return sum(send(world, secret, people(10, start=i)) for i in range(0, 100, 10))


def ten_mailboxes() -> int:
    world, secret = standard_world()
    total = 0
    for box in range(10):  # the account-wide counter is shared whatever mailbox sends
        world.counters.pop(f"mailbox#{MAILBOX}#first_contact#day#2026-11-24", None)
        total += sum(send(world, secret, [a]) for a in people(10, start=box * 10))
    return total


def spread_complaints() -> str:
    ledger, directory, audit = FakeLedger(), directory_world(), FakeAudit()
    for box in range(10):  # one complaint and one hard bounce in 9 sends per mailbox, 10 mailboxes
        ledger.put(f"box{box}@example.com", T0, Tally(sends=9, complaints=1, hard_bounces=1))
    disabled = enforce(
        mailbox=None,
        account_id=ACCOUNT_ID,
        reader=ledger,
        directory=directory,
        audit=audit,
        clock=FixedClock(T0),
        thresholds=Thresholds(),
    )
    return "account disabled" if disabled else "nothing disabled"


BULK = [
    ("Precedence", "bulk; campaign=7"),
    ("Precedence", "=?utf-8?q?bulk?="),
    ("List-Help", "<mailto:h@x>"),
    ("List-Subscribe", "<mailto:s@x>"),
    ("List-Post", "<mailto:p@x>"),
    ("List-Owner", "<mailto:o@x>"),
    ("List-Archive", "<https://x>"),
    ("X-List-Unsubscribe", "<mailto:u@x>"),
    ("Feedback-ID", "1:c:x"),
    ("X-Campaign-ID", "7"),
]


def headers_attack(pairs: list[tuple[str, str]]) -> int:
    world, secret = standard_world()
    return sum(send(world, secret, [f"c{i}@x.test"], headers={n: v}) for i, (n, v) in enumerate(pairs))


def suppression_variants() -> int:
    world, secret = standard_world()
    for address in ("name@outside.test", "name@gmail.com"):
        key = person_of(address) or address
        world.suppressions[(ACCOUNT_ID, key)] = SuppressionEntry(ACCOUNT_ID, key, "complaint", T0)
    return sum(
        send(world, secret, [v]) for v in ("name+1@outside.test", "n.ame@gmail.com", "na.me+2@googlemail.com")
    )


def fanout(plan: Plan) -> tuple[int, int]:
    total = 0
    for template in range(len(CAMPAIGNS)):
        world, secret = standard_world(plan=plan)
        world.first_contact_overrides[ACCOUNT_ID] = 10**6  # isolate fan-out from the first-contact caps
        total += sum(
            send(
                world,
                secret,
                [f"lead{i}@prospect.test"],
                body=campaign(template, i),
                at=T0 + timedelta(minutes=30 * i),
            )
            for i in range(30)
        )
    return 30 * len(CAMPAIGNS), total


def support_desk() -> tuple[int, int, dict[str, int]]:
    """A Starter desk over 14 days: every day 60 answers to people who wrote in (half canned), 8 written
    to new people (a customer's colleague in Cc, a form's Reply-To), and 3 canned acknowledgements to
    form submitters who are new; sent with a reply-only token answering the received messages."""
    world, secret = standard_world(plan=Plan.STARTER, scopes=REPLY)
    refused: dict[str, int] = {}
    total = 0
    for day in range(14):
        at = T0 + timedelta(days=day)
        for n in range(60):
            customer = f"customer{day}-{n}@shop{n % 7}.test"
            world.correspondents.add((MAILBOX, customer))
            text = (
                CANNED[n % 2]
                if n % 2
                else SUPPORT_REPLIES[(day + n) % len(SUPPORT_REPLIES)] + f" Ticket {n}."
            )
            total += 1
            code = decide(
                replace(SendRequest(secret, MAILBOX, to=(customer,)), body=text),
                store=world,
                clock=FixedClock(at + timedelta(minutes=n)),
                request_id="r",
            ).code
            refused[code] = refused.get(code, 0) + (code != "allowed")
        for n in range(11):
            new = f"new{day}-{n}@client{n}.test"
            thread = f"form{day}-{n}@forms.test"
            world.reply_rights[(MAILBOX, thread)] = frozenset({new, "forms@forms.test"})
            text = SUPPORT_REPLIES[(day * 11 + n) % len(SUPPORT_REPLIES)] if n < 8 else CANNED[0]
            total += 1
            code = decide(
                replace(SendRequest(secret, MAILBOX, to=(new,), in_reply_to=f"<{thread}>"), body=text),
                store=world,
                clock=FixedClock(at + timedelta(hours=2, minutes=n)),
                request_id="r",
            ).code
            refused[code] = refused.get(code, 0) + (code != "allowed")
    return total, sum(refused.values()), {k: v for k, v in refused.items() if v}


def main() -> None:
    launder_reply, launder_send = laundering()
    sent, left = fanout(Plan.SCALE)
    spam = inbound("spam@x.test", Verdicts(spam="FAIL"), Folder.SPAM, cc=tuple(people(9)))
    dmarc = inbound(
        "ceo@bank.test", Verdicts(dmarc="FAIL", dmarc_policy="reject"), Folder.SPAM, cc=tuple(people(9))
    )
    rows = [
        ("1 send:reply, References <own sent id> + 10 strangers", "10", reply_attack(None, 10)),
        ("1 send:reply, In-Reply-To <spam> + 9 strangers", "9", reply_attack(spam, 9)),
        ("1 send:reply into a DMARC-reject thread, 9 strangers", "9 (queued)", reply_attack(dmarc, 9)),
        ("2 100 forged From, then send:reply to each", "100", launder_reply),
        (
            "2 100 forged From, then send token (first contacts)",
            "100 (0 counted)",
            f"{launder_send} (counted)",
        ),
        ("3 200 marked via rejected sends, then 100 mailed", "100 (0 counted)", refund_bypass()),
        ("4 10 Free mailboxes x 10 first contacts", "100", ten_mailboxes()),
        ("5 10 complaints + 10 bounces over 90 sends, 10 mailboxes", "nothing disabled", spread_complaints()),
        ("6 local SMTP RCPT to a foreign domain", "accepted", "550 (tested)"),
        ("7 bulk header variants (10 messages)", "10", headers_attack(BULK)),
        (
            "7 X-SES-CONFIGURATION-SET / -MESSAGE-TAGS",
            "2",
            headers_attack([("X-SES-CONFIGURATION-SET", "x"), ("X-SES-MESSAGE-TAGS", "a=b")]),
        ),
        ("8 suppressed: name+1@, n.ame@gmail, na.me+2@googlemail", "3", suppression_variants()),
        ("9 a@straße.de normalised to", "a@strasse.de", normalize_address("a@straße.de")),
        ("10 5 campaigns x 30 personalised copies, Scale, caps lifted", f"{sent}", left),
    ]
    width = max(len(r[0]) for r in rows)
    print("Issue 14: recipients that left, before (red team at 75ce87f) and after")
    print(f"  {'attack':<{width}}  {'before':>18}  after")
    for name, before, after in rows:
        print(f"  {name:<{width}}  {before:>18}  {after}")
    total, refusals, why = support_desk()
    print(
        f"support-desk workload (Starter, 14 days, reply-only token): {total} messages, "
        f"{refusals} refused {why}"
    )


if __name__ == "__main__":
    main()
