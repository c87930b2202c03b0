"""Operator actions on webhooks (`litemx webhook ...`); each change is audited."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from litemx.clock import Clock
from litemx.directory.admin import AuditWriter, record_action
from litemx.directory.models import Mailbox, WebhookRoute
from litemx.errors import InvalidInputError
from litemx.webhooks.destinations import Resolver, vet_url
from litemx.webhooks.models import (
    DEFAULT_CONCURRENCY,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_CONCURRENCY,
    MAX_SUBSCRIPTIONS_PER_MAILBOX,
    MAX_TIMEOUT_SECONDS,
    Delivery,
    Subscription,
    SubscriptionLimitError,
)
from litemx.webhooks.signing import new_secret


class SubscriptionStore(Protocol):
    def add(self, subscription: Subscription) -> None: ...
    def remove(self, mailbox: str, subscription_id: str) -> Subscription: ...
    def routes(self, mailbox: str) -> tuple[WebhookRoute, ...]: ...
    def subscriptions(self, mailbox: str) -> list[Subscription]: ...
    def deliveries(self, mailbox: str, *, limit: int) -> list[Delivery]: ...


@dataclass(frozen=True)
class Settings:
    include_spam: bool = False
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    concurrency: int = DEFAULT_CONCURRENCY


def new_subscription_id() -> str:
    return f"whk-{secrets.token_hex(6)}"


def add(
    store: SubscriptionStore,
    audit: AuditWriter,
    clock: Clock,
    resolver: Resolver,
    *,
    mailbox: Mailbox,
    url: str,
    settings: Settings,
    actor: str,
    allow_local_http: bool = False,
) -> Subscription:
    """A new subscription; its `secret` is returned here once and never listed again."""
    if not 1 <= settings.timeout_seconds <= MAX_TIMEOUT_SECONDS:
        raise InvalidInputError(f"the delivery timeout is 1 to {MAX_TIMEOUT_SECONDS} seconds")
    if not 1 <= settings.concurrency <= MAX_CONCURRENCY:
        raise InvalidInputError(f"the concurrency limit is 1 to {MAX_CONCURRENCY}")
    vet_url(url, resolver, allow_local_http=allow_local_http)  # refuses before anything is stored
    if len(store.routes(mailbox.address)) >= MAX_SUBSCRIPTIONS_PER_MAILBOX:
        raise SubscriptionLimitError(
            f"{mailbox.address} has {MAX_SUBSCRIPTIONS_PER_MAILBOX} webhooks already; remove one first"
        )
    now = clock.now()
    subscription = Subscription(
        subscription_id=new_subscription_id(),
        mailbox=mailbox.address,
        account_id=mailbox.account_id,
        url=url,
        secret=new_secret(),
        include_spam=settings.include_spam,
        timeout_seconds=settings.timeout_seconds,
        concurrency=settings.concurrency,
        created_at=now,
    )
    store.add(subscription)
    details = {
        "mailbox": mailbox.address,
        "webhook": subscription.subscription_id,
        "url": url[:300],
        "include_spam": str(settings.include_spam).lower(),
        "timeout_seconds": str(settings.timeout_seconds),
        "concurrency": str(settings.concurrency),
    }
    record_action(audit, mailbox.account_id, now, "webhook.add", actor, details)
    return subscription


def remove(
    store: SubscriptionStore,
    audit: AuditWriter,
    clock: Clock,
    *,
    mailbox: Mailbox,
    subscription_id: str,
    actor: str,
) -> Subscription:
    removed = store.remove(mailbox.address, subscription_id)
    details = {"mailbox": mailbox.address, "webhook": subscription_id, "url": removed.url[:300]}
    record_action(audit, mailbox.account_id, clock.now(), "webhook.remove", actor, details)
    return removed
