"""Automatic disablement: a mailbox or account whose counts or rates (24 h, and rates over 7 days) cross
the thresholds is disabled through the same audited operator path (`admin.set_enabled`), so the very
next send is refused."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from litemx.clock import Clock
from litemx.directory import admin
from litemx.directory.models import Account, EntityKind, Mailbox, Status
from litemx.errors import NotFoundError
from litemx.reputation.models import (
    LONG_WINDOW_HOURS,
    WINDOW_HOURS,
    Disabled,
    Tally,
    Thresholds,
    Window,
    account_verdict,
    mailbox_verdict,
    window_hours,
)

ACTOR = "reputation"


class ReputationReader(Protocol):
    def window(self, account_id: str, hours: Sequence[str]) -> dict[tuple[str, str], Tally]:
        """The account's buckets that exist in `hours` (labels), by (mailbox, hour): one read."""
        ...


class DirectoryPort(admin.DirectoryWriter, Protocol):
    def get_mailbox(self, address: str) -> Mailbox: ...
    def get_account(self, account_id: str) -> Account: ...


def enforce(
    *,
    mailbox: str | None,
    account_id: str,
    reader: ReputationReader,
    directory: DirectoryPort,
    audit: admin.AuditWriter,
    clock: Clock,
    thresholds: Thresholds,
    latest: datetime | None = None,
) -> tuple[Disabled, ...]:
    """Disable the mailbox and/or account if their counts or rates cross the thresholds and they are
    still active; returns what was disabled now (nothing when it already was). `latest`: the time of the
    event that was just counted; the windows end at it when it is ahead of this clock (another machine's
    clock stamped it), so that its own bucket is never outside them."""
    now = clock.now()
    hours = window_hours(max(now, latest) if latest is not None else now, LONG_WINDOW_HOURS)
    window = Window(reader.window(account_id, hours))
    day, week = frozenset(hours[:WINDOW_HOURS]), frozenset(hours)
    disabled: list[Disabled] = []
    if mailbox:
        why = mailbox_verdict(window.tally(day, mailbox), thresholds, window.tally(week, mailbox))
        if why is not None and _mailbox_active(directory, mailbox):
            disabled.append(_disable(directory, audit, clock, EntityKind.MAILBOX, mailbox, why))
    why = account_verdict(window.tally(day), thresholds, window.tally(week))
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
