"""Suppression storage (pynamodb stays in here).

Entries are keyed by the person key of their address (`litemx.addresses.person_key`): suppressing
`name@` (or `n.ame@gmail.com`) suppresses every `+tag` variant (and Gmail dot variant) with it. Lookups
try the person key first, then the exact address (entries written before person keys existed).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from litemx.addresses import person_key
from litemx.errors import NotFoundError
from litemx.storage.tables import SuppressionRecord
from litemx.suppression.models import SuppressionEntry


def entry_from_record(record: SuppressionRecord) -> SuppressionEntry:
    expires = None if record.expires_at is None else datetime.fromtimestamp(int(record.expires_at), UTC)
    return SuppressionEntry(
        scope=record.scope,
        address=record.address,
        reason=record.reason,
        created_at=record.created_at,
        source=record.source,
        expires_at=expires,
    )


class SuppressionStore:
    def add(self, entry: SuppressionEntry) -> SuppressionEntry:
        """Idempotent: re-adding an address refreshes its reason and expiry."""
        entry = replace(entry, address=person_key(entry.address))
        SuppressionRecord(
            entry.scope,
            entry.address,
            reason=entry.reason,
            source=entry.source,
            created_at=entry.created_at,
            expires_at=None if entry.expires_at is None else int(entry.expires_at.timestamp()),
        ).save()
        return entry

    def remove(self, scope: str, address: str) -> SuppressionEntry:
        for key in dict.fromkeys((person_key(address), address)):
            try:
                record = SuppressionRecord.get(scope, key, consistent_read=True)
            except SuppressionRecord.DoesNotExist:
                continue
            record.delete()
            return entry_from_record(record)
        raise NotFoundError(f"{address} is not suppressed in scope {scope}")

    def list(self, scope: str, limit: int = 100) -> list[SuppressionEntry]:
        return [entry_from_record(r) for r in SuppressionRecord.query(scope, limit=limit)]

    def get(self, scope: str, address: str) -> SuppressionEntry | None:
        for key in dict.fromkeys((person_key(address), address)):
            try:
                return entry_from_record(SuppressionRecord.get(scope, key, consistent_read=True))
            except SuppressionRecord.DoesNotExist:
                continue
        return None
