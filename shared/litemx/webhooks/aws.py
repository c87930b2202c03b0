"""Lambda, EventBridge Scheduler and SQS adapters of the webhook ports (botocore lives here, clients are
passed in). Nothing here polls: a webhook costs requests only when mail comes.

- `LambdaWebhookOutbox` (inbound's `WebhookOutbox`): one asynchronous invocation (InvocationType=Event)
  of the delivery function per job. Lambda queues the event and answers 202; a function error is retried
  twice by Lambda, then the event goes to the function's dead-letter queue (the stack's EventInvokeConfig
  and DeadLetterConfig, https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).
- `SchedulerWebhookRetries` (delivery's `Retries`): the next receive as a one-time schedule, `at(...)` in
  UTC, flexible time window OFF, deleted after it fires (ActionAfterCompletion DELETE), in the stack's
  schedule group, whose target is the delivery function itself (Scheduler invokes Lambda
  asynchronously, https://docs.aws.amazon.com/lambda/latest/dg/with-eventbridge-scheduler.html). The
  schedule's own retry policy and dead-letter queue cover a target Scheduler could not invoke.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from litemx.webhooks.models import EnqueueError, WebhookJob
from litemx.webhooks.payloads import invocation

# "All schedule types on EventBridge Scheduler invoke their targets with 60 second precision": a
# schedule at 12:01 fires between 12:01:00 and 12:01:59
# (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html). A retry is therefore
# scheduled at the first whole minute at least `delay` (and at least SCHEDULE_LEAD, so that the time is
# never in the past when the request arrives) from now: never earlier than the rules ask; with the
# minute Scheduler takes, at most about 2 minutes later.
SCHEDULE_LEAD = timedelta(seconds=30)
# Scheduler's retries when it cannot invoke the target (Lambda's Invoke API throttling it, a service
# error): the most attempts it allows, for as long as Lambda keeps an asynchronous event; then the
# schedule's dead-letter queue (the webhook DLQ).
SCHEDULE_RETRY_ATTEMPTS = 185
SCHEDULE_MAX_EVENT_AGE = timedelta(hours=6)
# Schedule names: 1-64 characters of [0-9a-zA-Z-_.] (CreateSchedule's Name).
_NAME = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")


class LambdaWebhookOutbox:
    """The inbound side: one asynchronous invocation of the delivery function per job."""

    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function_name = function_name

    def enqueue(self, jobs: Sequence[WebhookJob]) -> None:
        refused: list[str] = []
        for job in jobs:
            payload = json.dumps(job.as_json(), separators=(",", ":")).encode("utf-8")
            try:
                answer = self._client.invoke(
                    FunctionName=self._function_name, InvocationType="Event", Payload=payload
                )
            except (ClientError, BotoCoreError) as error:
                refused.append(str(error))
                continue
            if answer.get("StatusCode") != 202:
                refused.append(f"status {answer.get('StatusCode')}")
        if refused:
            raise EnqueueError(
                f"the delivery function refused {len(refused)} of {len(jobs)} events: {refused[0]}"
            )


def fire_time(now: datetime, delay: timedelta) -> datetime:
    """The whole minute (UTC) a retry `delay` from `now` is scheduled at (see SCHEDULE_LEAD)."""
    earliest = now.astimezone(UTC) + max(delay, SCHEDULE_LEAD)
    whole = earliest.replace(second=0, microsecond=0)
    return whole if whole == earliest else whole + timedelta(minutes=1)


def schedule_name(job: WebhookJob, receive: int) -> str:
    """Deterministic per (event, receive): a repeated invocation asks for the same name, and Scheduler
    refuses a second schedule of that name in the group (ConflictException), so it cannot fork the
    chain. A webhook id is `msg_` and 32 hex digits; anything else is hashed into the allowed form."""
    name = f"{job.webhook_id}-{receive}"
    if _NAME.match(name):
        return name
    return f"whk_{hashlib.sha256(job.webhook_id.encode()).hexdigest()[:40]}-{receive}"


class SchedulerWebhookRetries:
    """The delivery side: the next receive as a one-time schedule; a dead event into the DLQ."""

    def __init__(
        self,
        scheduler: Any,
        sqs: Any,
        *,
        function_arn: str,
        group: str,
        role_arn: str,
        dlq_arn: str,
        dlq_url: str,
    ) -> None:
        self._scheduler = scheduler
        self._sqs = sqs
        self._function_arn = function_arn
        self._group = group
        self._role_arn = role_arn
        self._dlq_arn = dlq_arn
        self._dlq_url = dlq_url

    def later(self, job: WebhookJob, receive: int, *, now: datetime, delay: timedelta) -> datetime:
        at = fire_time(now, delay)
        try:
            self._scheduler.create_schedule(
                Name=schedule_name(job, receive),
                GroupName=self._group,
                ScheduleExpression=f"at({at:%Y-%m-%dT%H:%M:%S})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Description=f"webhook {job.webhook_id} receive {receive}"[:512],
                Target={
                    "Arn": self._function_arn,
                    "RoleArn": self._role_arn,
                    "Input": json.dumps(invocation(job, receive), separators=(",", ":")),
                    "RetryPolicy": {
                        "MaximumRetryAttempts": SCHEDULE_RETRY_ATTEMPTS,
                        "MaximumEventAgeInSeconds": int(SCHEDULE_MAX_EVENT_AGE.total_seconds()),
                    },
                    "DeadLetterConfig": {"Arn": self._dlq_arn},
                },
            )
        except ClientError as error:
            # Already scheduled by an earlier run of this same invocation (Lambda delivers an
            # asynchronous event at least once, and retries a failed one).
            if error.response.get("Error", {}).get("Code") != "ConflictException":
                raise
        return at

    def dead_letter(self, job: WebhookJob) -> None:
        body = json.dumps(job.as_json(), separators=(",", ":"))
        self._sqs.send_message(QueueUrl=self._dlq_url, MessageBody=body)


__all__ = ["LambdaWebhookOutbox", "SchedulerWebhookRetries", "fire_time", "schedule_name"]
