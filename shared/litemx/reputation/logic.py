"""Automatic disablement: a mailbox or account whose counts or rates (24 h, and rates over 7 days) cross
the thresholds is disabled through the same audited operator path (`admin.set_enabled`), so the very
next send is refused."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from litemx.clock import Clock
from litemx.directory import admin
from litemx.directory.models import Account, EntityKind, Mailbox, Status
from litemx.errors import NotFoundError
from litemx.reputation.models import (
    ACCOUNT,
    LONG_WINDOW_HOURS,
    MAILBOX,
    WINDOW_HOURS,
    Disabled,
    Tally,
    Thresholds,
    account_verdict,
    mailbox_verdict,
    window_keys,
)

ACTOR = "reputation"


class ReputationReader(Protocol):
    def tallies(self, keys: Sequence[str]) -> dict[str, Tally]:
        """The buckets that exist among `keys` (one batched read)."""
        ...


class DirectoryPort(admin.DirectoryWriter, Protocol):
    def get_mailbox(self, address: str) -> Mailbox: ...
    def get_account(self, account_id: str) -> Account: ...


def window_tally(tallies: dict[str, Tally], keys: Sequence[str]) -> Tally:
    total = Tally()
    for key in keys:
        total = total + tallies.get(key, Tally())
    return total


def enforce(
    *,
    mailbox: str | None,
    account_id: str | None,
    reader: ReputationReader,
    directory: DirectoryPort,
    audit: admin.AuditWriter,
    clock: Clock,
    thresholds: Thresholds,
) -> tuple[Disabled, ...]:
    """Disable the mailbox and/or account if their counts or rates cross the thresholds and they are
    still active; returns what was disabled now (nothing when it already was)."""
    now = clock.now()
    mailbox_keys = window_keys(MAILBOX, mailbox, now, LONG_WINDOW_HOURS) if mailbox else []
    account_keys = window_keys(ACCOUNT, account_id, now, LONG_WINDOW_HOURS) if account_id else []
    tallies = reader.tallies([*mailbox_keys, *account_keys])
    disabled: list[Disabled] = []
    if mailbox:
        day, week = window_tally(tallies, mailbox_keys[:WINDOW_HOURS]), window_tally(tallies, mailbox_keys)
        why = mailbox_verdict(day, thresholds, week)
        if why is not None and _mailbox_active(directory, mailbox):
            disabled.append(_disable(directory, audit, clock, EntityKind.MAILBOX, mailbox, why))
    if account_id:
        day, week = window_tally(tallies, account_keys[:WINDOW_HOURS]), window_tally(tallies, account_keys)
        why = account_verdict(day, thresholds, week)
        if why is not None and _account_active(directory, account_id):
            disabled.append(_disable(directory, audit, clock, EntityKind.ACCOUNT, account_id, why))
    return tuple(disabled)


def _mailbox_active(directory: DirectoryPort, address: str) -> bool:
    try:
        return directory.get_mailbox(address).status is Status.ACTIVE
    except NotFoundError:
        return False


def _account_active(directory: DirectoryPort, account_id: str) -> bool:
    try:
        return directory.get_account(account_id).status is Status.ACTIVE
    except NotFoundError:
        return False


def _disable(
    directory: DirectoryPort,
    audit: admin.AuditWriter,
    clock: Clock,
    kind: EntityKind,
    entity_id: str,
    why: str,
) -> Disabled:
    reason = f"automatically disabled: {why}"
    admin.set_enabled(
        directory, audit, clock, kind=kind, entity_id=entity_id, enabled=False, reason=reason, actor=ACTOR
    )
    return Disabled(kind=kind.value, entity_id=entity_id, reason=reason)
