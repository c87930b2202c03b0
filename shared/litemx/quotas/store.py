"""Reading counters for usage reports, and refunding what a cancelled message reserved."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from litemx.errors import StoreBusyError
from litemx.messages.models import OutboundMessage
from litemx.policy.store import contact_key
from litemx.quotas.models import MARK_PREFIX, counts_first_contacts
from litemx.storage.session import shared_connection
from litemx.storage.tables import ContactRecord, UsageCounter

_ATTEMPTS = 12


class QuotaStore:
    """Reads counters and refunds them in one transaction, through the process's one DynamoDB connection."""

    def __init__(self, region: str | None = None, host: str | None = None) -> None:
        self._connection = shared_connection(region, host)

    def read(self, keys: Iterable[str]) -> dict[str, int]:
        """Current value of each counter that exists (one strongly consistent batch read)."""
        return {c.key: int(c.used) for c in UsageCounter.batch_get(list(keys), consistent_read=True)}

    def refund(self, message: OutboundMessage) -> None:
        """Give back exactly what `message` reserved, in one transaction: every counter, and the contact
        marks its first contacts created. A mark another send relied on since (or that is no longer this
        message's) stays, and so does its count on the first-contact and fan-out counters; a counter
        whose window expired (TTL) is left alone rather than recreated negative."""
        counters = [r for r in message.reserved if not r.key.startswith(MARK_PREFIX)]
        marks = [r.key.removeprefix(MARK_PREFIX) for r in message.reserved if r.key.startswith(MARK_PREFIX)]
        kept: set[str] = set()
        skipped: set[str] = set()
        for attempt in range(1, _ATTEMPTS + 1):
            deletes = [m for m in marks if m not in kept]
            updates = []
            for counter in counters:
                amount = counter.amount - (len(kept) if counts_first_contacts(counter.key) else 0)
                if counter.key not in skipped and amount > 0:
                    updates.append((counter.key, amount))
            if not deletes and not updates:
                return
            try:
                with TransactWrite(connection=self._connection) as transaction:
                    for person in deletes:
                        transaction.delete(
                            ContactRecord(*contact_key(message.mailbox, person)),
                            condition=(ContactRecord.message_id == message.message_id)
                            & ContactRecord.relied_at.does_not_exist(),
                        )
                    for key, amount in updates:
                        transaction.update(
                            UsageCounter(key),
                            actions=[UsageCounter.used.add(-amount)],
                            condition=UsageCounter.used >= amount,
                        )
                return
            except TransactWriteError as error:
                reasons = error.cancellation_reasons or []
                failed = [
                    i for i, r in enumerate(reasons) if r is not None and r.code == "ConditionalCheckFailed"
                ]
                if not failed and error.cause_response_code != "TransactionCanceledException":
                    raise
                # pynamodb sends deletes before updates.
                kept |= {deletes[i] for i in failed if i < len(deletes)}
                skipped |= {updates[i - len(deletes)][0] for i in failed if i >= len(deletes)}
                if not failed:
                    time.sleep(min(0.005 * 2**attempt, 0.2) * random.random())
        raise StoreBusyError(f"the refund of {message.message_id} stayed contended")
