"""The hourly reputation buckets in DynamoDB (pynamodb stays in here): batched reads for the verdicts, and
plain counter updates for what the sender sent."""

from __future__ import annotations

from collections.abc import Sequence

from pynamodb.expressions.update import Action

from litemx.reputation.models import Increment, Tally
from litemx.storage.tables import ReputationBucket


def _tally(bucket: ReputationBucket) -> Tally:
    return Tally(
        sends=int(bucket.sends),
        deliveries=int(bucket.deliveries),
        hard_bounces=int(bucket.hard_bounces),
        soft_bounces=int(bucket.soft_bounces),
        complaints=int(bucket.complaints),
    )


def bucket_actions(increment: Increment) -> list[Action]:
    """ADD each non-zero count, and SET the bucket's TTL (the item is created by its first update)."""
    actions: list[Action] = [
        getattr(ReputationBucket, name).add(value) for name, value in vars(increment.tally).items() if value
    ]
    actions.append(ReputationBucket.expires_at.set(int(increment.expires_at.timestamp())))
    return actions


class DynamoReputationStore:
    def tallies(self, keys: Sequence[str]) -> dict[str, Tally]:
        """Consistent batched reads (BatchGetItem takes up to 100 keys; the 7-day windows of a mailbox and
        its account are 336, so pynamodb sends 4)."""
        unique = list(dict.fromkeys(keys))
        return {b.key: _tally(b) for b in ReputationBucket.batch_get(unique, consistent_read=True)}

    def add(self, counts: Sequence[Increment]) -> None:
        """One plain UpdateItem per bucket (1 WRU each; a transaction would bill 2 per item): nothing
        reads the counts back, and ADD needs no condition."""
        for increment in counts:
            ReputationBucket(increment.key).update(actions=bucket_actions(increment))
