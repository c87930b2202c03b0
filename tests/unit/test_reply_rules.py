"""Reply-only tokens and the first-contact cap (anti cold outbound), against the in-memory store."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from litemx.clock import FixedClock
from litemx.directory.models import Scope
from litemx.plans import Plan
from litemx.policy.logic import decide, thread_ids
from litemx.policy.models import Mode, SendRequest
from litemx.quotas.models import Cap
from tests.fakes import ACCOUNT_ID, MAILBOX, T0, FakePolicyStore, standard_world

REPLY_ONLY = frozenset({Scope.SEND_REPLY})
FIRST_CONTACT_KEY = f"mailbox#{MAILBOX}#first_contact#day#2026-11-24"


def send(world: FakePolicyStore, secret: str, *to: str, mode: Mode = Mode.SEND, **fields: Any):
    request = replace(
        SendRequest(token_secret=secret, from_address=MAILBOX, to=to, subject="Re: hi"), **fields
    )
    return decide(request, store=world, clock=FixedClock(T0), request_id="req-1", mode=mode)


def strangers(count: int, start: int = 0) -> list[str]:
    return [f"person{start + i}@outside.test" for i in range(count)]


# ---- reply-only tokens ----


@pytest.mark.parametrize(
    "thread",
    [
        {"in_reply_to": "<order-1@shop.test>"},
        {"in_reply_to": "order-1@shop.test"},
        {"references": ("<thread-0@shop.test> <order-1@shop.test>",)},
        {"references": ("<thread-0@shop.test>", "<order-1@shop.test>")},
    ],
    ids=["in-reply-to", "bare-id", "references-one-string", "references-many"],
)
def test_a_reply_to_a_received_message_reaches_its_participants(thread):
    # Given a reply-only token, and a message the mailbox received from ann, copied to the helpdesk
    world, secret = standard_world(scopes=REPLY_ONLY)
    world.reply_rights[(MAILBOX, "order-1@shop.test")] = frozenset({"ann@shop.test", "helpdesk@shop.test"})
    # When it answers that message, to a participant who never wrote to the mailbox
    decision = send(world, secret, "helpdesk@shop.test", **thread)
    # Then it is allowed (and that recipient is a first contact)
    assert decision.allowed, decision.message
    assert decision.first_contacts == ("helpdesk@shop.test",)
    # But a stranger added to the same answer is refused
    assert send(world, secret, "helpdesk@shop.test", "stranger@else.test", **thread).code == "not_a_reply"


def test_a_message_to_correspondents_only_is_a_reply():
    world, secret = standard_world(scopes=REPLY_ONLY)
    world.correspondents |= {(MAILBOX, "alice@outside.test"), (MAILBOX, "bob@outside.test")}
    decision = send(world, secret, "alice@outside.test", "Bob@Outside.test")
    assert decision.allowed, decision.message
    assert decision.first_contacts == ()
    assert FIRST_CONTACT_KEY not in world.counters


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"in_reply_to": "<never-received@shop.test>"},
        {"in_reply_to": "<order-1@shop.test>", "from_other_mailbox": True},
    ],
    ids=["no-thread", "unknown-thread", "thread-of-another-mailbox"],
)
def test_anything_else_is_not_a_reply(fields):
    world, secret = standard_world(scopes=REPLY_ONLY)
    world.correspondents.add((MAILBOX, "alice@outside.test"))
    if fields.pop("from_other_mailbox", False):
        world.reply_rights[("sales@example.com", "order-1@shop.test")] = frozenset({"stranger@outside.test"})
    decision = send(world, secret, "alice@outside.test", "stranger@outside.test", **fields)
    assert decision.code == "not_a_reply"
    assert "stranger@outside.test" in decision.message
    assert world.counters == {}


def test_a_send_token_needs_no_reply():
    world, secret = standard_world()
    assert send(world, secret, "stranger@outside.test").allowed


def test_thread_ids_are_bounded_and_stripped():
    request = SendRequest(
        token_secret="x",
        from_address=MAILBOX,
        in_reply_to=" <a@x> ",
        references=(" ".join(f"<r{i}@x>" for i in range(40)), "<a@x>"),
    )
    ids = thread_ids(request)
    assert ids[0] == "a@x"
    assert ids[1] == "r39@x"  # most recent reference first
    assert len(ids) == 8


# ---- first contacts ----


@pytest.mark.parametrize(("plan", "limit"), [(Plan.FREE, 10), (Plan.STARTER, 25), (Plan.SCALE, 50)])
def test_each_plan_allows_its_first_contacts_per_day_exactly(plan, limit):
    # Given a mailbox that has written to limit - 1 new people today, one at a time
    world, secret = standard_world(plan=plan)
    for address in strangers(limit - 1):
        assert send(world, secret, address).allowed
    # When it writes to one more new person, then another
    last = send(world, secret, f"person{limit - 1}@outside.test")
    over = send(world, secret, f"person{limit}@outside.test")
    # Then the limit-th is allowed and the next is refused, saying limit, used and reset
    assert last.allowed, last.message
    assert over.code == "first_contact_limit"
    assert over.exceeded is not None
    assert (over.exceeded.cap, over.exceeded.limit, over.exceeded.used) == (Cap.FIRST_CONTACT, limit, limit)
    assert "resets at 2026-11-25T00:00:00+00:00" in over.message
    assert over.retry_after_seconds == 14 * 3600 + 1
    assert world.counters[FIRST_CONTACT_KEY] == limit


def test_people_already_written_to_or_who_wrote_are_not_first_contacts():
    # Given a mailbox at its first-contact cap, that wrote to person0 earlier and heard from alice
    world, secret = standard_world()
    world.correspondents.add((MAILBOX, "alice@outside.test"))
    assert send(world, secret, *strangers(10)).allowed
    # When it writes to person0 again, and to alice
    again = send(world, secret, "person0@outside.test", "alice@outside.test")
    # Then neither is a first contact: allowed, the first-contact counter unchanged
    assert again.allowed, again.message
    assert again.first_contacts == ()
    assert world.counters[FIRST_CONTACT_KEY] == 10
    assert world.counters[f"mailbox#{MAILBOX}#day#2026-11-24"] == 12


def test_a_refused_first_contact_consumes_nothing_and_marks_no_one():
    world, secret = standard_world()
    world.counters[FIRST_CONTACT_KEY] = 9
    decision = send(world, secret, *strangers(2))
    assert decision.code == "first_contact_limit"
    assert world.counters == {FIRST_CONTACT_KEY: 9}
    assert world.contacts == set()


def test_only_the_new_recipients_of_a_message_count():
    world, secret = standard_world()
    world.correspondents |= {(MAILBOX, "alice@outside.test"), (MAILBOX, "bob@outside.test")}
    decision = send(world, secret, "alice@outside.test", "bob@outside.test", "carol@outside.test")
    assert decision.first_contacts == ("carol@outside.test",)
    assert world.counters[FIRST_CONTACT_KEY] == 1
    assert world.contacts == {(MAILBOX, "carol@outside.test")}
    reserved = {r.cap: r.amount for r in decision.reservations}
    assert reserved == {
        Cap.MAILBOX_DAY: 3,
        Cap.ACCOUNT_DAY: 3,
        Cap.ACCOUNT_MONTH: 3,
        Cap.FIRST_CONTACT: 1,
        Cap.ACCOUNT_FIRST_CONTACT: 1,
    }


def test_an_operator_override_replaces_the_plans_first_contact_limit():
    world, secret = standard_world()
    world.first_contact_overrides[ACCOUNT_ID] = 2
    assert send(world, secret, *strangers(2)).allowed
    assert send(world, secret, "person9@outside.test").code == "first_contact_limit"


def test_a_dry_run_reports_first_contacts_and_writes_nothing():
    world, secret = standard_world()
    decision = send(world, secret, *strangers(3), mode=Mode.CHECK)
    assert decision.allowed
    assert {u.cap: u.used for u in decision.usage}[Cap.FIRST_CONTACT] == 0
    assert world.counters == {}
    assert world.contacts == set()


def test_the_first_contact_cap_and_the_mailbox_cap_resetting_together_report_the_mailbox_cap():
    world, secret = standard_world()
    world.counters[FIRST_CONTACT_KEY] = 10
    world.counters[f"mailbox#{MAILBOX}#day#2026-11-24"] = 100
    assert send(world, secret, "person0@outside.test").code == "quota_exceeded.mailbox_day"
