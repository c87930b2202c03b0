"""Operator actions that litemx.directory.admin does not cover yet, audited the same way.

Each writes through the store, then records `operator:<login>` did it, for which account and why.
"""

from __future__ import annotations

from datetime import datetime

from litemx.addresses import normalize_address
from litemx.audit.models import AuditRecord
from litemx.audit.store import AuditStore
from litemx.clock import Clock
from litemx.directory.models import Account, Domain, Mailbox
from litemx.directory.store import DirectoryStore
from litemx.errors import InvalidInputError
from litemx.ids import new_request_id
from litemx.plans import LimitOverrides, Plan
from litemx.suppression.models import GLOBAL_SCOPE, SuppressionEntry
from litemx.suppression.store import SuppressionStore

# Global suppression entries concern no single account; their audit entries are kept under this key.
GLOBAL_AUDIT_ACCOUNT = "global"


def record(
    audit: AuditStore, account_id: str, now: datetime, event: str, actor: str, details: dict[str, str]
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


def set_plan(
    directory: DirectoryStore,
    audit: AuditStore,
    clock: Clock,
    *,
    account_id: str,
    plan: Plan,
    overrides: LimitOverrides,
    actor: str,
) -> Account:
    account = directory.set_plan(account_id, plan, overrides)
    details = {"plan": plan.value} | {k: str(v) for k, v in vars(overrides).items() if v is not None}
    record(audit, account_id, clock.now(), "account.set_plan", actor, details)
    return account


def add_domain(
    directory: DirectoryStore, audit: AuditStore, clock: Clock, *, name: str, account_id: str, actor: str
) -> Domain:
    now = clock.now()
    domain = directory.add_domain(name, account_id, now=now)
    record(audit, account_id, now, "domain.add", actor, {"domain": domain.name})
    return domain


def create_mailbox(
    directory: DirectoryStore, audit: AuditStore, clock: Clock, *, address: str, account_id: str, actor: str
) -> Mailbox:
    now = clock.now()
    mailbox = directory.create_mailbox(address, account_id, now=now)
    record(audit, account_id, now, "mailbox.create", actor, {"mailbox": mailbox.address})
    return mailbox


def add_suppression(
    store: SuppressionStore,
    audit: AuditStore,
    clock: Clock,
    *,
    address: str,
    account_id: str | None,
    reason: str,
    actor: str,
) -> SuppressionEntry:
    canonical = _address(address)
    now = clock.now()
    scope = account_id or GLOBAL_SCOPE
    entry = store.add(SuppressionEntry(scope=scope, address=canonical, reason=reason, created_at=now))
    details = {"address": canonical, "scope": scope, "reason": reason}
    record(audit, account_id or GLOBAL_AUDIT_ACCOUNT, now, "suppression.add", actor, details)
    return entry


def remove_suppression(
    store: SuppressionStore,
    audit: AuditStore,
    clock: Clock,
    *,
    address: str,
    account_id: str | None,
    reason: str,
    actor: str,
) -> SuppressionEntry:
    canonical = _address(address)
    scope = account_id or GLOBAL_SCOPE
    entry = store.remove(scope, canonical)
    details = {"address": canonical, "scope": scope, "reason": reason}
    record(audit, account_id or GLOBAL_AUDIT_ACCOUNT, clock.now(), "suppression.remove", actor, details)
    return entry


def _address(address: str) -> str:
    canonical = normalize_address(address)
    if canonical is None:
        raise InvalidInputError(f"{address!r} is not a valid mail address")
    return canonical
