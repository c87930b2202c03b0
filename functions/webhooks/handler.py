"""Webhook delivery (inbound → asynchronous invocation of this Lambda): POST one `message.received`
event, signed the Standard Webhooks way, to its subscription's URL.

Every invocation carries one job and ends one of four ways: delivered (2xx); dropped with a logged reason
(not a job, the subscription was removed, already delivered); a later receive scheduled (an EventBridge
Scheduler one-time schedule invoking this function again with the backoff delay); or, after 24 h of
retries, copied to the webhook DLQ. An exception (a DynamoDB or Scheduler request failed) is retried by
Lambda twice, then the event goes to the DLQ. The rules are in litemx.webhooks.delivery.
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
from functions.observability import make_tracer
from functions.settings import table_names
from functions.webhooks.settings import WebhookSettings, webhook_settings
from litemx.clock import Clock, SystemClock
from litemx.storage.session import lazy_client
from litemx.storage.tables import bind_tables
from litemx.webhooks.aws import SchedulerWebhookRetries
from litemx.webhooks.delivery import Action, DeliveryDeps, Outcome, Received, handle
from litemx.webhooks.destinations import SocketResolver
from litemx.webhooks.payloads import parse_invocation
from litemx.webhooks.store import WebhookStore
from litemx.webhooks.transport import HttpTransport

logger = Logger()
tracer = make_tracer()
metrics = Metrics()


@dataclass(frozen=True)
class Runtime:
    deps: DeliveryDeps
    settings: WebhookSettings
    clock: Clock

    def retries(self, function_arn: str) -> SchedulerWebhookRetries:
        """The next receive targets this function, named by the ARN it was invoked with (the function
        cannot be given its own ARN as a setting: the stack would refer to the function from itself)."""
        s = self.settings
        return SchedulerWebhookRetries(
            lazy_client("scheduler"),
            lazy_client("sqs"),
            function_arn=function_arn,
            group=s.schedule_group,
            role_arn=s.scheduler_role_arn,
            dlq_arn=s.dlq_arn,
            dlq_url=s.dlq_url,
        )


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
        settings=settings,
        clock=SystemClock(),
    )


def _observe(webhook_id: str, receive: int, outcome: Outcome) -> None:
    delivery = outcome.delivery
    logger.info(
        f"webhook {outcome.action.value}",
        webhook_id=webhook_id,
        receive=receive,
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
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    """The answer is for logs and tests only: an asynchronous invocation's result goes nowhere."""
    parsed = parse_invocation(event)
    if parsed is None:
        logger.error("webhook invocation acknowledged without action: not a job")
        metrics.add_metric(name="WebhookUnusable", unit=MetricUnit.Count, value=1)
        return {"outcome": "unusable"}
    job, receive = parsed
    rt = runtime()
    left = timedelta(milliseconds=context.get_remaining_time_in_millis())
    try:
        outcome = handle(
            Received(job=job, receive_count=receive),
            rt.deps,
            rt.retries(context.invoked_function_arn),
            now=rt.clock.now(),
            time_left=left,
            clock=rt.clock.now,
        )
    except Exception:
        # The last resort: a DynamoDB or Scheduler request failed. Lambda retries the invocation twice,
        # then parks the event in the webhook DLQ; this line says which and why.
        logger.exception("webhook invocation failed; Lambda retries it", webhook_id=job.webhook_id)
        metrics.add_metric(name="WebhookFailed", unit=MetricUnit.Count, value=1)
        raise
    _observe(job.webhook_id, receive, outcome)
    return {"outcome": outcome.action.value}


# Init ends here (functions/__init__.py).
ready()
