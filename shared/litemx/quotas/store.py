"""Reading counters for usage reports, and refunding what a cancelled message reserved."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from functools import reduce
from typing import Any

from pynamodb.attributes import NumberAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.operand import Path
from pynamodb.transactions import TransactWrite

from litemx.errors import StoreBusyError
from litemx.messages.models import OutboundMessage
from litemx.policy.store import contact_key, counter_values
from litemx.quotas.models import MARK_PREFIX, counter_item, counts_first_contacts
from litemx.storage.session import shared_connection
from litemx.storage.tables import ContactRecord, UsageCounter, table_name

_ATTEMPTS = 12
_BATCH_LIMIT = 100


class QuotaStore:
    """Reads counters and refunds them in one transaction, through the process's one DynamoDB connection."""

    def __init__(self, region: str | None = None, host: str | None = None) -> None:
        self._connection = shared_connection(region, host)

    def read(self, keys: Iterable[str]) -> dict[str, int]:
        """Current value of each counter that exists (one strongly consistent batch read of their items;
        the account's day is a field of its month's item)."""
        wanted = list(dict.fromkeys(keys))
        items = list(dict.fromkeys(counter_item(key)[0] for key in wanted))
        found: dict[str, int] = {}
        table = table_name(UsageCounter)
        for start in range(0, len(items), _BATCH_LIMIT):
            request: dict[str, Any] = {
                table: {
                    "Keys": [{"key": {"S": i}} for i in items[start : start + _BATCH_LIMIT]],
                    "ConsistentRead": True,
                }
            }
            attempt = 0
            while request:
                client: Any = self._connection.client
                response = client.batch_get_item(RequestItems=request)
                for raw in response.get("Responses", {}).get(table, []):
                    found.update(counter_values(raw))
                request = response.get("UnprocessedKeys") or {}
                attempt += 1
                if request:
                    time.sleep(min(0.005 * 2**attempt, 0.2) * random.random())
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
            updates: dict[str, list[tuple[str, int]]] = {}  # item -> (field, amount): one update per item
            for counter in counters:
                amount = counter.amount - (len(kept) if counts_first_contacts(counter.key) else 0)
                item, field = counter_item(counter.key)
                if item not in skipped and amount > 0:
                    updates.setdefault(item, []).append((field, amount))
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
                    for item, fields in updates.items():
                        paths = [(Path(NumberAttribute(attr_name=f)), amount) for f, amount in fields]
                        transaction.update(
                            UsageCounter(item),
                            actions=[path.add(-amount) for path, amount in paths],
                            condition=reduce(lambda a, b: a & b, (path >= amount for path, amount in paths)),
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
