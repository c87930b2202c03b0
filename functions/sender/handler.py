"""The sender (send queue → this Lambda): each SQS record names one queued message (and carries a small
message's MIME inline); deliver it once.

Partial batch failures: only a record that cannot be processed (a poison record, an unexpected error) is
reported failed, so only it returns to the queue, and after the queue's maxReceiveCount SQS parks it in
the DLQ; on that last receive its message is first settled as `failed` (`send_dead_lettered`). A message
that must wait (throttling, the daily quota, another delivery's lease) is not a failure: it is re-queued
as a new message with DelaySeconds (chained in steps of at most 15 minutes until its `not_before`) and
its record succeeds, so waiting never counts towards the DLQ.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field, ValidationError, field_validator

from functions import ready
from functions.observability import make_tracer
from functions.wiring import runtime
from litemx.outbound.aws import SqsSendQueue
from litemx.outbound.delivery import (
    Delivery,
    RetryLaterError,
    delay_seconds,
    deliver_batch,
    give_up,
    retry_at,
)

logger = Logger()
tracer = make_tracer()
metrics = Metrics()
# A batch whose every record failed is reported like any partial failure, not raised: same retries.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class SendQueueMessage(BaseModel):
    message_id: str
    not_before: int | None = None  # epoch seconds: a deferred message waits until then
    deferrals: int = Field(default=0, ge=0)
    raw: bytes | None = None  # a small message's MIME, inline instead of in the bucket (base64 in JSON)

    @field_validator("raw", mode="before")
    @classmethod
    def _strict_base64(cls, value: object) -> bytes | None:
        """Strict: a damaged body fails its record rather than sending other bytes than were composed."""
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("raw must be base64 text")
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as error:
            raise ValueError("raw is not valid base64") from error


# Outcomes of the batch being processed, worked out together before the records are answered one by one.
_batch: dict[str, Delivery | Exception] = {}


def _parse(record: SQSRecord) -> SendQueueMessage | None:
    try:
        return SendQueueMessage.model_validate_json(record.body)
    except ValidationError:
        return None  # its record fails on its own below, and only it


def _waiting(queued: SendQueueMessage, now: datetime) -> bool:
    return queued.not_before is not None and queued.not_before > now.timestamp()


def _requeue(queued: SendQueueMessage, *, not_before: datetime, deferrals: int, now: datetime) -> int:
    rt = runtime()
    delay = delay_seconds(not_before, now)
    SqsSendQueue(rt.sqs, rt.settings.send_queue_url).enqueue_later(
        queued.message_id,
        delay_seconds=delay,
        not_before=int(not_before.timestamp()),
        deferrals=deferrals,
        raw=queued.raw,
    )
    return delay


@tracer.capture_method
def record_handler(record: SQSRecord) -> str:
    queued = SendQueueMessage.model_validate_json(record.body)
    now = runtime().delivery.clock.now()
    if _waiting(queued, now):
        # Still inside a chained delay: the next link, nothing else (no DynamoDB, no provider call).
        assert queued.not_before is not None
        not_before = datetime.fromtimestamp(queued.not_before, UTC)
        _requeue(queued, not_before=not_before, deferrals=queued.deferrals, now=now)
        return "waiting"
    outcome = _batch[queued.message_id]
    if isinstance(outcome, RetryLaterError):
        not_before = retry_at(outcome, deferrals=queued.deferrals, now=now)
        delay = _requeue(queued, not_before=not_before, deferrals=queued.deferrals + 1, now=now)
        metrics.add_metric(name="SendDeferred", unit=MetricUnit.Count, value=1)
        logger.info(
            "send deferred",
            message_id=queued.message_id,
            reason=outcome.reason.value,
            detail=str(outcome),
            not_before=not_before.isoformat(),
            delay_seconds=delay,
            deferrals=queued.deferrals + 1,
        )
        return "deferred"
    if isinstance(outcome, Exception):
        raise outcome
    metrics.add_metric(name=f"Send{outcome.outcome.value.title()}", unit=MetricUnit.Count, value=1)
    logger.info(
        "send finished",
        message_id=outcome.message_id,
        outcome=outcome.outcome.value,
        reason=outcome.reason_code,
    )
    return outcome.outcome.value


def _settle_last_receives(event: dict[str, Any], failed_ids: set[str]) -> None:
    """Records failing on the queue's last receive go to the DLQ next: settle their messages first."""
    rt = runtime()
    limit = rt.settings.send_max_receive_count
    for raw in event.get("Records", []):
        record = SQSRecord(raw)
        if record.message_id not in failed_ids:
            continue
        if int(record.attributes.approximate_receive_count or 1) < limit:
            continue
        queued = _parse(record)
        if queued is None:
            continue  # a poison body names no message
        detail = f"Sending failed on {limit} attempts; its queue record is parked in the dead-letter queue."
        try:
            settled = give_up(queued.message_id, rt.delivery, detail=detail)
        except Exception:  # the records' answer stands; the DLQ alarm still reports the record
            logger.exception("could not settle a dead-lettered send", message_id=queued.message_id)
            continue
        if settled is not None:
            logger.error("send dead-lettered", message_id=queued.message_id)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    now = runtime().delivery.clock.now()
    parsed = [_parse(SQSRecord(r)) for r in event.get("Records", [])]
    due = [q for q in parsed if q is not None and not _waiting(q, now)]
    ids = [q.message_id for q in due]
    inline = {q.message_id: q.raw for q in due if q.raw is not None}
    _batch.clear()
    _batch.update(deliver_batch(ids, runtime().delivery, inline) if ids else {})
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    failed = {str(f["itemIdentifier"]) for f in response.get("batchItemFailures", [])}
    if failed:
        _settle_last_receives(event, failed)
    return response


# Init ends here (functions/__init__.py).
ready()
