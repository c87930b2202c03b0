"""The hourly reputation buckets in DynamoDB (pynamodb stays in here): a Query per entity for the verdicts'
windows, and plain counter updates for what the sender sent."""

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


def bucket(key: str) -> ReputationBucket:
    """The item of a bucket key (`<kind>#<id>#<hour>`: the hour label holds no `#`)."""
    entity, _, hour = key.rpartition("#")
    return ReputationBucket(entity, hour)


def bucket_actions(increment: Increment) -> list[Action]:
    """ADD each non-zero count, and SET the bucket's TTL (the item is created by its first update)."""
    actions: list[Action] = [
        getattr(ReputationBucket, name).add(value) for name, value in vars(increment.tally).items() if value
    ]
    actions.append(ReputationBucket.expires_at.set(int(increment.expires_at.timestamp())))
    return actions


class DynamoReputationStore:
    def tallies(self, keys: Sequence[str]) -> dict[str, Tally]:
        """One consistent Query per entity over the hours `keys` span. A Query is billed by the bytes it
        returns (a read unit per 4 KB, the hours without a bucket free), where BatchGetItem bills a unit
        per key asked, found or not: the 7-day windows of a mailbox and its account are 336 keys, 336
        units, against 2 to 12 here (168 buckets of at most about 130 bytes: 6 units per entity)."""
        hours: dict[str, list[str]] = {}
        for key in dict.fromkeys(keys):
            entity, _, hour = key.rpartition("#")
            hours.setdefault(entity, []).append(hour)
        wanted, found = set(keys), {}
        for entity, labels in hours.items():
            window = ReputationBucket.hour.between(min(labels), max(labels))
            for item in ReputationBucket.query(entity, window, consistent_read=True):
                key = f"{entity}#{item.hour}"
                if key in wanted:
                    found[key] = _tally(item)
        return found

    def add(self, counts: Sequence[Increment]) -> None:
        """One plain UpdateItem per bucket (1 WRU each; a transaction would bill 2 per item): nothing
        reads the counts back, and ADD needs no condition."""
        for increment in counts:
            bucket(increment.key).update(actions=bucket_actions(increment))
