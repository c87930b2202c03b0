"""The sender (send queue → this Lambda): each SQS record names one queued message; deliver it once.

Partial batch failures: a record that must be retried (throttling, another delivery's lease) or that
cannot be processed (a poison record) is reported failed, so only it returns to the queue; after the
queue's maxReceiveCount it is parked in the DLQ. Throttled records back off exponentially.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from functions.wiring import runtime
from litemx.outbound.aws import SqsSendQueue
from litemx.outbound.delivery import Delivery, RetryLaterError, deliver_batch

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# A batch whose every record failed is reported like any partial failure, not raised: same retries.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

BACKOFF_BASE_SECONDS = 10
BACKOFF_MAX_SECONDS = 900


class SendQueueMessage(BaseModel):
    message_id: str


def backoff_seconds(receive_count: int) -> int:
    return int(min(BACKOFF_BASE_SECONDS * 2 ** max(receive_count - 1, 0), BACKOFF_MAX_SECONDS))


# Outcomes of the batch being processed, worked out together before the records are answered one by one.
_batch: dict[str, Delivery | Exception] = {}


def _message_id(record: SQSRecord) -> str | None:
    try:
        return SendQueueMessage.model_validate_json(record.body).message_id
    except ValidationError:
        return None  # its record fails on its own below, and only it


@tracer.capture_method
def record_handler(record: SQSRecord) -> str:
    queued = SendQueueMessage.model_validate_json(record.body)
    rt = runtime()
    try:
        outcome = _batch[queued.message_id]
        if isinstance(outcome, Exception):
            raise outcome
        delivery = outcome
    except RetryLaterError as later:
        count = int(record.attributes.approximate_receive_count or 1)
        SqsSendQueue(rt.sqs, rt.settings.send_queue_url).defer(record.receipt_handle, backoff_seconds(count))
        metrics.add_metric(name="SendRetried", unit=MetricUnit.Count, value=1)
        logger.info("send deferred", message_id=queued.message_id, reason=str(later), receive_count=count)
        raise
    metrics.add_metric(name=f"Send{delivery.outcome.value.title()}", unit=MetricUnit.Count, value=1)
    logger.info(
        "send finished",
        message_id=delivery.message_id,
        outcome=delivery.outcome.value,
        reason=delivery.reason_code,
    )
    return delivery.outcome.value


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    ids = [m for m in (_message_id(SQSRecord(r)) for r in event.get("Records", [])) if m is not None]
    _batch.clear()
    _batch.update(deliver_batch(ids, runtime().delivery) if ids else {})
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
