"""Webhooks for new mail: the webhook queue (+DLQ) that inbound fills, and the delivery function.

Retries use ChangeMessageVisibility on the same message (litemx.webhooks.delivery): each attempt is a
receive, so the queue's maxReceiveCount sits well above the 16 attempts of 24 h plus the short waits
for a busy subscription; the function dead-letters a record itself when the 24 h run out (or on the last
receive), with its delivery record, so `litemx webhook deliveries` shows why.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct

from infra.constructs.access import DYNAMODB_ACTIONS
from infra.constructs.data import Data
from infra.constructs.function import FunctionFactory, LiteMXFunction
from infra.constructs.queues import queue_with_dlq

WEBHOOK_TIMEOUT = Duration.seconds(60)
# Attempts over 24 h (litemx.webhooks.delivery.schedule: 16) plus waits for a busy subscription.
WEBHOOK_MAX_RECEIVE_COUNT = 50
# Records per invocation: each takes at most its receiver's timeout (<= 15 s) + 5 s, and a record that
# would not fit in the time left waits instead (not counted as an attempt).
WEBHOOK_BATCH_SIZE = 5
WEBHOOK_MAX_CONCURRENCY = 10
# 24 h of retries, the last gap up to 3 h, and slack: then SQS drops what no one consumed.
WEBHOOK_RETENTION = Duration.days(4)


class Webhooks(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: FunctionFactory,
        data: Data,
        inbound_function: LiteMXFunction,
        api_url: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.queue, self.dlq = queue_with_dlq(
            self,
            "Queue",
            visibility_timeout=Duration.seconds(WEBHOOK_TIMEOUT.to_seconds() * 6),
            max_receive_count=WEBHOOK_MAX_RECEIVE_COUNT,
        )
        inbound_function.use_queue_sender("WEBHOOK_QUEUE_URL", self.queue)

        self.function = factory.create(
            self,
            "Handler",
            name="webhooks",
            description="Posts signed message.received events to the mailboxes' webhooks",
            timeout=WEBHOOK_TIMEOUT,
            memory_size=256,
        )
        for role, actions in DYNAMODB_ACTIONS["webhooks"].items():
            self.function.use_table(data.table(role), actions)
        self.function.set_env("WEBHOOK_QUEUE_URL", self.queue.queue_url)
        self.function.set_env("WEBHOOK_MAX_RECEIVE_COUNT", str(WEBHOOK_MAX_RECEIVE_COUNT))
        self.function.set_env("API_URL", api_url)
        # The retry delay (ChangeMessageVisibility), and the DLQ the function parks exhausted events in.
        self.queue.grant_consume_messages(self.function.role)
        self.function.use_queue_sender("WEBHOOK_DLQ_URL", self.dlq)
        self.function.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=WEBHOOK_BATCH_SIZE,
                report_batch_item_failures=True,
                max_concurrency=WEBHOOK_MAX_CONCURRENCY,
            )
        )
