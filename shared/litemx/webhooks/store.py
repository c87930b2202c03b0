"""Webhook storage: subscriptions, concurrency slots and deliveries in the webhooks table, and the summary
on the mailbox item (pynamodb stays in here; the Lambda, Scheduler and SQS adapters are in
litemx.webhooks.aws)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from litemx.directory.models import WebhookRoute
from litemx.directory.store import mailbox_key, webhook_routes, webhook_summary
from litemx.errors import NotFoundError, StoreBusyError
from litemx.storage.session import shared_connection
from litemx.storage.tables import (
    MailboxRecord,
    WebhookDeliveryRecord,
    WebhookItem,
    WebhookSlotRecord,
    WebhookSubscriptionRecord,
)
from litemx.webhooks.models import (
    Delivery,
    DeliveryStatus,
    Subscription,
    SubscriptionNotFoundError,
)

SUBSCRIPTION_PREFIX, SLOT_PREFIX, DELIVERY_PREFIX = "sub#", "slot#", "dlv#"
DELIVERY_RETENTION = timedelta(days=14)
MAX_ERROR_CHARS = 300
_SUMMARY_RETRIES = 3


def subscription_sk(subscription_id: str) -> str:
    return f"{SUBSCRIPTION_PREFIX}{subscription_id}"


def delivery_sk(message_id: str, subscription_id: str) -> str:
    """Sorted by the message's public id, which starts with its receive time: newest last."""
    return f"{DELIVERY_PREFIX}{message_id}#{subscription_id}"


def slot_sk(subscription_id: str, index: int) -> str:
    return f"{SLOT_PREFIX}{subscription_id}#{index}"


def _subscription(record: WebhookSubscriptionRecord) -> Subscription:
    return Subscription(
        subscription_id=record.subscription_id,
        mailbox=record.mailbox,
        account_id=record.account_id,
        url=record.url,
        secret=record.secret,
        include_spam=bool(record.include_spam),
        timeout_seconds=int(record.timeout_seconds),
        concurrency=int(record.concurrency),
        created_at=record.created_at,
    )


def _delivery(record: WebhookDeliveryRecord) -> Delivery:
    status = record.status if record.status in DeliveryStatus.__members__.values() else "retrying"
    return Delivery(
        webhook_id=record.webhook_id,
        subscription_id=record.subscription_id,
        mailbox=record.mailbox,
        message_id=record.message_id,
        status=DeliveryStatus(status),
        attempts=int(record.attempts or 0),
        last_error=record.last_error or "",
        last_status_code=None if record.last_status_code is None else int(record.last_status_code),
        first_attempt_at=record.first_attempt_at,
        last_attempt_at=record.last_attempt_at,
        next_attempt_at=record.next_attempt_at,
    )


class WebhookStore:
    """Subscriptions (written by the operator CLI), slots and deliveries (written by the delivery
    function)."""

    # ---- subscriptions: the item in the webhooks table and the mailbox's summary change together ----

    def add(self, subscription: Subscription) -> None:
        record = WebhookSubscriptionRecord(
            subscription.mailbox,
            subscription_sk(subscription.subscription_id),
            subscription_id=subscription.subscription_id,
            account_id=subscription.account_id,
            url=subscription.url,
            secret=subscription.secret,
            include_spam=subscription.include_spam,
            timeout_seconds=subscription.timeout_seconds,
            concurrency=subscription.concurrency,
            created_at=subscription.created_at,
        )
        route = WebhookRoute(subscription.subscription_id, subscription.include_spam)
        self._change_summary(
            subscription.mailbox,
            lambda routes: [*routes, route],
            lambda tx: tx.save(record, condition=WebhookSubscriptionRecord.sk.does_not_exist()),
        )

    def remove(self, mailbox: str, subscription_id: str) -> Subscription:
        found = self.get(mailbox, subscription_id)
        if found is None:
            raise SubscriptionNotFoundError(f"{mailbox} has no webhook {subscription_id}")
        record = WebhookSubscriptionRecord(mailbox, subscription_sk(subscription_id))
        self._change_summary(
            mailbox,
            lambda routes: [r for r in routes if r.subscription_id != subscription_id],
            lambda tx: tx.delete(record),
        )
        return found

    def routes(self, mailbox: str) -> tuple[WebhookRoute, ...]:
        return webhook_routes(self._mailbox_record(mailbox).webhooks)

    def _mailbox_record(self, mailbox: str) -> MailboxRecord:
        pk, sk = mailbox_key(mailbox)
        try:
            return MailboxRecord.get(pk, sk, consistent_read=True)
        except DoesNotExist:
            raise NotFoundError(f"mailbox {mailbox} does not exist") from None

    def _change_summary(self, mailbox: str, change: Any, write: Any) -> None:
        """The mailbox's summary and the subscription item in one transaction, conditional on the summary
        the change was computed from (two operators at once: one retries)."""
        for _ in range(_SUMMARY_RETRIES):
            current = self._mailbox_record(mailbox)
            new = webhook_summary(change(webhook_routes(current.webhooks)))
            unchanged = (
                MailboxRecord.webhooks.does_not_exist()
                if current.webhooks is None
                else MailboxRecord.webhooks == current.webhooks
            )
            action = MailboxRecord.webhooks.set(new) if new else MailboxRecord.webhooks.remove()
            try:
                with TransactWrite(connection=shared_connection()) as tx:
                    write(tx)
                    tx.update(current, actions=[action], condition=MailboxRecord.pk.exists() & unchanged)
                return
            except TransactWriteError as error:
                reasons = [r.code if r else "None" for r in (error.cancellation_reasons or [])]
                if "ConditionalCheckFailed" not in reasons and "TransactionConflict" not in reasons:
                    raise
        raise StoreBusyError(f"the webhooks of {mailbox} changed meanwhile; nothing was written, retry")

    def get(self, mailbox: str, subscription_id: str) -> Subscription | None:
        try:
            record = WebhookSubscriptionRecord.get(
                mailbox, subscription_sk(subscription_id), consistent_read=True
            )
        except DoesNotExist:
            return None
        return _subscription(record)

    def subscriptions(self, mailbox: str) -> list[Subscription]:
        records = WebhookSubscriptionRecord.query(
            mailbox, WebhookSubscriptionRecord.sk.startswith(SUBSCRIPTION_PREFIX), consistent_read=True
        )
        return [_subscription(r) for r in records]

    # ---- delivery: one batched read, a slot, the outcome ----

    def load(
        self, mailbox: str, subscription_id: str, message_id: str
    ) -> tuple[Subscription | None, Delivery | None]:
        keys = [
            (mailbox, subscription_sk(subscription_id)),
            (mailbox, delivery_sk(message_id, subscription_id)),
        ]
        subscription, delivery = None, None
        for item in WebhookItem.batch_get(keys, consistent_read=True):
            if isinstance(item, WebhookSubscriptionRecord):
                subscription = _subscription(item)
            elif isinstance(item, WebhookDeliveryRecord):
                delivery = _delivery(item)
        return subscription, delivery

    def acquire_slot(
        self, subscription: Subscription, holder: str, *, now: datetime, lease: timedelta
    ) -> bool:
        """One of the subscription's `concurrency` slots, leased to `holder` until now + lease (a crashed
        holder's lease simply runs out). Tries the holder's own slot first, then the others."""
        count = max(1, subscription.concurrency)
        start = int(hashlib.sha256(holder.encode()).hexdigest(), 16) % count
        now_ms, until_ms = _ms(now), _ms(now + lease)
        for offset in range(count):
            slot = WebhookSlotRecord(
                subscription.mailbox, slot_sk(subscription.subscription_id, (start + offset) % count)
            )
            free = (
                WebhookSlotRecord.lease_until.does_not_exist()
                | (WebhookSlotRecord.lease_until < now_ms)
                | (WebhookSlotRecord.holder == holder)
            )
            try:
                slot.update(
                    actions=[
                        WebhookSlotRecord.holder.set(holder),
                        WebhookSlotRecord.lease_until.set(until_ms),
                    ],
                    condition=free,
                )
                return True
            except UpdateError as error:
                if error.cause_response_code != "ConditionalCheckFailedException":
                    raise
        return False

    def release_slot(self, subscription: Subscription, holder: str) -> None:
        count = max(1, subscription.concurrency)
        start = int(hashlib.sha256(holder.encode()).hexdigest(), 16) % count
        for offset in range(count):
            slot = WebhookSlotRecord(
                subscription.mailbox, slot_sk(subscription.subscription_id, (start + offset) % count)
            )
            try:
                slot.update(
                    actions=[WebhookSlotRecord.holder.remove(), WebhookSlotRecord.lease_until.remove()],
                    condition=WebhookSlotRecord.holder == holder,
                )
                return
            except UpdateError as error:
                if error.cause_response_code != "ConditionalCheckFailedException":
                    raise

    def record(self, delivery: Delivery, *, now: datetime) -> None:
        record = WebhookDeliveryRecord(
            delivery.mailbox,
            delivery_sk(delivery.message_id, delivery.subscription_id),
            webhook_id=delivery.webhook_id,
            subscription_id=delivery.subscription_id,
            message_id=delivery.message_id,
            status=delivery.status.value,
            attempts=delivery.attempts,
            last_error=delivery.last_error[:MAX_ERROR_CHARS],
            last_status_code=delivery.last_status_code,
            first_attempt_at=delivery.first_attempt_at,
            last_attempt_at=delivery.last_attempt_at,
            next_attempt_at=delivery.next_attempt_at,
            expires_at=int((now + DELIVERY_RETENTION).timestamp()),
        )
        # A delivered record is final: a late duplicate chain (Lambda delivers an asynchronous event at
        # least once) that failed its own attempt must not reopen it, and then finds it delivered.
        try:
            record.save(condition=WebhookDeliveryRecord.status != DeliveryStatus.DELIVERED.value)
        except PutError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise

    def deliveries(self, mailbox: str, *, limit: int) -> list[Delivery]:
        records = WebhookDeliveryRecord.query(
            mailbox,
            WebhookDeliveryRecord.sk.startswith(DELIVERY_PREFIX),
            scan_index_forward=False,
            limit=limit,
            consistent_read=True,
        )
        return [_delivery(r) for r in records]


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


__all__ = ["WebhookStore"]
