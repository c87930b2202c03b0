"""The hourly reputation buckets in DynamoDB (pynamodb stays in here): one Query per account for a
verdict's window, and plain counter updates for each send and feedback event."""

from __future__ import annotations

from collections.abc import Sequence

from pynamodb.expressions.update import Action

from litemx.reputation.models import Increment, Tally
from litemx.storage.tables import ReputationBucket

# Sorts after `#`, which ends the hour label in every slot: the upper bound of an hour's slots.
_AFTER_HOUR = "$"


def _tally(bucket: ReputationBucket) -> Tally:
    return Tally(
        sends=int(bucket.sends),
        deliveries=int(bucket.deliveries),
        hard_bounces=int(bucket.hard_bounces),
        soft_bounces=int(bucket.soft_bounces),
        complaints=int(bucket.complaints),
    )


def bucket(increment: Increment) -> ReputationBucket:
    return ReputationBucket(increment.account_id, f"{increment.hour}#{increment.mailbox}")


def bucket_actions(increment: Increment) -> list[Action]:
    """ADD each non-zero count, and SET the bucket's TTL (the item is created by its first update)."""
    actions: list[Action] = [
        getattr(ReputationBucket, name).add(value) for name, value in vars(increment.tally).items() if value
    ]
    actions.append(ReputationBucket.expires_at.set(int(increment.expires_at.timestamp())))
    return actions


class DynamoReputationStore:
    def window(self, account_id: str, hours: Sequence[str]) -> dict[tuple[str, str], Tally]:
        """One consistent Query over the account's slots in the hours `hours` span. A Query is billed by
        the bytes it returns (a read unit per 4 KB; hours without a bucket are free), where a batched read
        bills a unit per key asked, found or not: a mailbox's and its account's 7-day windows as keys
        were 336 units; here each mailbox sending in every one of the 168 hours adds about 6 (a bucket is
        about 130 bytes)."""
        if not hours:
            return {}
        wanted = set(hours)
        window = ReputationBucket.slot.between(min(hours), max(hours) + _AFTER_HOUR)
        found: dict[tuple[str, str], Tally] = {}
        for item in ReputationBucket.query(account_id, window, consistent_read=True):
            hour, _, mailbox = item.slot.partition("#")
            if hour in wanted:
                found[(mailbox, hour)] = _tally(item)
        return found

    def add(self, counts: Sequence[Increment]) -> None:
        """One plain UpdateItem per bucket (1 WRU each; a transaction would bill 2 per item): nothing
        reads the counts back, and ADD needs no condition."""
        for increment in counts:
            bucket(increment).update(actions=bucket_actions(increment))
