"""Audit storage: one item per event, keyed so that an account's trail lists by time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import PutError

from litemx.audit.models import AuditRecord
from litemx.storage.tables import AuditEntry

# The audit trail is kept this long unless the deployment says otherwise (cdk.json `auditRetentionDays`,
# passed to the functions as AUDIT_RETENTION_DAYS): more than a year, so a year-on-year look back works.
DEFAULT_AUDIT_RETENTION = timedelta(days=400)


def _time_key(at: datetime) -> str:
    """Fixed-width UTC time, so that the sort key orders by time."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_sort_key(record: AuditRecord) -> str:
    return f"{_time_key(record.at)}#{record.request_id}"


def entry_from_record(record: AuditRecord, keep: timedelta) -> AuditEntry:
    """The stored entry, expiring `keep` after its time. Every writer stamps a record with its own clock's
    instant, so the TTL is in the future by construction (litemx.expiry: never written already expired)."""
    return AuditEntry(
        record.account_id,
        audit_sort_key(record),
        at=record.at,
        request_id=record.request_id,
        event=record.event,
        actor=record.actor,
        outcome=record.outcome,
        reason_code=record.reason_code,
        message=record.message,
        mailbox=record.mailbox,
        recipients_count=record.recipients_count,
        details=json.dumps(record.details, sort_keys=True),
        expires_at=int((record.at + keep).timestamp()),
    )


def record_from_entry(entry: AuditEntry) -> AuditRecord:
    return AuditRecord(
        account_id=entry.account_id,
        at=entry.at,
        request_id=entry.request_id,
        event=entry.event,
        actor=entry.actor,
        outcome=entry.outcome,
        reason_code=entry.reason_code,
        message=entry.message,
        mailbox=entry.mailbox,
        recipients_count=int(entry.recipients_count),
        details=json.loads(entry.details),
    )


class AuditStore:
    def __init__(self, retention: timedelta = DEFAULT_AUDIT_RETENTION) -> None:
        self._retention = retention

    def record(self, record: AuditRecord) -> None:
        entry = entry_from_record(record, self._retention)
        try:
            entry.save(condition=AuditEntry.sk.does_not_exist())
        except PutError as error:  # the same request recorded twice (a retried call): keep the first
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise

    def list(
        self, account_id: str, *, since: datetime | None = None, limit: int = 100, newest_first: bool = True
    ) -> list[AuditRecord]:
        condition = AuditEntry.sk >= _time_key(since) if since is not None else None
        entries = AuditEntry.query(
            account_id, condition, scan_index_forward=not newest_first, limit=limit, consistent_read=True
        )
        return [record_from_entry(e) for e in entries]
