"""The policy decision's storage: one batched read, one transactional write (pynamodb stays in here)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from functools import cache, reduce
from typing import Any

from pynamodb.attributes import NumberAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from litemx.audit.models import AuditRecord
from litemx.audit.store import DEFAULT_AUDIT_RETENTION, entry_from_record
from litemx.directory import store as directory
from litemx.errors import StoreBusyError
from litemx.messages.models import OutboundMessage
from litemx.messages.store import message_record
from litemx.policy.models import (
    AccountPolicy,
    ContactMark,
    MessageExistsError,
    QuotaExceededError,
    Snapshot,
    SnapshotKeys,
)
from litemx.quotas.models import USED_FIELD, CounterCheck, CounterReservation, counter_item
from litemx.storage.session import shared_connection
from litemx.storage.tables import (
    AccountPolicyRecord,
    AccountRecord,
    AuditEntry,
    ContactRecord,
    CorrespondentRecord,
    DomainRecord,
    MailboxRecord,
    MessageRecord,
    ReplyRightRecord,
    SuppressionRecord,
    TokenRecord,
    UsageCounter,
    table_name,
)
from litemx.suppression.models import GLOBAL_SCOPE
from litemx.suppression.store import entry_from_record as suppression_from_record

_BATCH_LIMIT = 100
CONTACT_PREFIX = "CONTACT#"
ACCOUNT_POLICY_SK = "POLICY"


def contact_key(mailbox: str, address: str) -> tuple[str, str]:
    return f"MAILBOX#{mailbox}", f"{CONTACT_PREFIX}{address}"


def account_policy_key(account_id: str) -> tuple[str, str]:
    return f"ACCOUNT#{account_id}", ACCOUNT_POLICY_SK


_CONFLICT_RETRIES = 12


def batch_get(
    client: Any, wanted: Sequence[tuple[str, dict[str, Any]]], *, consistent: bool
) -> dict[str, list[dict[str, Any]]]:
    """The items found among `wanted` (table, key in AttributeValue form; no duplicates), by table, in
    batches of 100, until DynamoDB has processed every key. `consistent` False: an eventually consistent
    read, half the read units of a consistent one; it may miss a write of the last moment (docs/policy.md,
    "Consistency of the decision's read")."""
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(wanted), _BATCH_LIMIT):
        request: dict[str, Any] = {}
        for table, key in wanted[start : start + _BATCH_LIMIT]:
            request.setdefault(table, {"Keys": [], "ConsistentRead": consistent})["Keys"].append(key)
        attempt = 0
        while request:
            response = client.batch_get_item(RequestItems=request)
            for table, table_items in response.get("Responses", {}).items():
                found.setdefault(table, []).extend(table_items)
            request = response.get("UnprocessedKeys") or {}
            attempt += 1
            if request:
                _backoff(attempt)
    return found


class DynamoPolicyStore:
    """Goes through the process's one DynamoDB connection (litemx.storage.session), which threads share."""

    def __init__(
        self,
        region: str | None = None,
        host: str | None = None,
        *,
        audit_retention: timedelta = DEFAULT_AUDIT_RETENTION,
    ) -> None:
        self._connection = shared_connection(region, host)
        self._audit_retention = audit_retention

    @property
    def client(self) -> Any:
        """The botocore client every request of this store goes through (for request counting)."""
        return self._connection.client

    def load_snapshot(self, keys: SnapshotKeys, *, consistent: bool = True) -> Snapshot:
        return _snapshot(self._batch_get(_wanted(keys), consistent), keys)

    def load_snapshots(self, many: Sequence[SnapshotKeys], *, consistent: bool = True) -> list[Snapshot]:
        """Several snapshots in one batched read (the sender re-checks a whole SQS batch at once)."""
        wanted = [_wanted(keys) for keys in many]
        found = self._batch_get([key for keys in wanted for key in keys], consistent)
        index = {(table, _identity(table, item)): item for table, items in found.items() for item in items}
        return [
            _snapshot(
                _group((table, index.get((table, _identity(table, key)))) for table, key in wanted_keys), keys
            )
            for keys, wanted_keys in zip(many, wanted, strict=True)
        ]

    def _batch_get(
        self, wanted: list[tuple[str, dict[str, Any]]], consistent: bool
    ) -> dict[str, list[dict[str, Any]]]:
        unique = list({(table, _identity(table, key)): (table, key) for table, key in wanted}.values())
        return batch_get(self.client, unique, consistent=consistent)

    def reserve(
        self,
        reservations: list[CounterReservation],
        audit: AuditRecord,
        contacts: Sequence[ContactMark] = (),
        message: OutboundMessage | None = None,
        *,
        relied: Sequence[ContactMark] = (),
        checks: Sequence[CounterCheck] = (),
    ) -> None:
        for attempt in range(1, _CONFLICT_RETRIES + 1):
            try:
                self._reserve_once(reservations, audit, contacts, message, relied, checks)
                return
            except TransactWriteError as error:
                reasons = [r.code if r else "None" for r in (error.cancellation_reasons or [])]
                if message is not None and reasons[len(checks) + 1 : len(checks) + 2] == [
                    "ConditionalCheckFailed"
                ]:  # the message put (after the checks and the audit entry): it was recorded before
                    raise MessageExistsError(message.message_id) from error
                # Condition checks are sent first, then puts (audit, message), then updates (counters).
                failed = _failed_counters(
                    reservations, error, skip=len(checks) + (1 if message is None else 2)
                )
                if failed:
                    raise QuotaExceededError(failed) from error
                if (
                    "ConditionalCheckFailed" in reasons[: len(checks)]
                ):  # a checked counter moved since the read
                    raise QuotaExceededError({}) from error
                if not any(code in ("TransactionConflict", "ThrottlingError") for code in reasons) and (
                    error.cause_response_code != "TransactionConflictException"
                ):
                    raise
                _backoff(attempt)
        raise StoreBusyError("quota counters stayed contended; nothing was reserved, retry the request")

    def _reserve_once(
        self,
        reservations: list[CounterReservation],
        audit: AuditRecord,
        contacts: Sequence[ContactMark],
        message: OutboundMessage | None,
        relied: Sequence[ContactMark],
        checks: Sequence[CounterCheck],
    ) -> None:
        with TransactWrite(connection=self._connection) as transaction:
            # pynamodb sends condition checks, then puts, then updates: the checks, the audit entry (and
            # message), the counters, then the contact marks (updates too, after the counters).
            transaction.save(
                entry_from_record(audit, self._audit_retention), condition=AuditEntry.sk.does_not_exist()
            )
            if message is not None:  # the queued message itself: accepted and accounted for atomically
                transaction.save(message_record(message), condition=MessageRecord.message_id.does_not_exist())
            for item, group in _counter_items(reservations):
                # One update per counter item: the account's day and month are two fields of one item,
                # both added under one condition that holds each cap.
                transaction.update(
                    UsageCounter(item),
                    actions=[
                        *(counter_field(r.key).add(r.amount) for r in group),
                        UsageCounter.expires_at.set(int(max(r.expires_at for r in group).timestamp())),
                    ],
                    condition=all_of(_room(r) for r in group),
                    return_values="ALL_OLD",
                )
            for contact in contacts:
                pk, sk = contact_key(contact.mailbox, contact.address)
                actions: list[Action] = [
                    ContactRecord.address.set(contact.address),
                    ContactRecord.first_at.set(ContactRecord.first_at | contact.at),
                ]
                if contact.message_id is not None:
                    actions.append(ContactRecord.message_id.set(contact.message_id))
                transaction.update(ContactRecord(pk, sk), actions=actions)
            for contact in relied:  # a later send relied on the mark: its message can no longer take it back
                pk, sk = contact_key(contact.mailbox, contact.address)
                transaction.update(ContactRecord(pk, sk), actions=[ContactRecord.relied_at.set(contact.at)])
            for check in checks:
                transaction.condition_check(
                    UsageCounter,
                    check.key,
                    condition=_holds(check),
                )

    def record(self, audit: AuditRecord) -> None:
        """A refusal's audit entry: a single put, outside any transaction."""
        entry = entry_from_record(audit, self._audit_retention)
        self.client.put_item(
            TableName=table_name(AuditEntry),
            Item=entry.serialize(),
            ConditionExpression="attribute_not_exists(sk)",
        )


def _wanted(keys: SnapshotKeys) -> list[tuple[str, dict[str, Any]]]:
    """(table, key) of every item one decision may need."""
    directory_keys = [
        directory.token_key(keys.token_id),
        directory.account_key(keys.account_id),
        directory.domain_key(keys.domain),
        directory.mailbox_key(keys.mailbox),
        *([account_policy_key(keys.account_id)] if keys.policy_overrides else []),
        *(directory.correspondent_key(keys.mailbox, r) for r in keys.recipients),
        *(contact_key(keys.mailbox, r) for r in keys.recipients),
        *(directory.reply_right_key(keys.mailbox, i) for i in dict.fromkeys(keys.message_ids)),
    ]
    suppression_keys = [
        (scope, r)
        for r in keys.suppression_keys or keys.recipients
        for scope in (GLOBAL_SCOPE, keys.account_id)
    ]
    wanted: list[tuple[str, dict[str, Any]]] = [
        *((table_name(TokenRecord), {"pk": {"S": pk}, "sk": {"S": sk}}) for pk, sk in directory_keys),
        *(
            (table_name(SuppressionRecord), {"scope": {"S": scope}, "address": {"S": address}})
            for scope, address in suppression_keys
        ),
        *(
            (table_name(UsageCounter), {"key": {"S": item}})
            for item in dict.fromkeys(counter_item(key)[0] for key in keys.counter_keys)
        ),
    ]
    return wanted


def _identity(table: str, item: dict[str, Any]) -> tuple[str, ...]:
    """An item (or a key) reduced to its table's key attributes, to match read items with requested keys."""
    return tuple(str(item[name]) for name in _key_names(table))


@cache
def _key_names(table: str) -> tuple[str, ...]:
    for model in (TokenRecord, SuppressionRecord, UsageCounter):
        if table_name(model) == table:
            return tuple(n for n, a in model.get_attributes().items() if a.is_hash_key or a.is_range_key)
    raise KeyError(table)


def _group(pairs: Any) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for table, item in pairs:
        if item is not None:
            grouped.setdefault(table, []).append(item)
    return grouped


def _holds(check: CounterCheck) -> Any:
    field = counter_field(check.key)
    condition = field == check.expected
    return condition | field.does_not_exist() if check.expected == 0 else condition


def counter_field(key: str) -> Path:
    """The attribute that holds counter `key` in its item (`used`, or a day of the account's month)."""
    return Path(NumberAttribute(attr_name=counter_item(key)[1]))


def _room(reservation: CounterReservation) -> Any:
    field = counter_field(reservation.key)
    return field.does_not_exist() | (field <= reservation.limit - reservation.amount)


def all_of(conditions: Iterable[Any]) -> Any:
    """The conditions joined by AND (at least one)."""
    return reduce(lambda left, right: left & right, conditions)


def _counter_items(
    reservations: Sequence[CounterReservation],
) -> list[tuple[str, list[CounterReservation]]]:
    """The reservations grouped by the item that holds them, in the order of their first reservation."""
    items: dict[str, list[CounterReservation]] = {}
    for reservation in reservations:
        items.setdefault(counter_item(reservation.key)[0], []).append(reservation)
    return list(items.items())


def _failed_counters(
    reservations: list[CounterReservation], error: TransactWriteError, *, skip: int
) -> dict[str, int]:
    """Counter key -> the value that refused it, for each counter whose cap condition failed (the
    transaction's puts come first, then one update per counter item). An item holding two caps (the
    account's day and month) failed on those its old values cannot take."""
    failed: dict[str, int] = {}
    reasons = error.cancellation_reasons or []
    for (_, group), reason in zip(_counter_items(reservations), reasons[skip:], strict=False):
        if reason is None or reason.code != "ConditionalCheckFailed":
            continue
        old = reason.raw_item or {}
        values = {r.key: int(old.get(counter_item(r.key)[1], {}).get("N", "0")) for r in group}
        refused = {r.key: values[r.key] for r in group if values[r.key] + r.amount > r.limit}
        failed |= refused or values  # the condition refused; without its old values, name them all
    return failed


def _backoff(attempt: int) -> None:
    time.sleep(min(0.005 * 2**attempt, 0.2) * random.random())


_DIRECTORY_MODELS: dict[str, tuple[type[Model], Callable[[Any], Any]]] = {
    directory.TOKEN_SK: (TokenRecord, directory.token_from_record),
    directory.ACCOUNT_SK: (AccountRecord, directory.account_from_record),
    directory.DOMAIN_SK: (DomainRecord, directory.domain_from_record),
    directory.MAILBOX_SK: (MailboxRecord, directory.mailbox_from_record),
}


def _snapshot(items: dict[str, list[dict[str, Any]]], keys: SnapshotKeys) -> Snapshot:
    found: dict[str, Any] = {}
    correspondents: set[str] = set()
    contacted: set[str] = set()
    relied_upon: set[str] = set()
    threads: set[str] = set()
    participants: set[str] = set()
    policy: AccountPolicyRecord | None = None
    for raw in items.get(table_name(TokenRecord), []):
        sk = raw["sk"]["S"]
        if sk.startswith(directory.CORRESPONDENT_PREFIX):
            correspondents.add(CorrespondentRecord.from_raw_data(raw).address)
        elif sk.startswith(CONTACT_PREFIX):
            contacted.add(sk.removeprefix(CONTACT_PREFIX))
            if ContactRecord.relied_at.attr_name in raw:
                relied_upon.add(sk.removeprefix(CONTACT_PREFIX))
        elif sk.startswith(directory.REPLY_RIGHT_PREFIX):
            threads.add(sk)
            participants |= set(ReplyRightRecord.from_raw_data(raw).participants or ())
        elif sk == ACCOUNT_POLICY_SK:
            policy = AccountPolicyRecord.from_raw_data(raw)
        elif sk in _DIRECTORY_MODELS:
            model, to_domain = _DIRECTORY_MODELS[sk]
            found[sk] = to_domain(model.from_raw_data(raw))
    suppressions = tuple(
        suppression_from_record(SuppressionRecord.from_raw_data(raw))
        for raw in items.get(table_name(SuppressionRecord), [])
    )
    counters = {
        key: value for raw in items.get(table_name(UsageCounter), []) for key, value in counter_values(raw)
    }
    return Snapshot(
        token=found.get(directory.TOKEN_SK),
        account=found.get(directory.ACCOUNT_SK),
        domain=found.get(directory.DOMAIN_SK),
        mailbox=found.get(directory.MAILBOX_SK),
        suppressions=suppressions,
        correspondents=frozenset(correspondents),
        counters=counters,
        contacted=frozenset(contacted),
        relied_upon=frozenset(relied_upon),
        # Reply rights are keyed by a hash of the id: the ids asked for tell which were found.
        known_message_ids=frozenset(
            i for i in keys.message_ids if directory.reply_right_key(keys.mailbox, i)[1] in threads
        ),
        reply_participants=frozenset(participants),
        first_contacts_override=_int(policy.first_contacts_day if policy else None),
        account_first_contacts_override=_int(policy.account_first_contacts_day if policy else None),
        warmup_waived=bool(policy.warmup_waived) if policy else False,
    )


def counter_values(raw: dict[str, Any]) -> list[tuple[str, int]]:
    """Every counter a usage item holds (typed AttributeValue form): `used` under the item's key, each day
    field of an account's month under `<item>|dNN`."""
    item = raw["key"]["S"]
    values = [(item, int(raw.get(USED_FIELD, {}).get("N", "0")))]
    for name, value in raw.items():
        key = f"{item}|{name}"
        if counter_item(key) == (item, name) and "N" in value:
            values.append((key, int(value["N"])))
    return values


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class AccountPolicyStore:
    """An account's overrides of the anti-cold-outbound rules (one directory item per account)."""

    def set_first_contacts(
        self, account_id: str, limit: int | None, *, now: datetime, account_limit: int | None = None
    ) -> None:
        pk, sk = account_policy_key(account_id)
        mailbox, account = (
            AccountPolicyRecord.first_contacts_day,
            AccountPolicyRecord.account_first_contacts_day,
        )
        AccountPolicyRecord(pk, sk).update(
            actions=[
                mailbox.set(limit) if limit is not None else mailbox.remove(),
                account.set(account_limit) if account_limit is not None else account.remove(),
                AccountPolicyRecord.updated_at.set(now),
            ]
        )

    def set_warmup_waived(self, account_id: str, waived: bool, *, now: datetime) -> None:
        pk, sk = account_policy_key(account_id)
        AccountPolicyRecord(pk, sk).update(
            actions=[AccountPolicyRecord.warmup_waived.set(waived), AccountPolicyRecord.updated_at.set(now)]
        )

    def policy(self, account_id: str) -> AccountPolicy:
        pk, sk = account_policy_key(account_id)
        try:
            record = AccountPolicyRecord.get(pk, sk, consistent_read=True)
        except AccountPolicyRecord.DoesNotExist:
            return AccountPolicy()
        return AccountPolicy(
            first_contacts=_int(record.first_contacts_day),
            account_first_contacts=_int(record.account_first_contacts_day),
            warmup_waived=bool(record.warmup_waived),
        )

    def first_contacts(self, account_id: str) -> int | None:
        pk, sk = account_policy_key(account_id)
        try:
            value = AccountPolicyRecord.get(pk, sk, consistent_read=True).first_contacts_day
        except AccountPolicyRecord.DoesNotExist:
            return None
        return None if value is None else int(value)
