"""Reading counters for usage reports, and refunding what a cancelled message reserved."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from litemx.errors import StoreBusyError
from litemx.messages.models import OutboundMessage
from litemx.policy.store import all_of, batch_get, contact_key, counter_field, counter_values
from litemx.quotas.models import MARK_PREFIX, counter_item, counts_first_contacts
from litemx.storage.session import shared_connection
from litemx.storage.tables import ContactRecord, UsageCounter, table_name

_ATTEMPTS = 12


class QuotaStore:
    """Reads counters and refunds them in one transaction, through the process's one DynamoDB connection."""

    def __init__(self, region: str | None = None, host: str | None = None) -> None:
        self._connection = shared_connection(region, host)

    def read(self, keys: Iterable[str]) -> dict[str, int]:
        """Current value of each counter that exists (one strongly consistent batch read of their items;
        the account's day is a field of its month's item)."""
        wanted = list(dict.fromkeys(keys))
        table = table_name(UsageCounter)
        items = dict.fromkeys(counter_item(key)[0] for key in wanted)
        raw = batch_get(self._connection.client, [(table, {"key": {"S": i}}) for i in items], consistent=True)
        found = {key: value for item in raw.get(table, []) for key, value in counter_values(item)}
        return {key: found[key] for key in wanted if key in found}

    def refund(self, message: OutboundMessage) -> None:
        """Give back exactly what `message` reserved, in one transaction: every counter, and the contact
        marks its first contacts created. A mark another send relied on since (or that is no longer this
        message's) stays, and so does its count on the first-contact and fan-out counters; a counter
        whose window expired (TTL) is left alone rather than recreated negative."""
        counters = [r for r in message.reserved if not r.key.startswith(MARK_PREFIX)]
        marks = [r.key.removeprefix(MARK_PREFIX) for r in message.reserved if r.key.startswith(MARK_PREFIX)]
        kept: set[str] = set()
        skipped: set[str] = set()  # counter items
        for attempt in range(1, _ATTEMPTS + 1):
            deletes = [m for m in marks if m not in kept]
            updates: dict[str, list[tuple[str, int]]] = {}  # item -> (key, amount): one update per item
            for counter in counters:
                amount = counter.amount - (len(kept) if counts_first_contacts(counter.key) else 0)
                item = counter_item(counter.key)[0]
                if item not in skipped and amount > 0:
                    updates.setdefault(item, []).append((counter.key, amount))
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
                    for item, given_back in updates.items():
                        fields = [(counter_field(key), amount) for key, amount in given_back]
                        transaction.update(
                            UsageCounter(item),
                            actions=[field.add(-amount) for field, amount in fields],
                            condition=all_of(field >= amount for field, amount in fields),
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
                items = list(updates)
                skipped |= {items[i - len(deletes)] for i in failed if i >= len(deletes)}
                if not failed:
                    time.sleep(min(0.005 * 2**attempt, 0.2) * random.random())
        raise StoreBusyError(f"the refund of {message.message_id} stayed contended")
