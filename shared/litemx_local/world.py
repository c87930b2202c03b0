"""A small directory built through the operator functions: used by the integration tests, the demo and
the benchmark, so all three exercise the same path an operator takes."""

from __future__ import annotations

from dataclasses import dataclass

from litemx.audit.store import AuditStore
from litemx.clock import FixedClock
from litemx.directory import admin
from litemx.directory.models import Account, Mailbox, Scope, Verification
from litemx.directory.store import DirectoryStore
from litemx.ids import new_request_id
from litemx.plans import LimitOverrides, Plan
from litemx.policy.logic import decide
from litemx.policy.models import Decision, Mode, SendRequest
from litemx.policy.overrides import set_first_contact_limit, set_warmup_waived
from litemx.policy.store import AccountPolicyStore, DynamoPolicyStore
from litemx.storage.tables import TableNames
from litemx.suppression.store import SuppressionStore
from litemx_local.testclock import anchored_now

# The cap and concurrency tests, the demo and the benchmark write to hundreds of new addresses a day; they
# lift the first-contact cap (through the audited operator override) unless a test asks for the plan's.
LIFTED_FIRST_CONTACTS = 1_000_000
PLAN_FIRST_CONTACTS = None


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

    def send(
        self, recipients: list[str], *, mailbox: str | None = None, mode: Mode = Mode.SEND, **fields: object
    ) -> Decision:
        sender = mailbox or self.mailboxes[0].address
        request = SendRequest(
            token_secret=self.secrets[sender],
            from_address=sender,
            to=tuple(recipients),
            **fields,  # type: ignore[arg-type]
        )
        return decide(request, store=self.policy, clock=self.clock, request_id=new_request_id(), mode=mode)


def build_world(
    tables: TableNames,
    *,
    name: str = "Example Ltd",
    plan: Plan = Plan.FREE,
    mailboxes: int = 1,
    overrides: LimitOverrides | None = None,
    scopes: frozenset[Scope] = frozenset({Scope.SEND}),
    clock: FixedClock | None = None,
    first_contacts_day: int | None = LIFTED_FIRST_CONTACTS,
    warmup_waived: bool = True,
) -> World:
    clock = clock or FixedClock(anchored_now())
    directory, audit = DirectoryStore(), AuditStore()
    account = admin.create_account(
        directory, audit, clock, name=name, plan=plan, actor="operator", overrides=overrides
    )
    if first_contacts_day is not None:
        set_first_contact_limit(
            AccountPolicyStore(),
            audit,
            clock,
            account_id=account.account_id,
            limit=first_contacts_day,
            actor="operator",
            reason="test world: caps are exercised with many new recipients",
        )
    if warmup_waived:  # a fresh account warms up for 14 days; the caps are tested at their plan values
        set_warmup_waived(
            AccountPolicyStore(),
            audit,
            clock,
            account_id=account.account_id,
            waived=True,
            actor="operator",
            reason="test world: caps are exercised at the plan's values",
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
