"""Every reason code of the policy decision, table-driven, against the in-memory store."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from litemx import addresses
from litemx.clock import FixedClock
from litemx.directory.models import Scope, Status, TokenStatus, Verification
from litemx.plans import LimitOverrides, Plan
from litemx.policy.fanout import fingerprint
from litemx.policy.logic import decide
from litemx.policy.models import OPEN_PROVIDER, Mode, ProviderGate, SendRequest
from litemx.policy.reasons import Reason
from litemx.quotas.models import Cap
from litemx.suppression.models import GLOBAL_SCOPE, SuppressionEntry
from tests.fakes import ACCOUNT_ID, MAILBOX, T0, TOKEN_ID, FakePolicyStore, standard_world

World = FakePolicyStore
Mutation = Callable[[World, SendRequest], SendRequest]


def _request(secret: str, **changes: object) -> SendRequest:
    base = SendRequest(token_secret=secret, from_address=MAILBOX, to=("alice@outside.test",), subject="Hello")
    return replace(base, **changes)  # type: ignore[arg-type]


def _token(world: World, **changes: object) -> None:
    world.tokens[TOKEN_ID] = replace(world.tokens[TOKEN_ID], **changes)  # type: ignore[arg-type]


def _suppress(world: World, scope: str, address: str) -> None:
    world.suppressions[(scope, address)] = SuppressionEntry(scope, address, "hard bounce", T0)


def on_world(change: Callable[[World], None]) -> Mutation:
    """A case that changes the stored world and leaves the request as it is."""

    def mutate(world: World, request: SendRequest) -> SendRequest:
        change(world)
        return request

    return mutate


def _set(mapping: dict[str, Any], key: str, **changes: object) -> None:
    mapping[key] = replace(mapping[key], **changes)


CASES: dict[str, Mutation] = {
    "token_invalid:malformed": lambda w, r: replace(r, token_secret="not-a-token"),
    "token_invalid:unknown": on_world(lambda w: w.tokens.clear()),
    "token_invalid:wrong_secret": lambda w, r: replace(r, token_secret=r.token_secret[:-4] + "AAAA"),
    "token_revoked": on_world(lambda w: _token(w, status=TokenStatus.REVOKED)),
    "token_disabled": on_world(lambda w: _token(w, status=TokenStatus.DISABLED, status_reason="leaked")),
    "token_expired": on_world(lambda w: _token(w, expires_at=T0 - timedelta(seconds=1))),
    "scope_denied": on_world(lambda w: _token(w, scopes=frozenset({Scope.READ}))),
    "token_mailbox_mismatch": lambda w, r: replace(r, from_address="sales@example.com"),
    "from_invalid": lambda w, r: replace(r, from_address="support@@example.com"),
    "account_disabled": on_world(lambda w: _set(w.accounts, ACCOUNT_ID, status=Status.DISABLED)),
    "domain_not_owned": on_world(lambda w: _set(w.domains, "example.com", account_id="acc-999999999999")),
    "domain_not_verified": on_world(
        lambda w: _set(w.domains, "example.com", verification=Verification.PENDING)
    ),
    "domain_disabled": on_world(lambda w: _set(w.domains, "example.com", status=Status.DISABLED)),
    "mailbox_not_found": on_world(lambda w: w.mailboxes.clear()),
    "mailbox_disabled": on_world(lambda w: _set(w.mailboxes, MAILBOX, status=Status.DISABLED)),
    "recipients_missing": lambda w, r: replace(r, to=()),
    "too_many_recipients": lambda w, r: replace(r, to=tuple(f"p{i}@outside.test" for i in range(11))),
    "recipient_invalid": lambda w, r: replace(r, cc=("not an address",)),
    "header_injection:subject": lambda w, r: replace(r, subject="Hi\r\nBcc: victim@outside.test"),
    "header_injection:recipient": lambda w, r: replace(r, to=("alice@outside.test\r\nBcc: x@y.test",)),
    "header_injection:header_value": lambda w, r: replace(r, headers={"X-Note": "a\nb"}),
    "header_injection:in_reply_to": lambda w, r: replace(r, in_reply_to="<a@b>\r\nX: y"),
    "header_injection:u2028": lambda w, r: replace(r, subject="Hi\u2028Bcc: victim@outside.test"),
    "header_injection:nel": lambda w, r: replace(r, headers={"X-Note": "a\x85b"}),
    "header_injection:vt": lambda w, r: replace(r, references=("<a@b>\x0bX: y",)),
    "header_injection:ff": lambda w, r: replace(r, subject="a\x0cb"),
    "header_injection:recipient_u2028": lambda w, r: replace(r, to=("alice@outside.test\u2028",)),
    "header_not_allowed:bcc": lambda w, r: replace(r, headers={"Bcc": "victim@outside.test"}),
    "header_not_allowed:sender": lambda w, r: replace(r, headers={"Sender": "ceo@other-tenant.test"}),
    "header_not_allowed:reply_to": lambda w, r: replace(r, headers={"Reply-To": "x@outside.test"}),
    "header_not_allowed:to": lambda w, r: replace(r, headers={"To": "x@outside.test"}),
    "header_not_allowed:subject": lambda w, r: replace(r, headers={"Subject": "hidden"}),
    "header_not_allowed:tab": lambda w, r: replace(r, headers={"X-A\tB": "v"}),
    "header_injection:name_del": lambda w, r: replace(r, headers={"X-A\x7fB": "v"}),
    "bulk_headers:list_unsubscribe": lambda w, r: replace(
        r, headers={"List-Unsubscribe": "<mailto:u@x.test>"}
    ),
    "bulk_headers:precedence_bulk": lambda w, r: replace(r, headers={"Precedence": "Bulk"}),
    "bulk_headers:precedence_list": lambda w, r: replace(r, headers={"precedence": "list"}),
    "bulk_headers:precedence_junk": lambda w, r: replace(r, headers={"PRECEDENCE": " junk "}),
    "recipient_suppressed:global": on_world(lambda w: _suppress(w, GLOBAL_SCOPE, "alice@outside.test")),
    "recipient_suppressed:account": on_world(lambda w: _suppress(w, ACCOUNT_ID, "alice@outside.test")),
    "outbound_blocked.provider_sandbox": lambda w, r: r,
    "outbound_blocked.tenant_paused": lambda w, r: r,
    "not_a_reply": on_world(lambda w: _token(w, scopes=frozenset({Scope.SEND_REPLY}))),
    "quota_exceeded.mailbox_day": on_world(
        lambda w: w.counters.update({f"mailbox#{MAILBOX}#day#2026-11-24": 100})
    ),
    "quota_exceeded.account_day": on_world(
        lambda w: w.counters.update({f"account#{ACCOUNT_ID}#month#2026-11|d24": 100})
    ),
    "quota_exceeded.account_month": on_world(
        lambda w: w.counters.update({f"account#{ACCOUNT_ID}#month#2026-11": 500})
    ),
    "first_contact_limit": on_world(
        lambda w: w.counters.update({f"mailbox#{MAILBOX}#first_contact#day#2026-11-24": 10})
    ),
    "first_contact_limit:account": on_world(
        lambda w: w.counters.update({f"account#{ACCOUNT_ID}#first_contact#day#2026-11-24": 10})
    ),
    "header_reserved": lambda w, r: replace(r, headers={"X-SES-CONFIGURATION-SET": "elsewhere"}),
    "bulk_content": lambda w, r: _campaign_seen(w, r),
}


CAMPAIGN = "We help companies like yours grow revenue with our outreach platform. Book a demo this week."


def _campaign_seen(world: World, request: SendRequest) -> SendRequest:
    """The body already went to the plan's number (Free: 10) of first contacts today."""
    for band in fingerprint(CAMPAIGN):
        world.counters[f"account#{ACCOUNT_ID}#fanout#{band}#day#2026-11-24"] = 10
    return replace(request, body=CAMPAIGN)


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_reason_code_is_returned_with_its_sentence(case: str) -> None:
    # Given a world that allows the send, changed in one way
    world, secret = standard_world()
    request = CASES[case](world, _request(secret))
    counters_before = dict(world.counters)

    # When the policy decides (with the provider in its sandbox for the sandbox case)
    provider = ProviderGate(sandboxed=True) if case.startswith("outbound_blocked") else OPEN_PROVIDER
    if case == "outbound_blocked.tenant_paused":
        provider = ProviderGate(tenant_paused=lambda account_id: account_id == ACCOUNT_ID)
    decision = decide(request, store=world, clock=FixedClock(T0), request_id="req-1", provider=provider)

    # Then it refuses with that reason, a sentence, an audit entry, and nothing consumed
    expected = Reason.from_code(case.split(":")[0])
    assert decision.reason is expected
    assert not decision.allowed
    assert decision.message.endswith(".")
    assert world.counters == counters_before
    assert [(a.outcome, a.reason_code) for a in world.audit] == [("deny", expected.code)]


def test_every_reason_has_a_case_and_a_documented_code() -> None:
    covered = {case.split(":")[0] for case in CASES}
    assert covered == {reason.code for reason in Reason}
    with open("docs/policy.md", encoding="utf-8") as doc:
        text = doc.read()
    for reason in Reason:
        assert f"`{reason.code}`" in text, f"{reason.code} is not documented in docs/policy.md"


def test_allowed_send_reserves_each_cap_once_per_distinct_recipient() -> None:
    # Given recipients repeated across to/cc/bcc in different cases
    world, secret = standard_world()
    request = _request(
        secret,
        to=("Alice@Outside.test", "bob@outside.test"),
        cc=("alice@outside.TEST",),
        bcc=("carol@outside.test",),
    )

    # When
    decision = decide(request, store=world, clock=FixedClock(T0), request_id="req-1")

    # Then three distinct recipients are counted on all three caps (and, all new, as first contacts)
    assert decision.allowed, decision.message
    assert decision.recipients == ("alice@outside.test", "bob@outside.test", "carol@outside.test")
    assert world.counters == {
        f"mailbox#{MAILBOX}#day#2026-11-24": 3,
        f"account#{ACCOUNT_ID}#month#2026-11|d24": 3,
        f"account#{ACCOUNT_ID}#month#2026-11": 3,
        f"mailbox#{MAILBOX}#first_contact#day#2026-11-24": 3,
        f"account#{ACCOUNT_ID}#first_contact#day#2026-11-24": 3,
    }
    assert {u.cap: (u.used, u.limit) for u in decision.usage} == {
        Cap.MAILBOX_DAY: (3, 100),
        Cap.ACCOUNT_DAY: (3, 100),
        Cap.ACCOUNT_MONTH: (3, 500),
        Cap.FIRST_CONTACT: (3, 10),
        Cap.ACCOUNT_FIRST_CONTACT: (3, 10),
    }
    assert [(a.outcome, a.recipients_count, a.actor) for a in world.audit] == [("allow", 3, TOKEN_ID)]


def test_a_contact_mark_is_relied_on_once_then_left_alone() -> None:
    # Given a first send makes Alice a contact of the mailbox
    world, secret = standard_world()
    for minute in range(3):
        # When the mailbox writes to her three times
        clock = FixedClock(T0 + timedelta(minutes=minute))
        assert decide(_request(secret), store=world, clock=clock, request_id=f"r{minute}").allowed
    # Then the second send relies on her mark (a refund of the first can no longer take it back), and the
    # third writes nothing to it: a mark already relied on needs no second write (2 units a send)
    assert world.relied_per_send == [(), ("alice@outside.test",), ()]


def test_idn_recipients_are_accepted() -> None:
    world, secret = standard_world()
    decision = decide(
        _request(secret, to=("jürgen@bücher.example", "用户@例子.广告")),
        store=world,
        clock=FixedClock(T0),
        request_id="r",
    )
    assert decision.allowed, decision.message
    assert "jürgen@xn--bcher-kva.example" in decision.recipients


def test_quota_refusal_names_cap_limit_used_and_reset() -> None:
    world, secret = standard_world()
    world.counters[f"mailbox#{MAILBOX}#day#2026-11-24"] = 98

    decision = decide(
        _request(secret, to=("a@x.test", "b@x.test", "c@x.test")),
        store=world,
        clock=FixedClock(T0),
        request_id="r",
    )

    assert decision.code == "quota_exceeded.mailbox_day"
    assert decision.exceeded is not None
    assert (decision.exceeded.limit, decision.exceeded.used, decision.exceeded.requested) == (100, 98, 3)
    assert decision.exceeded.resets_at.isoformat() == "2026-11-25T00:00:00+00:00"
    assert decision.retry_after_seconds == 14 * 3600 + 1
    assert "resets at 2026-11-25T00:00:00+00:00" in decision.message


def test_month_cap_wins_when_day_and_month_both_refuse() -> None:
    """Retrying after the day resets cannot help when the month is spent: report the month."""
    world, secret = standard_world()
    world.counters[f"account#{ACCOUNT_ID}#month#2026-11|d24"] = 100
    world.counters[f"account#{ACCOUNT_ID}#month#2026-11"] = 500
    decision = decide(_request(secret), store=world, clock=FixedClock(T0), request_id="r")
    assert decision.code == "quota_exceeded.account_month"
    assert decision.exceeded is not None
    assert decision.exceeded.resets_at.isoformat() == "2026-12-01T00:00:00+00:00"


def test_operator_overrides_replace_plan_limits() -> None:
    world, secret = standard_world()
    world.accounts[ACCOUNT_ID] = replace(
        world.accounts[ACCOUNT_ID], overrides=LimitOverrides(mailbox_day=2, recipients_per_message=3)
    )
    three = _request(secret, to=("a@x.test", "b@x.test", "c@x.test"))
    assert (
        decide(three, store=world, clock=FixedClock(T0), request_id="r").code == "quota_exceeded.mailbox_day"
    )
    four = _request(secret, to=("a@x.test", "b@x.test", "c@x.test", "d@x.test"))
    assert decide(four, store=world, clock=FixedClock(T0), request_id="r").code == "too_many_recipients"


def test_reply_token_may_write_to_correspondents() -> None:
    world, secret = standard_world(scopes=frozenset({Scope.SEND_REPLY}))
    world.correspondents.add((MAILBOX, "alice@outside.test"))
    decision = decide(
        _request(secret, to=("ALICE@outside.test",)), store=world, clock=FixedClock(T0), request_id="r"
    )
    assert decision.allowed, decision.message


def test_expired_suppression_no_longer_refuses() -> None:
    world, secret = standard_world()
    world.suppressions[(GLOBAL_SCOPE, "alice@outside.test")] = SuppressionEntry(
        GLOBAL_SCOPE, "alice@outside.test", "3 soft bounces", T0 - timedelta(days=8), expires_at=T0
    )
    assert decide(_request(secret), store=world, clock=FixedClock(T0), request_id="r").allowed


def test_checks_run_in_documented_order() -> None:
    """A request wrong in many ways is refused for the first: token before account before quota."""
    world, secret = standard_world()
    _token(world, status=TokenStatus.DISABLED)
    world.accounts[ACCOUNT_ID] = replace(world.accounts[ACCOUNT_ID], status=Status.DISABLED)
    bad = _request(secret, headers={"Precedence": "bulk"}, to=())
    assert decide(bad, store=world, clock=FixedClock(T0), request_id="r").code == "token_disabled"
    _token(world, status=TokenStatus.ACTIVE)
    assert decide(bad, store=world, clock=FixedClock(T0), request_id="r").code == "account_disabled"


def test_dry_run_reserves_nothing() -> None:
    world, secret = standard_world()
    decision = decide(_request(secret), store=world, clock=FixedClock(T0), request_id="r", mode=Mode.CHECK)
    assert decision.allowed
    assert world.counters == {}
    assert [a.event for a in world.audit] == ["policy.check"]


def test_unverified_token_refusals_are_audited_outside_the_claimed_account() -> None:
    world, secret = standard_world()
    forged = secret[:-4] + "AAAA"
    decide(_request(forged), store=world, clock=FixedClock(T0), request_id="r")
    assert world.audit[0].account_id == "unauthenticated"
    assert world.audit[0].details["claimed_account"] == ACCOUNT_ID


def test_plans_match_the_policy_table() -> None:
    from litemx.plans import PLAN_LIMITS

    table = {plan: tuple(vars(PLAN_LIMITS[plan]).values()) for plan in Plan}
    assert table == {
        Plan.FREE: (100, 100, 500, 10),
        Plan.STARTER: (300, 300, 3_000, 10),
        Plan.SCALE: (1_000, 1_000, 15_000, 10),
    }


def test_sandbox_lets_verified_recipients_through() -> None:
    world, secret = standard_world()
    gate = ProviderGate(sandboxed=True, verified_recipients=frozenset({"alice@outside.test"}))
    decision = decide(_request(secret), store=world, clock=FixedClock(T0), request_id="r", provider=gate)
    assert decision.allowed, decision.message
    gate = ProviderGate(sandboxed=True, verified_domains=frozenset({"outside.test"}))
    assert decide(_request(secret), store=world, clock=FixedClock(T0), request_id="r", provider=gate).allowed


def test_a_local_part_accepts_exactly_the_documented_characters() -> None:
    # Given the characters a dot-atom local part may hold: RFC 5322 atext, plus non-ASCII characters
    # (SMTPUTF8) other than C1 controls, line and paragraph separators and surrogates
    allowed = re.compile("[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-\u00a0-\u2027\u202a-\ud7ff\ue000-\U0010ffff]")
    # When code points are tried as one-character dot-atoms: the first 12,288, both sides of every edge
    # of either spelling of the set, and every 61st above
    edges = (0x2028, 0x202A, 0xD7FF, 0xD800, 0xDFFF, 0xE000, 0x10FFFF)
    points = {*range(0x3000), *range(0x3000, 0x110000, 61), *(e + d for e in edges for d in (-1, 0, 1))}
    differ = [
        hex(c)
        for c in sorted(points)
        if c < 0x110000 and bool(addresses._DOT_ATOM.fullmatch(chr(c))) != bool(allowed.fullmatch(chr(c)))
    ]
    # Then it matches exactly when the character is one of them (the pattern is written as its complement)
    assert differ == []
