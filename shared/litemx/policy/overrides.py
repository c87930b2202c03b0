"""Operator overrides of the anti-cold-outbound rules, audited like every operator action."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from litemx.clock import Clock
from litemx.directory.admin import AuditWriter, record_action
from litemx.errors import InvalidInputError


class AccountPolicyWriter(Protocol):
    def set_first_contacts(
        self, account_id: str, limit: int | None, *, now: datetime, account_limit: int | None = None
    ) -> None: ...
    def set_warmup_waived(self, account_id: str, waived: bool, *, now: datetime) -> None: ...


def set_first_contact_limit(
    store: AccountPolicyWriter,
    audit: AuditWriter,
    clock: Clock,
    *,
    account_id: str,
    limit: int | None,
    actor: str,
    reason: str,
    account_limit: int | None = None,
) -> None:
    """Set how many first contacts each of the account's mailboxes may make per UTC day, and all of
    them together (None: the plan's number again; the account-wide number defaults to the per-mailbox
    one). The very next decision sees it."""
    if (limit is not None and limit < 0) or (account_limit is not None and account_limit < 0):
        raise InvalidInputError("a first-contact limit cannot be negative")
    if not reason.strip():
        raise InvalidInputError("say why the limit changes")
    now = clock.now()
    store.set_first_contacts(account_id, limit, now=now, account_limit=account_limit)
    details = {
        "limit": "plan" if limit is None else str(limit),
        "account_limit": "default" if account_limit is None else str(account_limit),
        "reason": reason,
    }
    record_action(audit, account_id, now, "account.first_contacts", actor, details)


def set_warmup_waived(
    store: AccountPolicyWriter,
    audit: AuditWriter,
    clock: Clock,
    *,
    account_id: str,
    waived: bool,
    actor: str,
    reason: str,
) -> None:
    """Lift (or restore) the warm-up schedule of a new account and its mailboxes (litemx.policy.warmup)."""
    if not reason.strip():
        raise InvalidInputError("say why the warm-up changes")
    now = clock.now()
    store.set_warmup_waived(account_id, waived, now=now)
    details = {"waived": str(waived).lower(), "reason": reason}
    record_action(audit, account_id, now, "account.warmup", actor, details)
