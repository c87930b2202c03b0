"""Kill switches take effect on the very next decision; every decision lands in the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest

from litemx.audit.store import DEFAULT_AUDIT_RETENTION
from litemx.directory import admin
from litemx.directory.models import EntityKind
from litemx.storage.tables import AuditEntry
from litemx.suppression.models import GLOBAL_SCOPE, SuppressionEntry
from tests.integration.conftest import World, recipients


def _entity_id(world: World, kind: EntityKind) -> str:
    return {
        EntityKind.ACCOUNT: world.account.account_id,
        EntityKind.DOMAIN: "example.com",
        EntityKind.MAILBOX: world.mailboxes[0].address,
        EntityKind.TOKEN: world.directory.list_tokens(world.account.account_id)[0].token_id,
    }[kind]


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (EntityKind.ACCOUNT, "account_disabled"),
        (EntityKind.DOMAIN, "domain_disabled"),
        (EntityKind.MAILBOX, "mailbox_disabled"),
        (EntityKind.TOKEN, "token_disabled"),
    ],
)
def test_disable_and_enable_take_effect_on_the_next_decision(
    world: World, kind: EntityKind, code: str
) -> None:
    # Given a sender that is allowed
    assert world.send(recipients(1)).allowed
    entity = _entity_id(world, kind)

    # When an operator disables it, the very next decision refuses
    admin.set_enabled(
        world.directory,
        world.audit,
        world.clock,
        kind=kind,
        entity_id=entity,
        enabled=False,
        reason="abuse report #42",
        actor="operator",
    )
    refused = world.send(recipients(1, start=1))
    assert refused.code == code
    assert "abuse report #42" in refused.message

    # And when it is enabled again, the next decision allows
    admin.set_enabled(
        world.directory,
        world.audit,
        world.clock,
        kind=kind,
        entity_id=entity,
        enabled=True,
        reason="resolved",
        actor="operator",
    )
    assert world.send(recipients(1, start=2)).allowed

    # And both operator actions are audited under the account
    events = [r.event for r in world.audit.list(world.account.account_id)]
    assert f"{kind.value}.disable" in events
    assert f"{kind.value}.enable" in events


def test_revoked_token_stays_revoked(world: World) -> None:
    token_id = _entity_id(world, EntityKind.TOKEN)
    admin.revoke_token(
        world.directory, world.audit, world.clock, token_id=token_id, reason="leaked", actor="op"
    )
    assert world.send(recipients(1)).code == "token_revoked"
    with pytest.raises(Exception, match="revoked for good"):
        admin.set_enabled(
            world.directory,
            world.audit,
            world.clock,
            kind=EntityKind.TOKEN,
            entity_id=token_id,
            enabled=True,
            reason="oops",
            actor="op",
        )


def test_suppression_global_and_account_scoped(world: World) -> None:
    target = "bounced@outside.test"
    world.suppression.add(
        SuppressionEntry(GLOBAL_SCOPE, target, "hard bounce", world.clock.now(), "feedback")
    )
    assert world.send([target]).code == "recipient_suppressed"
    world.suppression.remove(GLOBAL_SCOPE, target)
    assert world.send([target]).allowed

    world.suppression.add(SuppressionEntry(world.account.account_id, target, "complaint", world.clock.now()))
    assert world.send(["Bounced@Outside.test"]).code == "recipient_suppressed"


def test_audit_lists_every_decision_per_account_newest_first(world: World) -> None:
    # Given an allowed send and a refused one, a second apart
    allowed = world.send(recipients(3))
    world.clock.set(world.clock.now() + timedelta(seconds=1))
    refused = world.send(recipients(1), headers={"Precedence": "bulk"})

    # When the account's trail is listed
    trail = [r for r in world.audit.list(world.account.account_id) if r.event == "policy.send"]

    # Then both decisions are there, newest first, with who, what and why
    assert [(r.request_id, r.outcome, r.reason_code, r.recipients_count) for r in trail] == [
        (refused.request_id, "deny", "bulk_headers", 1),
        (allowed.request_id, "allow", None, 3),
    ]
    token_id = _entity_id(world, EntityKind.TOKEN)
    assert {r.actor for r in trail} == {token_id}
    assert {r.mailbox for r in trail} == {"box0@example.com"}
    since = world.audit.list(world.account.account_id, since=world.clock.now())
    assert [r.request_id for r in since if r.event == "policy.send"] == [refused.request_id]


def test_every_audit_entry_expires_after_the_retention_counted_from_its_own_time(world: World) -> None:
    # Given an allowed send (written in the decision's transaction) and a refused one (a single put)
    world.send(recipients(2))
    world.send(recipients(1), headers={"Precedence": "bulk"})
    # When the account's stored entries are read
    entries = [e for e in AuditEntry.query(world.account.account_id) if e.event == "policy.send"]
    # Then each expires the default retention (400 days) after its own time, which is the writer's clock:
    # never written already expired
    assert len(entries) == 2
    for entry in entries:
        assert entry.expires_at == int((entry.at + DEFAULT_AUDIT_RETENTION).timestamp())
        assert entry.expires_at > world.clock.now().timestamp() + 399 * 86_400


def test_reply_only_token_reads_correspondents_from_the_directory(tables) -> None:
    from litemx.directory.models import Scope
    from tests.integration.conftest import build_world

    world = build_world(tables, scopes=frozenset({Scope.SEND_REPLY}))
    mailbox = world.mailboxes[0].address
    assert world.send(["alice@outside.test"]).code == "not_a_reply"
    world.directory.record_correspondent(mailbox, "alice@outside.test", now=world.clock.now())
    assert world.send(["Alice@outside.test"]).allowed
    assert world.send(["alice@outside.test", "stranger@outside.test"]).code == "not_a_reply"
