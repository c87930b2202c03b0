"""Operator suppression management against DynamoDB Local, seen by the very next policy decision."""

from __future__ import annotations

import pytest

from litemx.suppression.models import GLOBAL_SCOPE
from litemx.suppression.service import list_suppressions, suppress, unsuppress
from litemx_local.world import World

pytestmark = pytest.mark.integration


def test_add_list_and_remove_take_effect_on_the_next_decision(world: World) -> None:
    account = world.account.account_id
    # When an operator suppresses an address for the account
    suppress(
        world.suppression,
        world.audit,
        world.clock,
        scope=account,
        address="Carol@Outside.test",
        reason="asked not to be contacted",
        actor="ops",
    )
    # Then it is listed and the next send to it is refused
    assert [e.address for e in list_suppressions(world.suppression, scope=account)] == ["carol@outside.test"]
    assert world.send(["carol@outside.test"]).code == "recipient_suppressed"
    # When the operator removes it
    unsuppress(
        world.suppression,
        world.audit,
        world.clock,
        scope=account,
        address="carol@outside.test",
        reason="she wrote back",
        actor="ops",
    )
    # Then the next send is allowed, and both actions are in the account's audit trail
    assert world.send(["carol@outside.test"]).allowed
    # (both at the same instant of the test clock, so in no particular order)
    events = sorted(r.event for r in world.audit.list(account) if r.event.startswith("suppression."))
    assert events == ["suppression.add", "suppression.remove"]


def test_global_entries_are_audited_under_global(world: World) -> None:
    suppress(
        world.suppression,
        world.audit,
        world.clock,
        scope=GLOBAL_SCOPE,
        address="trap@outside.test",
        reason="spam trap",
        actor="ops",
    )
    assert world.send(["trap@outside.test"]).code == "recipient_suppressed"
    assert [r.event for r in world.audit.list("global")] == ["suppression.add"]
