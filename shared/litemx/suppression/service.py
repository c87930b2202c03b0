"""Operators inspect and manage suppression: list, add and remove with a reason, every change audited.

Scopes: `global` (the address is bad for every sender: hard bounces, repeated soft bounces) or an account
id (that account may not write to the address: complaints, unsubscribes, an operator's decision).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from litemx.addresses import normalize_address
from litemx.clock import Clock
from litemx.directory.admin import AuditWriter, record_action
from litemx.errors import InvalidInputError
from litemx.ids import ACCOUNT_ID
from litemx.suppression.models import GLOBAL_SCOPE, SuppressionEntry

# Operator actions on the global list are audited under this key (they belong to no account).
GLOBAL_AUDIT_KEY = "global"
MAX_LIST = 1000


class SuppressionRepository(Protocol):
    def add(self, entry: SuppressionEntry) -> SuppressionEntry: ...
    def remove(self, scope: str, address: str) -> SuppressionEntry: ...
    def list(self, scope: str, limit: int = 100) -> list[SuppressionEntry]: ...
    def get(self, scope: str, address: str) -> SuppressionEntry | None: ...


def list_suppressions(
    store: SuppressionRepository, *, scope: str, limit: int = 100, now: datetime | None = None
) -> list[SuppressionEntry]:
    """The scope's entries by address; with `now`, only those still in force (expired soft-bounce
    entries stay readable until TTL deletes them)."""
    entries = store.list(_scope(scope), limit=max(1, min(limit, MAX_LIST)))
    return [e for e in entries if now is None or e.is_active(now)]


def suppress(
    store: SuppressionRepository,
    audit: AuditWriter,
    clock: Clock,
    *,
    scope: str,
    address: str,
    reason: str,
    actor: str,
    expires_at: datetime | None = None,
) -> SuppressionEntry:
    canonical = _address(address)
    now = clock.now()
    if expires_at is not None and expires_at <= now:
        raise InvalidInputError("a suppression must expire in the future")
    entry = SuppressionEntry(
        scope=_scope(scope),
        address=canonical,
        reason=_reason(reason),
        created_at=now,
        source=actor if actor.startswith("operator:") else f"operator:{actor}",
        expires_at=expires_at,
    )
    # Only an operator may weaken an entry (shorten it, or replace a permanent one): what it replaces is
    # kept in the audit.
    before = store.get(entry.scope, canonical)
    store.add(entry)
    details = {"address": canonical, "scope": entry.scope, "reason": entry.reason}
    if expires_at is not None:
        details["expires_at"] = expires_at.isoformat()
    if before is not None:
        until = before.expires_at.isoformat() if before.expires_at else "permanent"
        details["was"] = f"{before.reason} ({before.source}, {until})"
    _audit(audit, entry.scope, now, "suppression.add", actor, details)
    return entry


def unsuppress(
    store: SuppressionRepository,
    audit: AuditWriter,
    clock: Clock,
    *,
    scope: str,
    address: str,
    reason: str,
    actor: str,
) -> SuppressionEntry:
    """Remove an entry (NotFoundError if there is none); the removed entry's cause stays in the audit."""
    canonical, why = _address(address), _reason(reason)
    removed = store.remove(_scope(scope), canonical)
    details = {
        "address": canonical,
        "scope": removed.scope,
        "reason": why,
        "was": f"{removed.reason} ({removed.source})",
    }
    _audit(audit, removed.scope, clock.now(), "suppression.remove", actor, details)
    return removed


def _scope(scope: str) -> str:
    if scope != GLOBAL_SCOPE and not ACCOUNT_ID.match(scope):
        raise InvalidInputError(f"scope {scope!r} is neither {GLOBAL_SCOPE!r} nor an account id")
    return scope


def _address(address: str) -> str:
    canonical = normalize_address(address)
    if canonical is None:
        raise InvalidInputError(f"{address!r} is not a valid mail address")
    return canonical


def _reason(reason: str) -> str:
    if not reason.strip():
        raise InvalidInputError("say why: a reason is required")
    return reason.strip()


def _audit(
    audit: AuditWriter, scope: str, now: datetime, event: str, actor: str, details: dict[str, str]
) -> None:
    account_id = GLOBAL_AUDIT_KEY if scope == GLOBAL_SCOPE else scope
    record_action(audit, account_id, now, event, actor, details)
