"""Operator actions on the directory; each one is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from litemx.audit.models import AuditRecord
from litemx.clock import Clock
from litemx.directory.models import Account, Domain, EntityKind, Mailbox, Scope, Status, Token, TokenStatus
from litemx.directory.store import StatusChange
from litemx.directory.tokens import hash_secret, make_secret
from litemx.errors import InvalidInputError
from litemx.ids import new_account_id, new_request_id, new_token_id
from litemx.plans import LimitOverrides, Plan


class DirectoryWriter(Protocol):
    def create_account(self, account: Account, *, now: datetime) -> Account: ...
    def set_plan(self, account_id: str, plan: Plan, overrides: LimitOverrides | None = None) -> Account: ...
    def add_domain(self, name: str, account_id: str, *, now: datetime) -> Domain: ...
    def create_mailbox(self, address: str, account_id: str, *, now: datetime) -> Mailbox: ...
    def create_token(self, token: Token, *, now: datetime) -> Token: ...
    def set_status(self, kind: EntityKind, entity_id: str, status: str, reason: str) -> StatusChange: ...


class AuditWriter(Protocol):
    def record(self, record: AuditRecord) -> None: ...


@dataclass(frozen=True)
class IssuedToken:
    token: Token
    secret: str  # shown once; only its hash is stored


def create_account(
    directory: DirectoryWriter,
    audit: AuditWriter,
    clock: Clock,
    *,
    name: str,
    plan: Plan,
    actor: str,
    overrides: LimitOverrides | None = None,
) -> Account:
    account = Account(
        account_id=new_account_id(), name=name, plan=plan, overrides=overrides or LimitOverrides()
    )
    now = clock.now()
    directory.create_account(account, now=now)
    record_action(audit, account.account_id, now, "account.create", actor, {"plan": plan.value, "name": name})
    return account


def set_plan(
    directory: DirectoryWriter,
    audit: AuditWriter,
    clock: Clock,
    *,
    account_id: str,
    plan: Plan,
    overrides: LimitOverrides,
    actor: str,
) -> Account:
    account = directory.set_plan(account_id, plan, overrides)
    details = {"plan": plan.value} | {k: str(v) for k, v in vars(overrides).items() if v is not None}
    record_action(audit, account_id, clock.now(), "account.set_plan", actor, details)
    return account


def add_domain(
    directory: DirectoryWriter, audit: AuditWriter, clock: Clock, *, name: str, account_id: str, actor: str
) -> Domain:
    now = clock.now()
    domain = directory.add_domain(name, account_id, now=now)
    record_action(audit, account_id, now, "domain.add", actor, {"domain": domain.name})
    return domain


def create_mailbox(
    directory: DirectoryWriter, audit: AuditWriter, clock: Clock, *, address: str, account_id: str, actor: str
) -> Mailbox:
    now = clock.now()
    mailbox = directory.create_mailbox(address, account_id, now=now)
    record_action(audit, account_id, now, "mailbox.create", actor, {"mailbox": mailbox.address})
    return mailbox


def issue_token(
    directory: DirectoryWriter,
    audit: AuditWriter,
    clock: Clock,
    *,
    mailbox: Mailbox,
    scopes: frozenset[Scope],
    actor: str,
    expires_at: datetime | None = None,
    description: str = "",
) -> IssuedToken:
    if Scope.DRAFT in scopes and scopes & {Scope.SEND, Scope.SEND_REPLY}:
        raise InvalidInputError(
            "The draft scope stands alone: a draft token never sends, so it cannot also hold send or "
            "send:reply (issue a second token for the person who approves)."
        )
    token_id = new_token_id()
    secret = make_secret(mailbox.account_id, token_id)
    token = Token(
        token_id=token_id,
        account_id=mailbox.account_id,
        mailbox=mailbox.address,
        scopes=scopes,
        secret_hash=hash_secret(secret),
        expires_at=expires_at,
        description=description,
    )
    now = clock.now()
    stored = directory.create_token(token, now=now)
    record_action(
        audit,
        mailbox.account_id,
        now,
        "token.create",
        actor,
        {"token": token_id, "mailbox": mailbox.address, "scopes": ",".join(sorted(s.value for s in scopes))},
    )
    return IssuedToken(token=stored, secret=secret)


def set_enabled(
    directory: DirectoryWriter,
    audit: AuditWriter,
    clock: Clock,
    *,
    kind: EntityKind,
    entity_id: str,
    enabled: bool,
    reason: str,
    actor: str,
) -> StatusChange:
    """Disable or enable an account, domain, mailbox or token; the next decision sees it."""
    status = (Status.ACTIVE if enabled else Status.DISABLED).value
    change = directory.set_status(kind, entity_id, status, reason)
    verb = "enable" if enabled else "disable"
    record_action(
        audit,
        change.account_id,
        clock.now(),
        f"{kind.value}.{verb}",
        actor,
        {"id": entity_id, "reason": reason},
    )
    return change


def revoke_token(
    directory: DirectoryWriter, audit: AuditWriter, clock: Clock, *, token_id: str, reason: str, actor: str
) -> StatusChange:
    change = directory.set_status(EntityKind.TOKEN, token_id, TokenStatus.REVOKED.value, reason)
    record_action(
        audit, change.account_id, clock.now(), "token.revoke", actor, {"id": token_id, "reason": reason}
    )
    return change


def record_action(
    audit: AuditWriter, account_id: str, now: datetime, event: str, actor: str, details: dict[str, str]
) -> None:
    audit.record(
        AuditRecord(
            account_id=account_id,
            at=now,
            request_id=new_request_id(),
            event=event,
            actor=actor,
            outcome="done",
            details=details,
        )
    )
