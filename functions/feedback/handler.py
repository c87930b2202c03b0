"""Feedback (SES → SNS → SQS → this Lambda): bounces, complaints and deliveries, one record at a time.

Every record ends one of three ways: applied; acknowledged with a logged reason (nothing usable in it:
malformed, an unknown type, an SNS control message; or not about a message of ours; or already applied);
or, only when LiteMX could not write what it decided, failed with an ERROR log: it returns to the queue
and after the queue's receive limit parks in its DLQ. Parsing never raises, and a bad recipient is skipped
(and logged), so no record can poison the queue or hold back the rest of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.feedback.settings import FeedbackSettings, feedback_settings
from functions.observability import make_tracer
from functions.settings import audit_retention, table_names
from litemx.audit.store import AuditStore
from litemx.clock import Clock, SystemClock
from litemx.directory.store import DirectoryStore
from litemx.feedback.logic import FeedbackPorts, handle_feedback
from litemx.feedback.models import Action, FeedbackOutcome
from litemx.feedback.notifications import Unusable, parse_body
from litemx.feedback.store import DynamoFeedbackLedger
from litemx.messages.store import MessageStore
from litemx.reputation.store import DynamoReputationStore
from litemx.storage.tables import bind_tables
from litemx.suppression.store import SuppressionStore

logger = Logger()
tracer = make_tracer()
metrics = Metrics()
# A batch whose every record failed is reported like any partial failure, not raised: same retries.
processor = BatchProcessor(
    event_type=EventType.SQS,
    raise_on_entire_batch_failure=False,
    logger=logger,  # type: ignore[arg-type]  # Powertools' Logger has the logging.Logger methods it calls
)


@dataclass(frozen=True)
class Runtime:
    settings: FeedbackSettings
    ports: FeedbackPorts
    clock: Clock


@cache
def runtime() -> Runtime:
    """Built on first use, not at import; cached for the life of the process."""
    bind_tables(table_names())
    ledger = DynamoFeedbackLedger()
    keep = audit_retention()
    return Runtime(
        settings=feedback_settings(),
        ports=FeedbackPorts(
            suppression=SuppressionStore(),
            messages=MessageStore(audit_retention=keep),
            ledger=ledger,
            reputation=DynamoReputationStore(),
            directory=DirectoryStore(),
            audit=AuditStore(keep),
        ),
        clock=SystemClock(),
    )


@tracer.capture_method
def record_handler(record: SQSRecord) -> str:
    try:
        return _handle(record)
    except Exception:
        # The last resort: a write failed. The record returns to the queue (and, after the queue's receive
        # limit, to its DLQ); this is the line that says which and why.
        logger.exception(
            "feedback record failed; it returns to the queue, then to the DLQ",
            sqs_message_id=record.message_id,
            receive_count=record.attributes.approximate_receive_count,
        )
        metrics.add_metric(name="FeedbackFailed", unit=MetricUnit.Count, value=1)
        raise


def _handle(record: SQSRecord) -> str:
    parsed = parse_body(record.body)
    if isinstance(parsed, Unusable):
        logger.warning(
            "feedback record acknowledged without action",
            reason=parsed.reason,
            notification_type=parsed.type_name,
            sqs_message_id=record.message_id,
        )
        metrics.add_metric(name="FeedbackUnusable", unit=MetricUnit.Count, value=1)
        return "unusable"
    rt = runtime()
    outcome = handle_feedback(
        parsed,
        ports=rt.ports,
        deployment=rt.settings.deployment,
        clock=rt.clock,
        thresholds=rt.settings.thresholds,
    )
    _observe(outcome)
    return outcome.action.value


def _observe(outcome: FeedbackOutcome) -> None:
    who = outcome.attribution
    logger.info(
        "feedback applied" if outcome.action is Action.APPLIED else "feedback acknowledged without change",
        feedback_id=outcome.event_id,
        kind=outcome.kind.value,
        action=outcome.action.value,
        account_id=who.account_id if who else None,
        mailbox=who.mailbox if who else None,
        message_id=who.message_id if who else None,
        message_status=outcome.message_status,
        suppressed=[f"{s.scope}:{s.address}" for s in outcome.suppressed],
        note=outcome.note or None,
    )
    if outcome.skipped:
        logger.warning(
            "feedback recipients skipped", feedback_id=outcome.event_id, skipped=list(outcome.skipped)
        )
        metrics.add_metric(
            name="FeedbackRecipientsSkipped", unit=MetricUnit.Count, value=len(outcome.skipped)
        )
    metrics.add_metric(name=f"Feedback{outcome.kind.value.title()}", unit=MetricUnit.Count, value=1)
    if outcome.suppressed:
        metrics.add_metric(name="AddressesSuppressed", unit=MetricUnit.Count, value=len(outcome.suppressed))
    for disabled in outcome.disabled:
        logger.warning(
            "automatically disabled", kind=disabled.kind, entity_id=disabled.entity_id, reason=disabled.reason
        )
        metrics.add_metric(name=f"{disabled.kind.title()}AutoDisabled", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
