"""Reading the hourly reputation buckets (pynamodb stays in here)."""

from __future__ import annotations

from collections.abc import Sequence

from litemx.reputation.models import Tally
from litemx.storage.tables import ReputationBucket


def _tally(bucket: ReputationBucket) -> Tally:
    return Tally(
        sends=int(bucket.sends),
        deliveries=int(bucket.deliveries),
        hard_bounces=int(bucket.hard_bounces),
        soft_bounces=int(bucket.soft_bounces),
        complaints=int(bucket.complaints),
    )


class DynamoReputationStore:
    def tallies(self, keys: Sequence[str]) -> dict[str, Tally]:
        """Consistent batched reads (BatchGetItem takes up to 100 keys; the 7-day windows of a mailbox and
        its account are 336, so pynamodb sends 4)."""
        unique = list(dict.fromkeys(keys))
        return {b.key: _tally(b) for b in ReputationBucket.batch_get(unique, consistent_read=True)}
