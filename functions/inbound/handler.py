"""Inbound (SES receipt rule: S3 action, then this Lambda): file each received message into its mailboxes.

Every invocation ends one of three ways: filed (or already filed), acknowledged with a logged reason (a
record that is not an SES receipt: retrying it could never help), or, when a write fails, an ERROR log and
an exception: Lambda retries twice and parks the event in the DLQ, and the raw message stays in S3, so
nothing is lost. Parsing the mail itself never raises. Storing is idempotent on the SES message id, so
retries and duplicate invocations are harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import ready
from functions.inbound.settings import InboundSettings, inbound_settings
from functions.observability import make_tracer
from functions.settings import table_names
from litemx.clock import SystemClock
from litemx.directory.store import DirectoryStore
from litemx.inbound import mime  # noqa: F401 - every receipt is parsed: imported at init
from litemx.inbound.events import parse_event
from litemx.inbound.logic import WebhookOutbox, receive
from litemx.inbound.models import DeliveryOutcome, Folder
from litemx.inbound.store import DynamoInboundIndex, IndexRetention, S3RawMail
from litemx.storage.session import lazy_client
from litemx.storage.tables import bind_tables
from litemx.webhooks.aws import LambdaWebhookOutbox

logger = Logger()
tracer = make_tracer()
metrics = Metrics()


@dataclass(frozen=True)
class Runtime:
    settings: InboundSettings
    raw: S3RawMail
    index: DynamoInboundIndex
    directory: DirectoryStore
    clock: SystemClock
    webhooks: WebhookOutbox | None = None


@cache
def runtime() -> Runtime:
    """Built on first use, not at import; cached for the life of the process."""
    bind_tables(table_names())
    settings = inbound_settings()
    return Runtime(
        settings=settings,
        raw=S3RawMail(lazy_client("s3"), settings.raw_mail_bucket),
        index=DynamoInboundIndex(
            IndexRetention(timedelta(days=settings.raw_mail_retention_days), SystemClock())
        ),
        directory=DirectoryStore(),
        clock=SystemClock(),
        webhooks=LambdaWebhookOutbox(lazy_client("lambda"), settings.webhook_function),
    )


def _observe(outcome: DeliveryOutcome) -> None:
    logger.info(
        "mail received",
        ses_message_id=outcome.ses_message_id,
        folder=outcome.folder.value,
        stored=list(outcome.stored),
        duplicates=list(outcome.duplicates),
        correspondents=len(outcome.correspondents),
        flags=sorted(flag.value for flag in outcome.flags),
    )
    if outcome.unknown_recipients:
        logger.warning(
            "mail for unknown recipients not stored",
            ses_message_id=outcome.ses_message_id,
            recipients=[r[:320] for r in outcome.unknown_recipients[:50]],
        )
    if outcome.webhooks_failed:
        # The mail is filed; its webhook events are not (a redelivered receipt would not announce them).
        logger.error(
            "webhook events not queued",
            ses_message_id=outcome.ses_message_id,
            mailboxes=list(outcome.stored),
            error=outcome.webhooks_failed[:500],
        )
        metrics.add_metric(name="WebhookEnqueueFailed", unit=MetricUnit.Count, value=1)
    if outcome.webhooks_queued:
        metrics.add_metric(name="WebhooksQueued", unit=MetricUnit.Count, value=outcome.webhooks_queued)
    metrics.add_metric(name="InboundStored", unit=MetricUnit.Count, value=len(outcome.stored))
    metrics.add_metric(
        name="InboundUnknownRecipients", unit=MetricUnit.Count, value=len(outcome.unknown_recipients)
    )
    if outcome.duplicates:
        metrics.add_metric(name="InboundDuplicates", unit=MetricUnit.Count, value=len(outcome.duplicates))
    if outcome.folder is not Folder.INBOX:
        metrics.add_metric(name=f"Inbound{outcome.folder.value.title()}", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = parse_event(event)
    for reason in parsed.unusable:
        logger.error("receipt record acknowledged without action", reason=reason)
        metrics.add_metric(name="InboundUnusable", unit=MetricUnit.Count, value=1)
    for receipt in parsed.receipts:
        try:
            rt = runtime()
            outcome = receive(
                receipt,
                raw=rt.raw,
                location=rt.settings.location,
                index=rt.index,
                directory=rt.directory,
                clock=rt.clock,
                max_parse_bytes=rt.settings.max_parse_bytes,
                webhooks=rt.webhooks,
            )
        except Exception:
            # The last resort: a write (or the bucket) failed. Lambda retries, then parks the event in
            # the DLQ; this line says which message and why.
            logger.exception(
                "receipt not filed; the event will be retried", ses_message_id=receipt.ses_message_id
            )
            raise
        _observe(outcome)
    # Only read when SES invokes synchronously (RequestResponse): let the receipt rule go on.
    return {"disposition": "CONTINUE"}


# Init ends here (functions/__init__.py).
ready()
