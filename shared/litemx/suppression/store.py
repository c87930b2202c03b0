"""Suppression storage (pynamodb stays in here).

Entries are keyed by the person key of their address (`litemx.addresses.person_key`): suppressing
`name@` (or `n.ame@gmail.com`) suppresses every `+tag` variant (and Gmail dot variant) with it. Lookups
try the person key first, then the exact address (entries written before person keys existed).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from pynamodb.exceptions import PutError

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


def _record(entry: SuppressionEntry) -> SuppressionRecord:
    return SuppressionRecord(
        entry.scope,
        entry.address,
        reason=entry.reason,
        source=entry.source,
        created_at=entry.created_at,
        expires_at=None if entry.expires_at is None else int(entry.expires_at.timestamp()),
    )


class SuppressionStore:
    def add(self, entry: SuppressionEntry) -> SuppressionEntry:
        """An operator's write: replaces whatever was there (the service audits what it was)."""
        entry = replace(entry, address=person_key(entry.address))
        _record(entry).save()
        return entry

    def strengthen(self, entry: SuppressionEntry) -> bool:
        """Write `entry` only where it makes suppression stronger (one conditional write, so concurrent
        feedback cannot weaken it either): over nothing, over an entry that expires (when `entry` does
        not), or over one that expires sooner. False when an entry at least as strong is there."""
        entry = replace(entry, address=person_key(entry.address))
        absent = SuppressionRecord.address.does_not_exist()
        if entry.expires_at is None:
            condition = absent | SuppressionRecord.expires_at.exists()
        else:
            condition = absent | (SuppressionRecord.expires_at < int(entry.expires_at.timestamp()))
        try:
            _record(entry).save(condition=condition)
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

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
