"""In-memory fakes of the stores' ports; they record what happened so that asserts read naturally."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from litemx.audit.models import AuditRecord
from litemx.directory.models import Account, Domain, Mailbox, Scope, Status, Token, Verification
from litemx.directory.tokens import hash_secret, make_secret
from litemx.plans import Plan
from litemx.policy.models import QuotaExceededError, Snapshot, SnapshotKeys
from litemx.quotas.models import CounterReservation
from litemx.suppression.models import GLOBAL_SCOPE, SuppressionEntry

ACCOUNT_ID = "acc-000000000001"
TOKEN_ID = "tok-000000000001"
MAILBOX = "support@example.com"
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@dataclass
class FakePolicyStore:
    tokens: dict[str, Token] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    domains: dict[str, Domain] = field(default_factory=dict)
    mailboxes: dict[str, Mailbox] = field(default_factory=dict)
    suppressions: dict[tuple[str, str], SuppressionEntry] = field(default_factory=dict)
    correspondents: set[tuple[str, str]] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)
    audit: list[AuditRecord] = field(default_factory=list)
    reads: int = 0

    def load_snapshot(self, keys: SnapshotKeys) -> Snapshot:
        self.reads += 1
        return Snapshot(
            token=self.tokens.get(keys.token_id),
            account=self.accounts.get(keys.account_id),
            domain=self.domains.get(keys.domain),
            mailbox=self.mailboxes.get(keys.mailbox),
            suppressions=tuple(
                entry
                for r in keys.recipients
                for scope in (GLOBAL_SCOPE, keys.account_id)
                if (entry := self.suppressions.get((scope, r))) is not None
            ),
            correspondents=frozenset(r for r in keys.recipients if (keys.mailbox, r) in self.correspondents),
            counters={k: self.counters[k] for k in keys.counter_keys if k in self.counters},
        )

    def reserve(self, reservations: list[CounterReservation], audit: AuditRecord) -> None:
        failed = {
            r.key: self.counters.get(r.key, 0)
            for r in reservations
            if self.counters.get(r.key, 0) + r.amount > r.limit
        }
        if failed:
            raise QuotaExceededError(failed)
        for r in reservations:
            self.counters[r.key] = self.counters.get(r.key, 0) + r.amount
        self.audit.append(audit)

    def record(self, audit: AuditRecord) -> None:
        self.audit.append(audit)


def standard_world(
    plan: Plan = Plan.FREE, scopes: frozenset[Scope] = frozenset({Scope.SEND})
) -> tuple[FakePolicyStore, str]:
    """One active account with a verified domain, a mailbox and a token; returns the store and secret."""
    secret = make_secret(ACCOUNT_ID, TOKEN_ID)
    store = FakePolicyStore()
    store.accounts[ACCOUNT_ID] = Account(account_id=ACCOUNT_ID, name="Example", plan=plan)
    store.domains["example.com"] = Domain(
        name="example.com", account_id=ACCOUNT_ID, verification=Verification.VERIFIED, status=Status.ACTIVE
    )
    store.mailboxes[MAILBOX] = Mailbox(address=MAILBOX, account_id=ACCOUNT_ID, domain="example.com")
    store.tokens[TOKEN_ID] = Token(
        token_id=TOKEN_ID,
        account_id=ACCOUNT_ID,
        mailbox=MAILBOX,
        scopes=scopes,
        secret_hash=hash_secret(secret),
    )
    return store, secret
