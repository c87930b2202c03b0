"""Operators list, add and remove suppression entries, with a reason, every change audited."""

from __future__ import annotations

from datetime import timedelta

import pytest

from litemx.clock import FixedClock
from litemx.errors import InvalidInputError, NotFoundError
from litemx.suppression.models import GLOBAL_SCOPE, SuppressionEntry
from litemx.suppression.service import list_suppressions, suppress, unsuppress
from tests.fakes import ACCOUNT_ID, T0, FakeAudit, FakeSuppression


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


def test_an_operator_adds_an_entry_with_a_reason_and_it_is_audited(clock):
    store, audit = FakeSuppression(), FakeAudit()
    entry = suppress(
        store,
        audit,
        clock,
        scope=ACCOUNT_ID,
        address="Spam.Trap@Outside.test",
        reason="abuse report",
        actor="ops",
    )
    assert store.get(ACCOUNT_ID, "spam.trap@outside.test") == entry
    assert entry.source == "operator:ops"
    (record,) = audit.records
    assert (record.account_id, record.event, record.actor) == (ACCOUNT_ID, "suppression.add", "ops")
    assert record.details["reason"] == "abuse report"


def test_removing_an_entry_audits_its_former_cause(clock):
    # Given an address suppressed globally by a hard bounce
    store, audit = FakeSuppression(), FakeAudit()
    store.add(
        SuppressionEntry(
            GLOBAL_SCOPE, "bob@outside.test", "permanent bounce (General)", T0, "ses-feedback:f1"
        )
    )
    # When an operator removes it, saying why
    removed = unsuppress(
        store, audit, clock, scope="global", address="BOB@outside.test", reason="mailbox fixed", actor="ops"
    )
    # Then it is gone, and the audit (under `global`) keeps what it was and why it went
    assert store.get(GLOBAL_SCOPE, "bob@outside.test") is None
    assert removed.reason == "permanent bounce (General)"
    (record,) = audit.records
    assert (record.account_id, record.event) == ("global", "suppression.remove")
    assert record.details["was"] == "permanent bounce (General) (ses-feedback:f1)"
    assert record.details["reason"] == "mailbox fixed"


def test_removing_what_is_not_suppressed_is_not_found_and_not_audited(clock):
    audit = FakeAudit()
    with pytest.raises(NotFoundError):
        unsuppress(FakeSuppression(), audit, clock, scope="global", address="x@y.test", reason="r", actor="o")
    assert audit.records == []


@pytest.mark.parametrize(
    "change",
    [
        {"scope": "everyone"},
        {"address": "not an address"},
        {"reason": "  "},
        {"expires_at": T0 - timedelta(seconds=1)},
    ],
    ids=["bad-scope", "bad-address", "no-reason", "expired"],
)
def test_invalid_requests_change_nothing(clock, change):
    store, audit = FakeSuppression(), FakeAudit()
    arguments = {"scope": GLOBAL_SCOPE, "address": "a@b.test", "reason": "why", "actor": "ops"} | change
    with pytest.raises(InvalidInputError):
        suppress(store, audit, clock, **arguments)
    assert store.entries == {}
    assert audit.records == []


def test_listing_can_hide_expired_soft_bounce_entries(clock):
    store = FakeSuppression()
    store.add(SuppressionEntry(GLOBAL_SCOPE, "a@x.test", "hard", T0))
    store.add(SuppressionEntry(GLOBAL_SCOPE, "b@x.test", "soft", T0 - timedelta(days=8), expires_at=T0))
    assert [e.address for e in list_suppressions(store, scope=GLOBAL_SCOPE)] == ["a@x.test", "b@x.test"]
    assert [e.address for e in list_suppressions(store, scope=GLOBAL_SCOPE, now=T0)] == ["a@x.test"]


def test_only_an_operator_weakens_an_entry_and_the_audit_keeps_what_it_replaced(clock):
    # Given an address suppressed for good by a hard bounce
    store, audit = FakeSuppression(), FakeAudit()
    store.add(
        SuppressionEntry(
            GLOBAL_SCOPE, "bob@outside.test", "permanent bounce (General)", T0, "ses-feedback:f1"
        )
    )
    # When an operator shortens it to a day
    until = T0 + timedelta(days=1)
    suppress(
        store,
        audit,
        clock,
        scope="global",
        address="bob@outside.test",
        reason="retry",
        actor="ops",
        expires_at=until,
    )
    # Then the entry expires, and the audit says what it was
    entry = store.get(GLOBAL_SCOPE, "bob@outside.test")
    assert entry is not None
    assert entry.expires_at == until
    (record,) = audit.records
    assert record.details["was"] == "permanent bounce (General) (ses-feedback:f1, permanent)"
