"""Issue 14 against the local AWS: each attack performed with the real stores (DynamoDB Local), the real
inbound handler and, for refunds, the real outbound pipeline with moto's SES. Times come from the tests'
anchored clock (DynamoDB Local enforces the counters' TTL); the handlers' own SystemClock where they
decide."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import boto3
import pytest

from litemx.clock import FixedClock
from litemx.directory import admin
from litemx.directory.models import EntityKind, Scope
from litemx.messages.models import MessageStatus
from litemx.messages.store import MessageStore
from litemx.policy.fanout import fingerprint
from litemx.policy.store import AccountPolicyStore, contact_key
from litemx.quotas.models import day_window
from litemx.quotas.store import QuotaStore
from litemx.storage.tables import ContactRecord, TableNames
from litemx.suppression.service import suppress
from litemx_local.testclock import anchored_now
from litemx_local.world import PLAN_FIRST_CONTACTS, World, build_world
from tests.events.fanout_corpus import campaign
from tests.events.mailroom import Mailroom, mailroom
from tests.integration.conftest import recipients
from tests.integration.outbound import make_pipeline

pytestmark = pytest.mark.integration
BOX = "box0@example.com"
REPLY_ONLY = frozenset({Scope.SEND_REPLY})


def now_clock() -> FixedClock:
    """The tests' one clock (anchored to the run's start, or LITEMX_TEST_NOW; docs/testing.md)."""
    return FixedClock(anchored_now())


def counter(key: str) -> int:
    return QuotaStore().read([key]).get(key, 0)  # the account's day is a field of its month's item


def day(world: World) -> str:
    return day_window(world.clock.now()).label


def marked(mailbox: str, person: str) -> bool:
    try:
        ContactRecord.get(*contact_key(mailbox, person), consistent_read=True)
    except ContactRecord.DoesNotExist:
        return False
    return True


def raw_mail(sender: str, message_id: str, *, to: str = BOX, cc: str = "", reply_to: str = "") -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, to, "Question"
    mail["Message-ID"] = f"<{message_id}>"
    if cc:
        mail["Cc"] = cc
    if reply_to:
        mail["Reply-To"] = reply_to
    mail.set_content("Could you help me with my order?")
    return bytes(mail)


@pytest.fixture
def room(tables: TableNames, monkeypatch) -> Iterator[Mailroom]:
    with mailroom(tables, monkeypatch) as room:
        yield room


# ---- 1. reply-only tokens ----


def test_attack_a_reply_token_reaches_only_the_participants_of_received_mail(tables, room):
    world = build_world(tables, scopes=REPLY_ONLY, clock=now_clock())
    # Given Alice's authenticated message, copied to Carol, with a Reply-To desk address
    room.receive(
        raw_mail("alice@sender.test", "q-1@sender.test", cc="carol@sender.test", reply_to="desk@sender.test"),
        [BOX],
    )
    # Then the reply may go to all four participants
    ok = world.send(
        ["alice@sender.test", "carol@sender.test", "desk@sender.test"], in_reply_to="<q-1@sender.test>"
    )
    assert ok.allowed, ok.message
    # But 9 strangers added to the thread are refused, as are strangers named via References
    added = world.send(["alice@sender.test", *recipients(9)], in_reply_to="<q-1@sender.test>")
    assert added.code == "not_a_reply"


@pytest.mark.parametrize(
    ("verdicts", "sender"),
    [
        ({"spam": "FAIL"}, "spammer@sender.test"),
        ({"virus": "FAIL"}, "worm@sender.test"),
        ({"dmarc": "FAIL", "dmarc_policy": "reject"}, "ceo@bank.test"),
        ({"dmarc": "FAIL", "dmarc_policy": "none"}, "ceo@bank.test"),
        ({}, BOX),  # the mailbox's own message, as a loop or a self-copy brings it back
    ],
    ids=["spam", "virus", "dmarc-reject", "dmarc-none", "own-sent-id"],
)
def test_attack_threads_of_spam_virus_dmarc_fail_or_own_mail_grant_no_reply(tables, room, verdicts, sender):
    world = build_world(tables, scopes=REPLY_ONLY, clock=now_clock())
    room.receive(raw_mail(sender, "t-1@x.test", cc=", ".join(recipients(9))), [BOX], **verdicts)
    refused = world.send([*recipients(9)], references=("<t-1@x.test>",))
    assert refused.code == "not_a_reply"
    assert counter(f"mailbox#{BOX}#first_contact#day#{day(world)}") == 0


# ---- 2. correspondent laundering ----


def test_attack_forged_from_addresses_launder_no_correspondents(tables, room):
    # Given 100 inbound messages with forged From addresses (no SPF/DKIM/DMARC verdict proves them)
    world = build_world(tables, scopes=REPLY_ONLY, clock=now_clock(), first_contacts_day=PLAN_FIRST_CONTACTS)
    forged = recipients(100, domain="victims.test")
    for index, address in enumerate(forged):
        room.receive(
            raw_mail(address, f"f-{index}@victims.test"),
            [BOX],
            source="bulk@spam.test",
            spf="GRAY",
            dkim="GRAY",
            dmarc="GRAY",
        )
    # Then a reply-only token reaches none of them
    assert [world.send([a]).code for a in forged] == ["not_a_reply"] * 100
    # And a send token reaches them only as first contacts: 10 (Free), then the cap
    send_token = admin.issue_token(
        world.directory,
        world.audit,
        world.clock,
        mailbox=world.mailboxes[0],
        scopes=frozenset({Scope.SEND}),
        actor="operator",
    )
    world.secrets[BOX] = send_token.secret
    codes = [world.send(forged[i : i + 10]).code for i in range(0, 100, 10)]
    assert codes == ["allowed"] + ["first_contact_limit"] * 9


def test_an_authenticated_sender_becomes_a_correspondent(tables, room):
    world = build_world(tables, scopes=REPLY_ONLY, clock=now_clock())
    room.receive(raw_mail("bob@sender.test", "b-1@sender.test"), [BOX], spf="PASS", dmarc="GRAY")
    room.receive(
        raw_mail("eve@sender.test", "e-1@sender.test"), [BOX], source="x@other.test", spf="PASS", dmarc="GRAY"
    )
    assert world.send(["bob@sender.test"]).allowed  # SPF passed for sender.test: aligned
    assert world.send(["eve@sender.test"]).code == "not_a_reply"  # SPF passed for other.test only


# ---- 3. refunds ----


def test_attack_messages_ses_rejects_buy_no_contact_marks(tables, local_aws, monkeypatch):
    # Given a Free mailbox with the plan's first-contact caps, whose SES identity goes away after the
    # messages are queued, so that SES rejects every one of them
    pipeline = make_pipeline(tables, local_aws, monkeypatch)
    world = pipeline.world
    AccountPolicyStore().set_first_contacts(world.account.account_id, None, now=world.clock.now())
    people = recipients(200, domain="cold.test")
    ses = boto3.client("ses")
    queued = []
    for i in range(0, 200, 10):  # 20 rounds: queue 10 new people, let SES reject the message
        queued.append(pipeline.send({"to": people[i : i + 10], "text": "Hello"}))
        if queued[-1].status == 202:
            ses.delete_identity(Identity="example.com")
            pipeline.drain()
            ses.verify_domain_identity(Domain="example.com")
    # Then only the first 10 people were ever admitted (the cap): a rejected message used its quota
    assert [a.status for a in queued] == [202] + [429] * 19
    assert pipeline.sent_raw() == []
    boto3.client("ses").verify_domain_identity(Domain="example.com")
    # And mailing 100 of them afterwards reaches only those 10 (already counted), no one else
    later = [pipeline.send({"to": people[i : i + 10], "text": "Hello again"}) for i in range(0, 100, 10)]
    assert [a.status for a in later] == [202] + [429] * 9
    assert {a.body["error"]["code"] for a in later[1:]} == {"first_contact_limit"}


def test_a_cancellation_gives_back_counters_and_contact_marks_in_one_go(tables, local_aws, monkeypatch):
    pipeline = make_pipeline(tables, local_aws, monkeypatch)
    world = pipeline.world
    label = day_window(anchored_now()).label  # the API and sender handlers run on the tests' clock
    answer = pipeline.send({"to": ["ann@cold.test", "bo.b+x@gmail.com"], "text": "hi"})
    assert answer.status == 202
    assert marked(BOX, "bob@gmail.com")
    admin.set_enabled(
        world.directory,
        world.audit,
        world.clock,
        kind=EntityKind.MAILBOX,
        entity_id=BOX,
        enabled=False,
        reason="kill switch",
        actor="operator",
    )
    pipeline.drain()
    # (the disabled mailbox's token may no longer read: docs/policy.md, "Disablement")
    assert MessageStore().get(answer.body["id"]).status is MessageStatus.CANCELLED
    assert counter(f"mailbox#{BOX}#first_contact#day#{label}") == 0
    assert counter(f"account#{world.account.account_id}#first_contact#day#{label}") == 0
    assert counter(f"mailbox#{BOX}#day#{label}") == 0
    # the account's day and month, two fields of the month's item, given back in the same update
    month = f"account#{world.account.account_id}#month#{label[:7]}"
    assert QuotaStore().read([month, f"{month}|d{label[-2:]}"]) == {month: 0, f"{month}|d{label[-2:]}": 0}
    assert not marked(BOX, "ann@cold.test")
    assert not marked(BOX, "bob@gmail.com")


def test_a_refund_keeps_a_mark_another_send_relied_on(tables, local_aws, monkeypatch):
    # Given message A makes Ann a contact, and message B (another token) relies on that mark
    pipeline = make_pipeline(tables, local_aws, monkeypatch)
    world = pipeline.world
    label = day_window(anchored_now()).label  # the API and sender handlers run on the tests' clock
    first = admin.issue_token(
        world.directory,
        world.audit,
        world.clock,
        mailbox=world.mailboxes[0],
        scopes=frozenset({Scope.SEND}),
        actor="operator",
    )
    assert (
        pipeline.api(
            "POST",
            "/v1/messages",
            body={"from": BOX, "to": ["ann@cold.test"], "text": "a"},
            token=first.secret,
        ).status
        == 202
    )
    second = pipeline.send({"to": ["ann@cold.test"], "text": "b"})
    assert second.status == 202
    # When A is cancelled (its token revoked) before any provider attempt
    admin.set_enabled(
        world.directory,
        world.audit,
        world.clock,
        kind=EntityKind.TOKEN,
        entity_id=first.token.token_id,
        enabled=False,
        reason="leaked",
        actor="operator",
    )
    pipeline.drain()
    # Then A's day caps come back, but Ann stays contacted and counted: B reached her on that mark
    assert counter(f"mailbox#{BOX}#day#{label}") == 1
    assert counter(f"mailbox#{BOX}#first_contact#day#{label}") == 1
    assert marked(BOX, "ann@cold.test")


# ---- 4. first contacts across mailboxes ----


def test_attack_ten_mailboxes_share_one_first_contact_cap(tables):
    world = build_world(tables, mailboxes=10, clock=now_clock(), first_contacts_day=PLAN_FIRST_CONTACTS)
    allowed: list[str] = []
    lock = threading.Lock()

    def campaign_from(box: str, start: int) -> None:
        for i in range(10):
            decision = world.send(recipients(1, start=start + i), mailbox=box)
            if decision.allowed:
                with lock:
                    allowed.append(box)

    threads = [
        threading.Thread(target=campaign_from, args=(b.address, n * 100))
        for n, b in enumerate(world.mailboxes)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 10
    assert counter(f"account#{world.account.account_id}#first_contact#day#{day(world)}") == 10


# ---- 8. suppression variants ----


def test_attack_suppressed_people_are_not_reached_through_variants(tables):
    world = build_world(tables, clock=now_clock())
    for address in ("n.ame@gmail.com", "someone@outside.test"):
        suppress(
            world.suppression,
            world.audit,
            world.clock,
            scope=world.account.account_id,
            address=address,
            reason="complaint",
            actor="feedback",
        )
    for variant in (
        "name@googlemail.com",
        "na.me+1@gmail.com",
        "someone+2@outside.test",
        "SomeOne@outside.test",
    ):
        assert world.send([variant]).code == "recipient_suppressed", variant


# ---- 10. fan-out ----


def _count_requests(client: Any) -> list[str]:
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    return calls


def test_attack_a_campaign_from_many_mailboxes_at_once_stops_at_the_fanout_number(tables):
    # Given a Free account whose first-contact caps are lifted, 4 mailboxes sending personalised copies
    world = build_world(tables, mailboxes=4, clock=now_clock())
    allowed: list[int] = []
    lock = threading.Lock()

    def run(box: str, start: int) -> None:
        for i in range(start, start + 5):
            decision = world.send([f"lead{i}@prospect.test"], mailbox=box, body=campaign(0, i))
            assert decision.allowed or decision.code == "bulk_content", decision.message
            if decision.allowed:
                with lock:
                    allowed.append(i)

    threads = [threading.Thread(target=run, args=(b.address, n * 5)) for n, b in enumerate(world.mailboxes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly 10 (Free) of the 20 leave, and no band counter passes 10
    assert len(allowed) == 10
    bands = {band for i in range(20) for band in fingerprint(campaign(0, i))}
    prefix = f"account#{world.account.account_id}#fanout#"
    assert max(counter(f"{prefix}{band}#day#{day(world)}") for band in bands) == 10


def _consistency(client: Any) -> list[tuple[str, bool | None]]:
    """Each DynamoDB request, with a BatchGetItem's ConsistentRead (one value for all its tables)."""
    calls: list[tuple[str, bool | None]] = []

    def seen(params: dict[str, Any], model: Any, **_: Any) -> None:
        flags = {t.get("ConsistentRead", False) for t in params.get("RequestItems", {}).values()}
        calls.append((model.name, flags.pop() if len(flags) == 1 else None))

    client.meta.events.register("before-parameter-build.dynamodb", seen)
    return calls


def test_an_accepted_decision_with_a_fingerprint_still_costs_two_requests(tables):
    # Given a fingerprinted message to 10 people the mailbox has written to before
    world = build_world(tables, clock=now_clock())
    people = recipients(10)
    assert world.send(people, body=campaign(1, 3)).allowed  # first contacts: decided on a consistent read
    assert world.send(people, body=campaign(1, 4)).allowed  # their marks relied on: consistent too
    calls = _consistency(world.policy.client)
    # When it sends to them again
    decision = world.send(people, body=campaign(1, 5))
    # Then one eventually consistent read and the transaction: two requests
    assert decision.allowed, decision.message
    assert calls == [("BatchGetItem", False), ("TransactWriteItems", None)]


def test_a_decision_counting_first_contacts_reads_again_consistently(tables):
    world = build_world(tables, clock=now_clock())
    calls = _consistency(world.policy.client)
    decision = world.send(recipients(10), body=campaign(1, 3))
    assert decision.allowed, decision.message
    assert calls == [("BatchGetItem", False), ("BatchGetItem", True), ("TransactWriteItems", None)]


# ---- 11. warm-up, shown in /v1/usage ----


def test_usage_shows_the_warm_up_limits_and_schedule(tables, local_aws, monkeypatch):
    from litemx.policy.warmup import scaled, share_on

    pipeline = make_pipeline(tables, local_aws, monkeypatch)
    world = pipeline.world
    store = AccountPolicyStore()
    store.set_first_contacts(world.account.account_id, None, now=world.clock.now())
    store.set_warmup_waived(world.account.account_id, False, now=world.clock.now())
    usage = pipeline.api("GET", "/v1/usage", token=world.secrets[BOX]).body
    now = anchored_now()
    account = world.directory.get_account(world.account.account_id)
    mailbox = world.directory.get_mailbox(BOX)
    account_share, mailbox_share = share_on(account.created_at, now), share_on(mailbox.created_at, now)
    limits = {u["cap"]: u["limit"] for u in usage["usage"]}
    assert limits == {
        "mailbox_day": scaled(100, mailbox_share),
        "account_day": scaled(100, account_share),
        "account_month": 500,
        "first_contact": scaled(10, mailbox_share),
        "account_first_contact": scaled(10, account_share),
    }
    if mailbox_share < 1.0:
        assert [s["share"] for s in usage["warmup"]["mailbox"]] == [0.25, 0.5, 0.75, 1.0]
    # And an operator's waiver lifts it at once
    store.set_warmup_waived(world.account.account_id, True, now=world.clock.now())
    lifted = pipeline.api("GET", "/v1/usage", token=world.secrets[BOX]).body
    assert {u["cap"]: u["limit"] for u in lifted["usage"]}["mailbox_day"] == 100
    assert lifted["warmup"] == {"account": [], "mailbox": []}
