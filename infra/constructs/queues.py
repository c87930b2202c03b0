"""The one way LiteMX makes a work queue: SSE, TLS only, and a dead-letter queue that keeps 14 days."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

MAX_RECEIVE_COUNT = 5


def queue_with_dlq(
    scope: Construct, construct_id: str, *, visibility_timeout: Duration
) -> tuple[sqs.Queue, sqs.Queue]:
    # SSE-SQS rather than KMS: SNS can deliver to it without a key policy, and nag's SQS2 is satisfied.
    dlq = sqs.Queue(
        scope,
        f"{construct_id}Dlq",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        visibility_timeout=visibility_timeout,
        retention_period=Duration.days(4),
        dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=MAX_RECEIVE_COUNT),
    )
    return queue, dlq
