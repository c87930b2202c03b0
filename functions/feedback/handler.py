"""Feedback (SES → SNS → this Lambda, invoked asynchronously): bounces, complaints, deliveries, rejects.

SNS invokes the function with one notification per event (`Records[0].Sns.Message` is SES's JSON); the
handler reads every record all the same. Each record ends one of three ways: applied; acknowledged with a
logged reason (nothing usable in it: malformed, an unknown type, not an SNS notification; or not about a
message of ours; or already applied), the handler returning normally; or, only when a store request failed
(LiteMX could not read what it needs or write what it decided), logged at ERROR and raised: Lambda retries
the event twice (1 and 2 minutes later), then parks it in the feedback DLQ, whence `litemx queue redrive
feedback` replays it (see infra/constructs/feedback.py). Parsing never raises and a bad recipient is
skipped (and logged), so no notification can be retried into a poison loop; a replayed or redelivered
notification is applied once (the feedback ledger).

The TopicArn is not checked: the function's resource policy lets SNS invoke it from the feedback topic only
(pinned by the infra tests), anyone else invoking it is a principal of this account (the redrive is one), and
whether a notification is about our mail is decided by what it says (sending account, configuration set), not
by the route it took.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import SNSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import ready
from functions.feedback.settings import FeedbackSettings, feedback_settings
from functions.observability import make_tracer
from functions.settings import audit_retention, table_names
from litemx.audit.store import AuditStore
from litemx.clock import Clock, SystemClock
from litemx.directory.store import DirectoryStore
from litemx.feedback.logic import FeedbackPorts, handle_feedback
from litemx.feedback.models import Action, FeedbackOutcome
from litemx.feedback.notifications import Unusable, parse_sns_record
from litemx.feedback.store import DynamoFeedbackLedger
from litemx.messages.store import MessageStore
from litemx.reputation.store import DynamoReputationStore
from litemx.storage.tables import bind_tables
from litemx.suppression.store import SuppressionStore

logger = Logger()
tracer = make_tracer()
metrics = Metrics()


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
def record_handler(record: object) -> str:
    """One SNS record -> what became of it ("applied", "unchanged", "unusable"); raises only when a store
    request (a read or a write) failed."""
    message_id = _message_id(record)
    try:
        return _handle(record, message_id)
    except Exception:
        # The last resort: a write failed. Lambda retries the event, then parks it in the feedback DLQ;
        # this is the line that says which and why.
        logger.exception(
            "feedback notification failed; Lambda retries it twice, then parks it in the feedback DLQ",
            sns_message_id=message_id,
        )
        metrics.add_metric(name="FeedbackFailed", unit=MetricUnit.Count, value=1)
        raise


def _handle(record: object, message_id: str | None) -> str:
    parsed = parse_sns_record(record)
    if isinstance(parsed, Unusable):
        _unusable(parsed, message_id)
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


def _unusable(parsed: Unusable, message_id: str | None) -> None:
    logger.warning(
        "feedback notification acknowledged without action",
        reason=parsed.reason,
        notification_type=parsed.type_name,
        sns_message_id=message_id,
    )
    metrics.add_metric(name="FeedbackUnusable", unit=MetricUnit.Count, value=1)


def _message_id(record: object) -> str | None:
    sns = record.get("Sns") if isinstance(record, dict) else None
    found = sns.get("MessageId") if isinstance(sns, dict) else None
    return found[:100] if isinstance(found, str) else None


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
@event_source(data_class=SNSEvent)
def handler(event: SNSEvent, context: LambdaContext) -> dict[str, list[str]]:
    """What became of each record. Every record is handled before the first failure is raised, so a retry
    re-applies nothing that was applied (the ledger makes it a no-op) and misses nothing."""
    raw = event.raw_event  # whatever invoked the function: not necessarily an object
    records = raw.get("Records") if isinstance(raw, dict) else None
    if not isinstance(records, list) or not records:
        _unusable(Unusable("the event holds no SNS records"), None)
        return {"outcomes": ["unusable"]}
    outcomes: list[str] = []
    failure: Exception | None = None
    for record in records:
        try:
            outcomes.append(record_handler(record))
        except Exception as problem:  # logged in record_handler; raised once the others are handled
            outcomes.append("failed")
            failure = failure or problem
    if failure is not None:
        raise failure
    return {"outcomes": outcomes}


# Init ends here (functions/__init__.py).
ready()
