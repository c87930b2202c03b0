"""Webhook domain types: subscriptions, the queued job, deliveries and their refusals."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from litemx.errors import InvalidInputError, LiteMXError

EVENT_MESSAGE_RECEIVED = "message.received"
MAX_SUBSCRIPTIONS_PER_MAILBOX = 5
DEFAULT_TIMEOUT_SECONDS = 10
MAX_TIMEOUT_SECONDS = 15
DEFAULT_CONCURRENCY = 2
MAX_CONCURRENCY = 10
# Standard Webhooks asks for retries over about a day; past this age an event goes to the DLQ.
RETRY_WINDOW = timedelta(hours=24)


class DeliveryStatus(StrEnum):
    RETRYING = "retrying"  # an attempt failed; the next one is scheduled (next_attempt_at)
    DELIVERED = "delivered"  # the receiver answered 2xx
    DEAD = "dead"  # retries exhausted (24 h, or the receive limit): the event is in the DLQ


@dataclass(frozen=True)
class Subscription:
    """One mailbox's webhook: where new mail is announced, and the secret that signs it."""

    subscription_id: str
    mailbox: str
    account_id: str
    url: str
    secret: str  # `whsec_<base64>`; shown once when created, never listed
    include_spam: bool = False
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    concurrency: int = DEFAULT_CONCURRENCY
    created_at: datetime | None = None


@dataclass(frozen=True)
class WebhookJob:
    """What the inbound path queues for one (subscription, received message): the event without the
    absolute link (the delivery function knows the API's address) and never the body."""

    subscription_id: str
    mailbox: str
    message_id: str
    webhook_id: str
    data: dict[str, Any]
    # When inbound queued it (its clock): the 24 h of retries count from here. Carried in the job, not
    # read from the transport, so that time stays an input of the rules.
    queued_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "v": 1,
            "queued_at": self.queued_at.astimezone(UTC).isoformat(),
            "subscription_id": self.subscription_id,
            "mailbox": self.mailbox,
            "message_id": self.message_id,
            "webhook_id": self.webhook_id,
            "data": self.data,
        }


def webhook_id(subscription_id: str, message_id: str) -> str:
    """Standard Webhooks' `webhook-id`: the same for every attempt of one event to one subscription, so
    a receiver can drop a repeat."""
    digest = hashlib.sha256(f"{subscription_id}\n{message_id}".encode()).hexdigest()[:32]
    return f"msg_{digest}"


@dataclass(frozen=True)
class Delivery:
    """The state of one event's delivery to one subscription (`litemx webhook deliveries`)."""

    webhook_id: str
    subscription_id: str
    mailbox: str
    message_id: str
    status: DeliveryStatus
    attempts: int = 0
    last_error: str = ""
    last_status_code: int | None = None
    first_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None


class WebhookUrlError(InvalidInputError):
    """Not an https URL LiteMX will call (or, in local mode, http://127.0.0.1)."""

    code = "webhook_url_invalid"


class DestinationRefusedError(LiteMXError):
    """The URL's host resolves to an address LiteMX never calls (private, loopback, link-local, ...)."""

    code = "webhook_destination_refused"


class UnresolvableError(LiteMXError):
    code = "webhook_host_unresolvable"


class SubscriptionLimitError(LiteMXError):
    code = "webhook_limit_reached"


class SubscriptionNotFoundError(LiteMXError):
    code = "webhook_not_found"


class EnqueueError(LiteMXError):
    """The delivery function's asynchronous invocation was refused (the mail itself is filed; the event is
    logged as lost)."""

    code = "webhook_enqueue_failed"
