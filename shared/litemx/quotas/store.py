"""Reading counters for usage reports, and giving quota back when a queued message is cancelled."""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.exceptions import UpdateError

from litemx.messages.models import ReservedCounter
from litemx.storage.tables import UsageCounter


class QuotaStore:
    def read(self, keys: Iterable[str]) -> dict[str, int]:
        """Current value of each counter that exists (one strongly consistent batch read)."""
        return {c.key: int(c.used) for c in UsageCounter.batch_get(list(keys), consistent_read=True)}

    def release(self, counters: Iterable[ReservedCounter]) -> None:
        """Give back what a message reserved. Each counter is decremented on its own, conditionally, so a
        counter that already expired with its window is left alone rather than recreated negative."""
        for counter in counters:
            try:
                UsageCounter(counter.key).update(
                    actions=[UsageCounter.used.add(-counter.amount)],
                    condition=UsageCounter.used >= counter.amount,
                )
            except UpdateError as error:
                if error.cause_response_code != "ConditionalCheckFailedException":
                    raise
