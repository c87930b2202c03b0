"""In-memory fakes of the stores' ports; they record what happened so that asserts read naturally."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from litemx.audit.models import AuditRecord
from litemx.directory.models import Account, Domain, EntityKind, Mailbox, Scope, Status, Token, Verification
from litemx.directory.store import StatusChange
from litemx.directory.tokens import hash_secret, make_secret
from litemx.errors import NotFoundError
from litemx.messages.models import TRANSITIONS, MessageStatus, OutboundMessage
from litemx.plans import LimitOverrides, Plan
from litemx.policy.models import ContactMark, MessageExistsError, QuotaExceededError, Snapshot, SnapshotKeys
from litemx.quotas.models import CounterCheck, CounterReservation
from litemx.reputation.models import Increment, Tally
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
    contacts: set[tuple[str, str]] = field(default_factory=set)  # (mailbox, person) written to before
    # (mailbox, Message-ID) received with a reply right -> its participants (person keys)
    reply_rights: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    first_contact_overrides: dict[str, int] = field(default_factory=dict)
    account_first_contact_overrides: dict[str, int] = field(default_factory=dict)
    warmup_waived: set[str] = field(default_factory=set)
    marks: dict[tuple[str, str], str | None] = field(default_factory=dict)  # contact mark -> message id
    relied: set[tuple[str, str]] = field(default_factory=set)
    relied_per_send: list[tuple[str, ...]] = field(default_factory=list)  # marks each reserve touched
    reads: int = 0
    consistency: list[bool] = field(default_factory=list)  # each read: consistent or not
    queued: list[OutboundMessage] = field(default_factory=list)
    # What an eventually consistent read still sees (a copy of the store from before its last writes);
    # None: eventually consistent reads see every write, as DynamoDB Local's do.
    behind: FakePolicyStore | None = None

    def load_snapshot(self, keys: SnapshotKeys, *, consistent: bool = True) -> Snapshot:
        self.reads += 1
        self.consistency.append(consistent)
        if not consistent and self.behind is not None:
            return self.behind.load_snapshot(keys)
        threads = [
            (i, p) for i in keys.message_ids if (p := self.reply_rights.get((keys.mailbox, i))) is not None
        ]
        return Snapshot(
            token=self.tokens.get(keys.token_id),
            account=self.accounts.get(keys.account_id),
            domain=self.domains.get(keys.domain),
            mailbox=self.mailboxes.get(keys.mailbox),
            suppressions=tuple(
                entry
                for r in keys.suppression_keys or keys.recipients
                for scope in (GLOBAL_SCOPE, keys.account_id)
                if (entry := self.suppressions.get((scope, r))) is not None
            ),
            correspondents=frozenset(r for r in keys.recipients if (keys.mailbox, r) in self.correspondents),
            counters={k: self.counters[k] for k in keys.counter_keys if k in self.counters},
            contacted=frozenset(r for r in keys.recipients if (keys.mailbox, r) in self.contacts),
            relied_upon=frozenset(r for r in keys.recipients if (keys.mailbox, r) in self.relied),
            known_message_ids=frozenset(i for i, _ in threads),
            reply_participants=frozenset(p for _, people in threads for p in people),
            first_contacts_override=self.first_contact_overrides.get(keys.account_id),
            account_first_contacts_override=self.account_first_contact_overrides.get(keys.account_id),
            warmup_waived=keys.account_id in self.warmup_waived,
        )

    def reserve(
        self,
        reservations: list[CounterReservation],
        audit: AuditRecord,
        contacts: Sequence[ContactMark] = (),
        message: OutboundMessage | None = None,
        *,
        relied: Sequence[ContactMark] = (),
        checks: Sequence[CounterCheck] = (),
    ) -> None:
        failed = {
            r.key: self.counters.get(r.key, 0)
            for r in reservations
            if self.counters.get(r.key, 0) + r.amount > r.limit
        }
        if failed:
            raise QuotaExceededError(failed)
        if any(self.counters.get(c.key, 0) != c.expected for c in checks):
            raise QuotaExceededError({})
        if message is not None and any(m.message_id == message.message_id for m in self.queued):
            raise MessageExistsError(message.message_id)
        for r in reservations:
            self.counters[r.key] = self.counters.get(r.key, 0) + r.amount
        self.contacts |= {(c.mailbox, c.address) for c in contacts}
        self.marks.update({(c.mailbox, c.address): c.message_id for c in contacts})
        self.relied |= {(c.mailbox, c.address) for c in relied}
        self.relied_per_send.append(tuple(c.address for c in relied))
        self.audit.append(audit)
        if message is not None:
            self.queued.append(message)

    def load_snapshots(self, many: Sequence[SnapshotKeys], *, consistent: bool = True) -> list[Snapshot]:
        return [self.load_snapshot(keys, consistent=consistent) for keys in many]

    def record(self, audit: AuditRecord) -> None:
        self.audit.append(audit)


def standard_world(
    plan: Plan = Plan.FREE, scopes: frozenset[Scope] = frozenset({Scope.SEND})
) -> tuple[FakePolicyStore, str]:
    """One active account with a verified domain, a mailbox and a token; returns the store and secret."""
    secret = make_secret(ACCOUNT_ID, TOKEN_ID)
    store = FakePolicyStore()
    store.accounts[ACCOUNT_ID] = Account(account_id=ACCOUNT_ID, name="Example", plan=plan)
    store.warmup_waived.add(ACCOUNT_ID)  # warm-up has tests of its own
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


# ---- feedback, reputation and directory fakes (issue 5) ----


@dataclass
class FakeSuppression:
    entries: dict[tuple[str, str], SuppressionEntry] = field(default_factory=dict)

    def add(self, entry: SuppressionEntry) -> SuppressionEntry:
        self.entries[(entry.scope, entry.address)] = entry
        return entry

    def strengthen(self, entry: SuppressionEntry) -> bool:
        """Like the store's conditional write: only over nothing, or over a weaker entry."""
        current = self.entries.get((entry.scope, entry.address))
        if current is not None and (
            current.expires_at is None
            or (entry.expires_at is not None and current.expires_at >= entry.expires_at)
        ):
            return False
        self.entries[(entry.scope, entry.address)] = entry
        return True

    def remove(self, scope: str, address: str) -> SuppressionEntry:
        try:
            return self.entries.pop((scope, address))
        except KeyError:
            raise NotFoundError(f"{address} is not suppressed in scope {scope}") from None

    def get(self, scope: str, address: str) -> SuppressionEntry | None:
        return self.entries.get((scope, address))

    def list(self, scope: str, limit: int = 100) -> list[SuppressionEntry]:
        return sorted((e for (s, _), e in self.entries.items() if s == scope), key=lambda e: e.address)[
            :limit
        ]


@dataclass
class FakeMessages:
    """Sent messages by id; applies feedback like the real store (transitions, once per event)."""

    messages: dict[str, OutboundMessage] = field(default_factory=dict)
    applied: list[tuple[str, MessageStatus, str]] = field(default_factory=list)

    @property
    def statuses(self) -> dict[str, MessageStatus]:
        return {m: message.status for m, message in self.messages.items()}

    def get(self, message_id: str) -> OutboundMessage:
        try:
            return self.messages[message_id]
        except KeyError:
            raise NotFoundError(f"message {message_id} does not exist") from None

    def find_by_provider_id(self, provider_message_id: str) -> OutboundMessage | None:
        found = [m for m in self.messages.values() if m.provider_message_id == provider_message_id]
        return found[0] if found else None

    def apply_feedback(
        self,
        message_id: str,
        status: MessageStatus,
        event_id: str,
        *,
        at: datetime,
        detail: str,
        reason_code: str | None = None,
    ) -> bool:
        current = self.messages.get(message_id)
        if current is None or status not in TRANSITIONS[current.status] or event_id in current.events:
            return False
        self.messages[message_id] = replace(
            current,
            status=status,
            events=(*current.events, event_id),
            reason=detail,
            reason_code=reason_code or current.reason_code,
        )
        self.applied.append((message_id, status, event_id))
        return True


def sent_message(
    message_id: str,
    *,
    provider_message_id: str | None,
    recipients: tuple[str, ...] = ("recipient@outside.test",),
    mailbox: str = MAILBOX,
    account_id: str = ACCOUNT_ID,
    status: MessageStatus = MessageStatus.SENT,
) -> OutboundMessage:
    return OutboundMessage(
        message_id=message_id,
        account_id=account_id,
        mailbox=mailbox,
        token_id=TOKEN_ID,
        recipients=recipients,
        status=status,
        created_at=T0,
        updated_at=T0,
        raw_key=f"outbound/{message_id}",
        provider="ses",
        provider_message_id=provider_message_id,
    )


@dataclass
class FakeLedger:
    events: set[str] = field(default_factory=set)
    soft: dict[str, set[str]] = field(default_factory=dict)
    buckets: dict[str, Tally] = field(default_factory=dict)
    ttls: list[tuple[str, datetime]] = field(default_factory=list)  # (item key, TTL) of every write
    reads: int = 0  # reputation window reads

    def add_soft_bounce(self, address: str, marker: str, *, expires_at: datetime) -> tuple[str, ...]:
        self.ttls.append((f"soft#{address}", expires_at))
        self.soft.setdefault(address, set()).add(marker)
        return tuple(sorted(self.soft[address]))

    def drop_soft_bounces(self, address: str, markers: Sequence[str]) -> None:
        self.soft.get(address, set()).difference_update(markers)

    def record_once(
        self, event_id: str, kind: str, *, at: datetime, expires_at: datetime, counts: Sequence[Increment]
    ) -> bool:
        if event_id in self.events:
            return False
        self.events.add(event_id)
        self.ttls.append((f"event#{event_id}", expires_at))
        for increment in counts:
            self.ttls.append((increment.key, increment.expires_at))
            self.buckets[increment.key] = self.buckets.get(increment.key, Tally()) + increment.tally
        return True

    def tallies(self, keys: Sequence[str]) -> dict[str, Tally]:
        self.reads += 1
        return {key: self.buckets[key] for key in keys if key in self.buckets}


@dataclass
class FakeDirectory:
    """Accounts and mailboxes with status changes, enough for the reputation and inbound paths."""

    accounts: dict[str, Account] = field(default_factory=dict)
    mailboxes: dict[str, Mailbox] = field(default_factory=dict)
    correspondents: dict[tuple[str, str], int] = field(default_factory=dict)
    reply_rights: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    changes: list[tuple[str, str, str, str]] = field(default_factory=list)

    def get_mailbox(self, address: str) -> Mailbox:
        try:
            return self.mailboxes[address]
        except KeyError:
            raise NotFoundError(f"mailbox {address} does not exist") from None

    def get_account(self, account_id: str) -> Account:
        try:
            return self.accounts[account_id]
        except KeyError:
            raise NotFoundError(f"account {account_id} does not exist") from None

    def create_account(self, account: Account, *, now: datetime) -> Account:
        self.accounts[account.account_id] = account
        return account

    def create_token(self, token: Token, *, now: datetime) -> Token:
        return token

    def set_plan(self, account_id: str, plan: Plan, overrides: LimitOverrides | None = None) -> Account:
        raise NotImplementedError("not used by the paths these fakes serve")

    def add_domain(self, name: str, account_id: str, *, now: datetime) -> Domain:
        raise NotImplementedError("not used by the paths these fakes serve")

    def create_mailbox(self, address: str, account_id: str, *, now: datetime) -> Mailbox:
        raise NotImplementedError("not used by the paths these fakes serve")

    def set_status(self, kind: EntityKind, entity_id: str, status: str, reason: str) -> StatusChange:
        if kind is EntityKind.MAILBOX:
            box = self.get_mailbox(entity_id)
            self.mailboxes[entity_id] = replace(box, status=Status(status), status_reason=reason)
            account_id = box.account_id
        elif kind is EntityKind.ACCOUNT:
            account = self.get_account(entity_id)
            self.accounts[entity_id] = replace(account, status=Status(status), status_reason=reason)
            account_id = entity_id
        else:
            raise NotImplementedError(kind)
        self.changes.append((kind.value, entity_id, status, reason))
        return StatusChange(kind, entity_id, account_id, status, reason)

    def record_correspondent(self, mailbox: str, address: str, *, now: datetime) -> None:
        key = (mailbox, address)
        self.correspondents[key] = self.correspondents.get(key, 0) + 1

    def record_reply_right(
        self, mailbox: str, rfc_message_id: str, participants: Sequence[str], *, now: datetime
    ) -> None:
        self.reply_rights[(mailbox, rfc_message_id)] = frozenset(participants)


@dataclass
class FakeAudit:
    records: list[AuditRecord] = field(default_factory=list)

    def record(self, record: AuditRecord) -> None:
        self.records.append(record)

    def events(self) -> list[str]:
        return [r.event for r in self.records]


def directory_world() -> FakeDirectory:
    """The account and mailbox of `standard_world`, as a directory."""
    directory = FakeDirectory()
    directory.accounts[ACCOUNT_ID] = Account(account_id=ACCOUNT_ID, name="Example", plan=Plan.FREE)
    directory.mailboxes[MAILBOX] = Mailbox(address=MAILBOX, account_id=ACCOUNT_ID, domain="example.com")
    return directory
