"""The decision reads eventually consistent, at half the read units; a read that missed a write of the last
moment must never refuse a send, count a first contact, or cancel a queued message."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import timedelta

from litemx.clock import FixedClock
from litemx.directory.models import Status
from litemx.outbound.delivery import Outcome, deliver
from litemx.policy.fanout import fingerprint
from litemx.policy.logic import decide
from litemx.policy.models import Decision, SendRequest
from tests.fakes import ACCOUNT_ID, MAILBOX, T0, TOKEN_ID, FakePolicyStore, standard_world
from tests.unit.test_outbound_delivery import _setup as _delivery_setup

KNOWN = "alice@outside.test"


def _known_world() -> tuple[FakePolicyStore, str]:
    """A mailbox Alice wrote to: sends to her are plain allows (no first contact, no mark to rely on)."""
    world, secret = standard_world()
    world.correspondents.add((MAILBOX, KNOWN))
    return world, secret


def _send(world: FakePolicyStore, secret: str, *to: str, body: str = "", minutes: int = 0) -> Decision:
    request = SendRequest(
        token_secret=secret, from_address=MAILBOX, to=to or (KNOWN,), subject="Hi", body=body
    )
    return decide(request, store=world, clock=FixedClock(T0 + timedelta(minutes=minutes)), request_id="r1")


def _lagging(world: FakePolicyStore) -> FakePolicyStore:
    """From now on, eventually consistent reads of `world` see it as it is at this moment."""
    world.behind = copy.deepcopy(world)
    return world


def test_a_plain_allow_costs_one_eventually_consistent_read() -> None:
    world, secret = _known_world()
    assert _send(world, secret).allowed
    assert world.consistency == [False]


def test_a_counter_read_before_a_refund_does_not_refuse() -> None:
    # Given the account's day counter was full, and a refund gave 1 back a moment ago
    world, secret = _known_world()
    day = f"account#{ACCOUNT_ID}#month#2026-11|d24"  # the account's day, a field of its month
    world.counters[day] = 100
    _lagging(world).counters[day] = 99
    # When a send to one person reads the counter eventually consistent (still 100)
    decision = _send(world, secret)
    # Then the refusal is not believed: decided again on a consistent read, the send is allowed
    assert decision.allowed, decision.message
    assert world.consistency == [False, True]
    assert world.counters[day] == 100
    assert [a.outcome for a in world.audit] == ["allow"]  # no refusal was recorded on the stale read


def test_a_token_created_a_moment_ago_is_not_refused() -> None:
    # Given a token created so recently that an eventually consistent read does not find it
    world, secret = _known_world()
    _lagging(world).behind.tokens.clear()  # type: ignore[union-attr]
    # When it sends
    decision = _send(world, secret)
    # Then it is allowed, on a consistent read, and no token_invalid was audited
    assert decision.allowed, decision.message
    assert world.consistency == [False, True]
    assert [a.outcome for a in world.audit] == ["allow"]


def test_a_mailbox_re_enabled_a_moment_ago_is_not_refused() -> None:
    world, secret = _known_world()
    behind = _lagging(world).behind
    assert behind is not None
    behind.mailboxes[MAILBOX] = replace(behind.mailboxes[MAILBOX], status=Status.DISABLED)
    assert _send(world, secret).allowed
    assert world.consistency == [False, True]


def test_a_correspondent_written_a_moment_ago_is_not_counted_as_a_first_contact() -> None:
    # Given Bob wrote to the mailbox a moment ago: inbound made him a correspondent
    world, secret = standard_world()
    _lagging(world)
    world.correspondents.add((MAILBOX, "bob@outside.test"))
    # When the mailbox answers him at once (the eventually consistent read does not show him yet)
    decision = _send(world, secret, "bob@outside.test")
    # Then he is no first contact: that is decided on a consistent read
    assert decision.allowed, decision.message
    assert decision.first_contacts == ()
    assert world.consistency == [False, True]
    assert f"mailbox#{MAILBOX}#first_contact#day#2026-11-24" not in world.counters


def test_a_contact_mark_written_a_moment_ago_is_not_counted_again() -> None:
    # Given a first send to Carol made her a contact, and the second send follows at once
    world, secret = standard_world()
    assert _send(world, secret, "carol@outside.test").allowed
    _lagging(world).behind.contacts.clear()  # type: ignore[union-attr]
    world.consistency.clear()
    # When the mailbox writes to her again before an eventually consistent read shows her mark
    decision = _send(world, secret, "carol@outside.test", minutes=1)
    # Then she is not a first contact twice, and the mark is relied on (decided consistently)
    assert decision.allowed
    assert decision.first_contacts == ()
    assert world.consistency == [False, True]
    assert world.counters[f"mailbox#{MAILBOX}#first_contact#day#2026-11-24"] == 1
    assert world.relied_per_send[-1] == ("carol@outside.test",)


def test_a_fanout_counter_read_stale_is_decided_again_consistently() -> None:
    # Given yesterday's fan-out counters of the body's bands hold 3, and an eventual read still shows 0
    world, secret = _known_world()
    body = "Our spring offer: everything half price until Sunday, see the shop for details today."
    yesterday = [f"account#{ACCOUNT_ID}#fanout#{band}#day#2026-11-23" for band in fingerprint(body)]
    _lagging(world)
    for key in yesterday:
        world.counters[key] = 3
    # When the mailbox writes it to two new people
    decision = _send(world, secret, "a@x.test", "b@x.test", body=body)
    # Then the decision is taken on the consistent read (3 + 2 within 10), allowed, counted once
    assert decision.allowed, decision.message
    assert world.consistency == [False, True]
    assert world.counters[f"mailbox#{MAILBOX}#day#2026-11-24"] == 2


def test_a_real_refusal_is_still_refused_and_audited_once() -> None:
    world, secret = _known_world()
    world.mailboxes[MAILBOX] = replace(world.mailboxes[MAILBOX], status=Status.DISABLED, status_reason="x")
    decision = _send(world, secret)
    assert decision.code == "mailbox_disabled"
    assert world.consistency == [False, True]
    assert [(a.outcome, a.reason_code, a.actor) for a in world.audit] == [
        ("deny", "mailbox_disabled", TOKEN_ID)
    ]


# --- the sender's kill-switch re-read --------------------------------------------------------------


def test_the_sender_reads_the_kill_switches_eventually_consistent() -> None:
    deps, world, *_ = _delivery_setup()
    assert deliver("msg-1", deps).outcome is Outcome.SENT
    assert world.consistency == [False]


def test_the_sender_does_not_cancel_on_a_kill_switch_read_stale() -> None:
    # Given the mailbox was disabled and re-enabled a moment ago; an eventual read still sees it disabled
    deps, world, _, provider, quotas, _ = _delivery_setup()
    behind = _lagging(world).behind
    assert behind is not None
    behind.mailboxes[MAILBOX] = replace(behind.mailboxes[MAILBOX], status=Status.DISABLED)
    # When the message is delivered
    delivery = deliver("msg-1", deps)
    # Then the cancellation is checked on a consistent read first, and the message is sent
    assert delivery.outcome is Outcome.SENT
    assert world.consistency == [False, True]
    assert len(provider.sent) == 1
    assert quotas.released == []


def test_the_sender_still_cancels_on_a_kill_switch_that_holds() -> None:
    deps, world, *_ = _delivery_setup()
    world.accounts[ACCOUNT_ID] = replace(world.accounts[ACCOUNT_ID], status=Status.DISABLED)
    delivery = deliver("msg-1", deps)
    assert (delivery.outcome, delivery.reason_code) == (Outcome.CANCELLED, "account_disabled")
    assert world.consistency == [False, True]


def test_a_refusal_judged_on_the_request_alone_needs_no_second_read() -> None:
    world, secret = _known_world()
    request = SendRequest(
        token_secret=secret, from_address=MAILBOX, to=(KNOWN,), subject="Hi", headers={"Precedence": "bulk"}
    )
    decision = decide(request, store=world, clock=FixedClock(T0), request_id="r1")
    assert decision.code == "bulk_headers"
    assert world.consistency == [False]
