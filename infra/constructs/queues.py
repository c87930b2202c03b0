"""The one way LiteMX makes a work queue (SSE, TLS only, a dead-letter queue that keeps 14 days), and the
topics an AWS service (SES, CloudWatch) publishes to, all encrypted with one customer-managed key.

Why a customer key at all: SES and CloudWatch cannot use the AWS-managed SNS key (its policy cannot be
edited), so an encrypted topic they publish to needs a key whose policy lets them. One key serves every
such topic (a key costs $1/month, and more with each rotation), each statement pinned to its topic by
`kms:EncryptionContext:aws:sns:topicArn`.

Why rotation every 2,560 days (the longest KMS allows) rather than yearly: each automatic rotation adds
$1/month for the first two, so a yearly key costs $3/month from its third year, three times the stack's
whole idle budget. The key encrypts only what SNS holds until it has delivered it (seconds: to the
feedback function, or to the operator's e-mail), so no ciphertext lives
long enough for newer key material to protect it better. Rotation stays enabled (cdk-nag KMS5, Security
Hub KMS.4), at the period that keeps the key at $1/month for seven years.

Why an explicit topic policy statement: `enforce_ssl` attaches an `AWS::SNS::TopicPolicy`, which replaces
the topic's default policy; without an Allow of its own the publishing service gets "not authorized to
perform SNS:Publish", and every notification is silently lost.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# Receives that count as failures of the code (crashes, poison records). Deliberate deferrals never count:
# the sender re-sends them with DelaySeconds instead of failing the record (see functions/sender).
MAX_RECEIVE_COUNT = 5
# The longest automatic rotation period KMS accepts (90 to 2,560 days); see the module's docstring.
KEY_ROTATION_PERIOD = Duration.days(2560)


def queue_with_dlq(
    scope: Construct,
    construct_id: str,
    *,
    visibility_timeout: Duration,
    max_receive_count: int = MAX_RECEIVE_COUNT,
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
        dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=max_receive_count),
    )
    return queue, dlq


def topic_key(scope: Construct, construct_id: str) -> kms.Key:
    """The stack's one customer-managed key, for the topics AWS services publish to."""
    return kms.Key(
        scope,
        construct_id,
        description="LiteMX topics that SES and CloudWatch publish to",
        enable_key_rotation=True,
        rotation_period=KEY_ROTATION_PERIOD,
        pending_window=Duration.days(7),
        removal_policy=RemovalPolicy.DESTROY,
    )


def service_published_topic(
    scope: Construct,
    *,
    key: kms.IKey,
    topic_name: str,
    display_name: str,
    publisher: str,
    source_arn: str | None,
    statement_id: str,
) -> sns.Topic:
    """An encrypted topic that one AWS service of this account may publish to, only on behalf of the
    resources matching `source_arn` (an alarm pattern). `source_arn=None` when the construct that wires
    the service to the topic adds that Allow itself (SES's configuration-set event destination does)."""
    # A fixed name lets the key policy name the topic's ARN without referring to the topic itself
    # (key -> topic -> key would be a circular dependency).
    topic_arn = Stack.of(scope).format_arn(service="sns", resource=topic_name)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid=statement_id,
            principals=[iam.ServicePrincipal(publisher)],
            actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resources=["*"],
            conditions={
                "StringEquals": {
                    "aws:SourceAccount": Aws.ACCOUNT_ID,
                    "kms:EncryptionContext:aws:sns:topicArn": topic_arn,
                },
            },
        )
    )
    topic = sns.Topic(
        scope,
        "Topic",
        topic_name=topic_name,
        display_name=display_name,
        master_key=key,
        enforce_ssl=True,
    )
    if source_arn is None:
        return topic
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid=statement_id,
            principals=[iam.ServicePrincipal(publisher)],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnLike": {"aws:SourceArn": source_arn},
            },
        )
    )
    return topic
