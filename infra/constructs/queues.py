"""The one way LiteMX makes a work queue (SSE, TLS only, a dead-letter queue that keeps 14 days) and a
topic that an AWS service publishes to."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
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


def service_published_topic(
    scope: Construct, *, display_name: str, publisher: str, statement_id: str
) -> tuple[sns.Topic, kms.Key]:
    """An encrypted topic that one AWS service (SES, CloudWatch) of this account may publish to: those
    services cannot use the AWS-managed SNS key, so the topic gets a key of ours that lets them."""
    key = kms.Key(
        scope,
        "TopicKey",
        description=display_name,
        enable_key_rotation=True,
        pending_window=Duration.days(7),
        removal_policy=RemovalPolicy.DESTROY,
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid=statement_id,
            principals=[iam.ServicePrincipal(publisher)],
            actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
        )
    )
    topic = sns.Topic(scope, "Topic", display_name=display_name, master_key=key, enforce_ssl=True)
    return topic, key
