"""Integration fixtures: a real directory in DynamoDB Local, built through the operator functions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from litemx.audit.store import AuditStore
from litemx.clock import FixedClock
from litemx.directory import admin
from litemx.directory.models import Account, Mailbox, Scope, Verification
from litemx.directory.store import DirectoryStore
from litemx.plans import LimitOverrides, Plan
from litemx.policy.logic import decide
from litemx.policy.models import Decision, Mode, SendRequest
from litemx.policy.store import DynamoPolicyStore
from litemx.storage.tables import TableNames
from litemx.suppression.store import SuppressionStore
from tests.fakes import T0

pytestmark = pytest.mark.integration


@dataclass
class World:
    tables: TableNames
    clock: FixedClock
    directory: DirectoryStore
    audit: AuditStore
    suppression: SuppressionStore
    policy: DynamoPolicyStore
    account: Account
    mailboxes: list[Mailbox]
    secrets: dict[str, str]  # mailbox address -> send token secret
    sequence: int = 0

    def send(
        self, recipients: list[str], *, mailbox: str | None = None, mode: Mode = Mode.SEND, **fields: object
    ) -> Decision:
        sender = mailbox or self.mailboxes[0].address
        self.sequence += 1
        request = SendRequest(
            token_secret=self.secrets[sender], from_address=sender, to=tuple(recipients), **fields  # type: ignore[arg-type]
        )
        return decide(request, store=self.policy, clock=self.clock, request_id=f"req-{self.sequence}", mode=mode)


def build_world(
    tables: TableNames,
    *,
    plan: Plan = Plan.FREE,
    mailboxes: int = 1,
    overrides: LimitOverrides | None = None,
    scopes: frozenset[Scope] = frozenset({Scope.SEND}),
) -> World:
    clock = FixedClock(T0)
    directory, audit = DirectoryStore(), AuditStore()
    account = admin.create_account(
        directory, audit, clock, name="Example Ltd", plan=plan, actor="operator", overrides=overrides
    )
    directory.add_domain("example.com", account.account_id, now=clock.now())
    directory.set_verification("example.com", Verification.VERIFIED)
    boxes, secrets = [], {}
    for index in range(mailboxes):
        box = directory.create_mailbox(f"box{index}@example.com", account.account_id, now=clock.now())
        issued = admin.issue_token(directory, audit, clock, mailbox=box, scopes=scopes, actor="operator")
        boxes.append(box)
        secrets[box.address] = issued.secret
    return World(
        tables=tables,
        clock=clock,
        directory=directory,
        audit=audit,
        suppression=SuppressionStore(),
        policy=DynamoPolicyStore(),
        account=account,
        mailboxes=boxes,
        secrets=secrets,
    )


@pytest.fixture
def world(tables: TableNames) -> World:
    return build_world(tables)


def recipients(count: int, start: int = 0, domain: str = "outside.test") -> list[str]:
    return [f"person{start + i}@{domain}" for i in range(count)]
