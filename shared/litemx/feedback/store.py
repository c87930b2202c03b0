"""Feedback bookkeeping in DynamoDB: applied event ids, transient bounces per address, and the reputation
counters that move with them (pynamodb stays in here)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from litemx.reputation.models import Increment
from litemx.reputation.store import DynamoReputationStore, bucket, bucket_actions
from litemx.storage.session import shared_connection
from litemx.storage.tables import FeedbackEventRecord, SoftBounceRecord


def event_key(event_id: str) -> str:
    return f"event#{event_id}"


def soft_key(address: str) -> str:
    return f"soft#{address}"


class DynamoFeedbackLedger:
    def __init__(self, region: str | None = None) -> None:
        self._connection = shared_connection(region)

    def add_soft_bounce(self, address: str, marker: str, *, expires_at: datetime) -> tuple[str, ...]:
        record = SoftBounceRecord(soft_key(address))
        record.update(
            actions=[
                SoftBounceRecord.bounces.add({marker}),
                SoftBounceRecord.expires_at.set(int(expires_at.timestamp())),
            ]
        )
        return tuple(sorted(record.bounces or ()))

    def drop_soft_bounces(self, address: str, markers: Sequence[str]) -> None:
        if markers:
            SoftBounceRecord(soft_key(address)).update(
                actions=[SoftBounceRecord.bounces.delete(set(markers))]
            )

    def record_once(
        self, event_id: str, kind: str, *, at: datetime, expires_at: datetime, counts: Sequence[Increment]
    ) -> bool:
        seen = FeedbackEventRecord(
            event_key(event_id), kind=kind, at=at, expires_at=int(expires_at.timestamp())
        )
        if not any(increment.tally.adverse for increment in counts):
            # Deliveries count only the denominators of the rates: the event id by one conditional
            # put, then each bucket by a plain update (1 WRU each; a transaction bills 2 per item). The id
            # goes first: a crash between them loses the counts (a retry finds the id), which can only
            # raise a rate, never hide a bounce or a complaint; those keep the transaction below.
            try:
                seen.save(condition=FeedbackEventRecord.key.does_not_exist())
            except PutError as error:
                if error.cause_response_code == "ConditionalCheckFailedException":
                    return False
                raise
            DynamoReputationStore().add(counts)
            return True
        try:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.save(seen, condition=FeedbackEventRecord.key.does_not_exist())
                for increment in counts:
                    transaction.update(bucket(increment), actions=bucket_actions(increment))
        except TransactWriteError as error:
            reasons = error.cancellation_reasons or []
            if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
                return False
            raise
        return True
