"""Suppression storage (pynamodb stays in here)."""

from __future__ import annotations

from datetime import UTC, datetime

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
        try:
            record = SuppressionRecord.get(scope, address, consistent_read=True)
        except SuppressionRecord.DoesNotExist as missing:
            raise NotFoundError(f"{address} is not suppressed in scope {scope}") from missing
        record.delete()
        return entry_from_record(record)

    def list(self, scope: str, limit: int = 100) -> list[SuppressionEntry]:
        return [entry_from_record(r) for r in SuppressionRecord.query(scope, limit=limit)]

    def get(self, scope: str, address: str) -> SuppressionEntry | None:
        try:
            return entry_from_record(SuppressionRecord.get(scope, address, consistent_read=True))
        except SuppressionRecord.DoesNotExist:
            return None
