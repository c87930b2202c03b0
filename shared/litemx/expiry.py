"""One rule for every item LiteMX writes with a TTL (quota counters, transient-bounce markers, reputation
buckets, feedback ids, audit entries, inbound index entries): it is never written already expired.

DynamoDB deletes an expired item at a time of its choosing: on AWS within days, on DynamoDB Local within
seconds. An item written with its TTL in the past can therefore vanish while it is still being counted.
Each writer either refuses such an item (it can no longer change any verdict: `is_live`) or clamps the TTL
so that it counts from the write (`from_write`). docs/policy.md lists which does which.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def is_live(expires_at: datetime, now: datetime) -> bool:
    """Whether an item that would expire at `expires_at` may still be written at `now`."""
    return expires_at > now


def from_write(at: datetime, keep: timedelta, now: datetime) -> datetime:
    """`keep` after `at`, but never less than `keep` after the write itself (late or replayed events)."""
    return max(at, now) + keep
