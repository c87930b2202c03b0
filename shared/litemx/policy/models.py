"""Inputs and outputs of the policy decision, and the ports it reads and writes through."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from litemx.audit.models import AuditRecord
from litemx.directory.models import Account, Domain, Mailbox, Token
from litemx.errors import LiteMXError
from litemx.messages.models import OutboundMessage
from litemx.policy.reasons import Reason
from litemx.quotas.models import CapExceeded, CapUsage, CounterCheck, CounterReservation
from litemx.suppression.models import SuppressionEntry


class Mode(StrEnum):
    SEND = "send"  # reserve quota: the message will be queued
    CHECK = "check"  # dry run: the same checks, nothing reserved
    # The verdict a draft list shows: the same checks, and no write at all (no reservation, no audit
    # entry), so that listing drafts costs reads only, however often a reviewer looks.
    PREVIEW = "preview"


@dataclass(frozen=True)
class OperatorApproval:
    """A person (an operator, on the CLI) approved a draft written with `token_id`: the decision runs
    without the token's secret, on the draft token's identity (it must still be live and hold `draft`),
    with the rights of a `send` token; every other check, cap and count is the same as for any send.
    Only the operator's tools construct it; no API request can carry one."""

    account_id: str
    token_id: str
    actor: str  # `operator:<login>`, kept in the decision's audit entry
    draft_id: str


@dataclass(frozen=True)
class SendRequest:
    token_secret: str
    from_address: str
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    subject: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    body: str = ""  # the text (or the HTML's text) that is fingerprinted for fan-out detection
    approval: OperatorApproval | None = None  # instead of a secret: an operator approved a draft

    @property
    def all_recipients(self) -> tuple[str, ...]:
        return self.to + self.cc + self.bcc


@dataclass(frozen=True)
class ProviderGate:
    """What the outbound provider allows right now. In the SES sandbox only verified recipients can be
    reached; inbound is unaffected."""

    sandboxed: bool = False
    verified_recipients: frozenset[str] = frozenset()
    verified_domains: frozenset[str] = frozenset()
    # Issue 15 (docs/tenants.md): is this account's SES tenant paused? A cached read, no DynamoDB request.
    tenant_paused: Callable[[str], bool] | None = None

    def paused(self, account_id: str) -> bool:
        return self.tenant_paused is not None and self.tenant_paused(account_id)

    def reaches(self, address: str) -> bool:
        return (
            not self.sandboxed
            or address in self.verified_recipients
            or address.rpartition("@")[2] in self.verified_domains
        )


OPEN_PROVIDER = ProviderGate()


@dataclass(frozen=True)
class SnapshotKeys:
    """Everything a decision may need to read, so that the store can fetch it in one batch."""

    account_id: str
    token_id: str
    mailbox: str
    domain: str
    recipients: tuple[str, ...]
    counter_keys: tuple[str, ...]
    # Message-IDs the request answers (In-Reply-To and References, without angle brackets): did the
    # mailbox receive one of them with a reply right, and who took part in it?
    message_ids: tuple[str, ...] = ()
    # Suppression entries to read: the recipients' person keys, and their canonical forms where they
    # differ (entries written before person keys existed).
    suppression_keys: tuple[str, ...] = ()
    # False: only the kill switches (token, account, domain, mailbox, suppressions) are read, as the
    # sender's re-check needs; the account's policy overrides are not.
    policy_overrides: bool = True


@dataclass(frozen=True)
class ContactMark:
    """`address` (a person key) has now been written to by `mailbox`: later sends to it are not first
    contacts. `message_id` is the queued message that made the contact; a mark a later send relied on
    is touched with that send's time, so that a refund of the first message no longer removes it."""

    mailbox: str
    address: str
    at: datetime
    message_id: str | None = None


@dataclass(frozen=True)
class Snapshot:
    token: Token | None = None
    account: Account | None = None
    domain: Domain | None = None
    mailbox: Mailbox | None = None
    suppressions: tuple[SuppressionEntry, ...] = ()
    correspondents: frozenset[str] = frozenset()  # person keys of the recipients who wrote, authenticated
    counters: Mapping[str, int] = field(default_factory=dict)
    contacted: frozenset[str] = frozenset()  # person keys of recipients this mailbox has written to before
    # Of those, the ones whose mark a send already relied on: no refund can take it back any more.
    relied_upon: frozenset[str] = frozenset()
    known_message_ids: frozenset[str] = frozenset()  # of `message_ids`, those received with a reply right
    reply_participants: frozenset[str] = frozenset()  # person keys taking part in those messages
    first_contacts_override: int | None = None  # an operator's per-mailbox first-contact cap
    account_first_contacts_override: int | None = None  # an operator's account-wide first-contact cap
    warmup_waived: bool = False  # an operator lifted the warm-up schedule for this account


@dataclass(frozen=True)
class AccountPolicy:
    """An operator's overrides of the anti-cold-outbound rules for one account."""

    first_contacts: int | None = None  # per mailbox and UTC day
    account_first_contacts: int | None = None  # all mailboxes together
    warmup_waived: bool = False


class QuotaExceededError(Exception):
    """The quota transaction was cancelled by cap conditions; `failed` maps each refusing counter key
    to the value it held."""

    def __init__(self, failed: Mapping[str, int]) -> None:
        super().__init__(f"quota reservation refused by {sorted(failed)}")
        self.failed = dict(failed)


class MessageExistsError(LiteMXError):
    """The decision's transaction found its message already recorded (a message id chosen by the caller,
    e.g. a draft's, was already sent): nothing was reserved or recorded this time."""

    code = "message_exists"

    def __init__(self, message_id: str) -> None:
        super().__init__(f"message {message_id} is already recorded")
        self.message_id = message_id


class PolicyStore(Protocol):
    def load_snapshot(self, keys: SnapshotKeys, *, consistent: bool = True) -> Snapshot:
        """One batched read; `consistent` False reads eventually consistent (half the read units), which
        may not show a write of the last moment."""
        ...

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
        """All counters, the audit record, the contact marks (new ones, and those relied on), the queued
        message and the counter checks in one all-or-nothing write; QuotaExceededError if a cap
        condition or a check fails, MessageExistsError if the message is already recorded."""
        ...

    def load_snapshots(self, many: Sequence[SnapshotKeys], *, consistent: bool = True) -> list[Snapshot]:
        """Several snapshots in one batched read."""
        ...

    def record(self, audit: AuditRecord) -> None: ...


@dataclass(frozen=True)
class Decision:
    request_id: str
    mode: Mode
    decided_at: datetime
    reason: Reason | None = None
    message: str = "Allowed."
    account_id: str | None = None
    token_id: str | None = None
    mailbox: str | None = None
    recipients: tuple[str, ...] = ()
    usage: tuple[CapUsage, ...] = ()
    exceeded: CapExceeded | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    # On an allowed send: every counter reserved (incl. the first-contact cap), so that a cancellation
    # can give each back, and which recipients were first contacts.
    reservations: tuple[CounterReservation, ...] = ()
    first_contacts: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.reason is None

    @property
    def code(self) -> str:
        return "allowed" if self.reason is None else self.reason.code

    @property
    def retry_after_seconds(self) -> int | None:
        if self.exceeded is None:
            return None
        return max(int((self.exceeded.resets_at - self.decided_at).total_seconds()) + 1, 1)
