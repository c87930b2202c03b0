"""SES feedback: SNS topic -> the feedback Lambda (SNS invokes it asynchronously), with one DLQ.

SES publishes to the topic (from the configuration set's event destination, see outbound.py), and SNS
pushes each notification to the function: no queue and no poller, so nothing runs, and nothing is billed,
while SES has nothing to say (issue #13: an SQS event source mapping long-polls even when idle).

Every notification is applied, acknowledged with a logged reason, or ends in the one feedback DLQ (alarmed
in monitoring.py, replayed by `litemx queue redrive feedback`):
- SNS hands each notification to Lambda's asynchronous invocation, retrying server-side errors with its
  AWS-managed-endpoint policy (100,015 attempts over 23 days) and giving up at once on client-side errors
  (the function deleted, or its permission for SNS gone). What SNS cannot deliver goes to the
  subscription's DLQ (its RedrivePolicy), as SNS's notification JSON. See
  https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html and
  https://docs.aws.amazon.com/sns/latest/dg/sns-dead-letter-queues.html
- Once Lambda has accepted it, a function error (the handler raises only when a store request failed) is
  retried twice, one minute then two minutes later; throttled or system-failed attempts are retried for up
  to the maximum event age (6 hours). What still fails goes to the function's dead-letter queue
  (DeadLetterConfig), whose body is the original event unchanged, with RequestID, ErrorCode and
  ErrorMessage as message attributes. See
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html and
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html#invocation-dlq

Why a DeadLetterConfig and not an on-failure destination: the DLQ's body is the event itself, which the
redrive replays as it is (Lambda Invoke with that payload); a destination's body is an invocation record
wrapping it (`requestPayload`) that would have to be unwrapped, and records dropped for their age carry no
error the operator needs beyond what the DLQ's attributes and the function's ERROR log already give.

Both failure paths share one queue: SSE-SQS (SQS-owned keys, no KMS key policy to grant: the SNS guide's
note on encrypted DLQs concerns KMS keys), TLS only, 14 days. Its construct id is the one the feedback
queue's DLQ had before #13, so the upgrade keeps the queue and what it holds (docs/deploy.md).

The topic's KMS key needs no statement for this: SNS decrypts a notification itself before it invokes
Lambda (only publishers, SES here, need the key; queues.py), and SNS writes to the DLQ through SQS's API.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import LiteMXConfig
from infra.constructs.access import DYNAMODB_ACTIONS
from infra.constructs.data import Data
from infra.constructs.function import FunctionFactory
from infra.constructs.outbound import configuration_set_name
from infra.constructs.queues import service_published_topic

FEEDBACK_TIMEOUT = Duration.seconds(30)
# Lambda's asynchronous retries of a function error (its default, pinned): 1 minute, then 2 minutes.
FEEDBACK_RETRY_ATTEMPTS = 2
# The longest Lambda keeps an event it could not run (throttled, service errors): a burst of feedback must
# not be dead-lettered for waiting; a function error is dead-lettered after its retries all the same.
FEEDBACK_MAX_EVENT_AGE = Duration.hours(6)


class Feedback(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LiteMXConfig,
        factory: FunctionFactory,
        data: Data,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        # The topic policy's Allow for SES (scoped to our configuration set) comes with the configuration
        # set's SNS event destination (outbound.py); the infra tests pin it.
        self.topic = service_published_topic(
            self,
            key=key,
            topic_name=f"{config.resource_prefix}-ses-feedback",
            display_name="LiteMX SES feedback",
            publisher="ses.amazonaws.com",
            source_arn=None,
            statement_id="SesPublishesFeedback",
        )
        self.dlq = sqs.Queue(
            self,
            "QueueDlq",  # the id of the feedback queue's DLQ before #13: the deploy keeps it and its messages
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.function = factory.create(
            self,
            "Handler",
            name="feedback",
            description="Applies SES bounce, complaint, delivery and reject events",
            timeout=FEEDBACK_TIMEOUT,
            memory_size=256,
            dead_letter_queue=self.dlq,
        )
        self.function.function.configure_async_invoke(
            retry_attempts=FEEDBACK_RETRY_ATTEMPTS, max_event_age=FEEDBACK_MAX_EVENT_AGE
        )
        for role, actions in DYNAMODB_ACTIONS["feedback"].items():
            self.function.use_table(data.table(role), actions)
        # Feedback about another account's mail must not suppress anything here (see ses-facts).
        self.function.set_env("SES_SENDING_ACCOUNT_ID", Aws.ACCOUNT_ID)
        self.function.set_env("SES_CONFIGURATION_SET", configuration_set_name(config))
        # No raw delivery (Lambda subscriptions have none): the function gets SNS's event, Records[].Sns.
        # CDK adds the function's resource policy for sns.amazonaws.com, scoped to this topic's ARN, and
        # the DLQ's queue policy letting SNS send to it from this topic only (both pinned by infra tests).
        subscription = self.topic.add_subscription(
            subscriptions.LambdaSubscription(self.function.function, dead_letter_queue=self.dlq)
        )
        # Created after both policies: a notification delivered before SNS may invoke the function goes to
        # the DLQ at once (a client error is not retried), and is dropped if SNS may not send there yet.
        for child in self.function.function.node.children:
            if isinstance(child, lambda_.CfnPermission):
                subscription.node.add_dependency(child)
        dlq_policy = self.dlq.node.try_find_child("Policy")  # the queue's policy, made on the first grant
        if dlq_policy is not None:
            subscription.node.add_dependency(dlq_policy)
