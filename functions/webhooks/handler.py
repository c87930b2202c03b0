"""Webhook delivery (inbound → SQS webhook queue → this Lambda): POST each `message.received` event,
signed the Standard Webhooks way, to its subscription's URL.

Every record ends one of four ways: delivered (2xx); dropped with a logged reason (not a job, the
subscription was removed, already delivered); delayed for a retry (SQS ChangeMessageVisibility with the
backoff delay, then reported as a batch item failure so SQS keeps it); or, after 24 h of retries,
copied to the webhook DLQ and acknowledged. The rules are in litemx.webhooks.delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.observability import make_tracer
from functions.settings import table_names
from functions.webhooks.settings import webhook_settings
from litemx.clock import Clock, SystemClock
from litemx.storage.session import client
from litemx.storage.tables import bind_tables
from litemx.webhooks.delivery import Action, DeliveryDeps, Outcome, Received, deliver
from litemx.webhooks.destinations import SocketResolver
from litemx.webhooks.events import parse_job
from litemx.webhooks.store import SqsWebhookQueue, WebhookStore
from litemx.webhooks.transport import HttpTransport

logger = Logger()
tracer = make_tracer()
metrics = Metrics()
processor = BatchProcessor(
    event_type=EventType.SQS,
    raise_on_entire_batch_failure=False,
    logger=logger,  # type: ignore[arg-type]  # Powertools' Logger has the logging.Logger methods it calls
)


class RetryLaterError(Exception):
    """Reported as a batch item failure: SQS keeps the record, invisible for the delay already set."""


@dataclass(frozen=True)
class Runtime:
    deps: DeliveryDeps
    queue: SqsWebhookQueue
    clock: Clock


@cache
def runtime() -> Runtime:
    """Built on first use, not at import; cached for the life of the process."""
    bind_tables(table_names())
    settings = webhook_settings()
    return Runtime(
        deps=DeliveryDeps(
            store=WebhookStore(),
            transport=HttpTransport(),
            resolver=SocketResolver(),
            api_base=settings.api_url,
            allow_local_http=settings.allow_local_http,
            max_receive_count=settings.max_receive_count,
        ),
        queue=SqsWebhookQueue(client("sqs"), settings.queue_url, settings.dlq_url),
        clock=SystemClock(),
    )


def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> str:
    job = parse_job(record.body)
    if job is None:
        logger.error(
            "webhook record acknowledged without action: not a job", sqs_message_id=record.message_id
        )
        metrics.add_metric(name="WebhookUnusable", unit=MetricUnit.Count, value=1)
        return "unusable"
    rt = runtime()
    attributes = record.attributes
    received = Received(job=job, receive_count=int(attributes.approximate_receive_count))
    left = lambda_context.get_remaining_time_in_millis() if lambda_context is not None else 60_000
    try:
        outcome = deliver(received, rt.deps, now=rt.clock.now(), time_left=timedelta(milliseconds=left))
    except Exception:
        # The last resort: a DynamoDB request failed. The record returns after the queue's visibility
        # timeout (and after its receive limit to the DLQ); this line says which and why.
        logger.exception("webhook record failed; it returns to the queue", webhook_id=job.webhook_id)
        metrics.add_metric(name="WebhookFailed", unit=MetricUnit.Count, value=1)
        raise
    _observe(job.webhook_id, outcome)
    if outcome.action in (Action.RETRY, Action.WAIT):
        rt.queue.delay(record.receipt_handle, max(1, int(outcome.delay.total_seconds())))
        raise RetryLaterError(f"{outcome.action.value} in {int(outcome.delay.total_seconds())} s")
    if outcome.action is Action.DEAD:
        rt.queue.dead_letter(record.body)
    return outcome.action.value


def _observe(webhook_id: str, outcome: Outcome) -> None:
    delivery = outcome.delivery
    logger.info(
        f"webhook {outcome.action.value}",
        webhook_id=webhook_id,
        mailbox=delivery.mailbox if delivery else None,
        attempts=delivery.attempts if delivery else None,
        status_code=delivery.last_status_code if delivery else None,
        error=(delivery.last_error if delivery else "") or None,
        delay_seconds=int(outcome.delay.total_seconds()) or None,
        detail=outcome.detail or None,
    )
    name = {
        Action.DELIVERED: "WebhookDelivered",
        Action.RETRY: "WebhookRetried",
        Action.DEAD: "WebhookDeadLettered",
        Action.WAIT: "WebhookWaited",
        Action.DROPPED: "WebhookDropped",
    }[outcome.action]
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
