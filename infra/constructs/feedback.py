"""SES feedback: SNS topic -> SQS queue (with DLQ) -> feedback Lambda, so no notification is lost.

SES publishes to the topic (from the configuration set's event destination, see outbound.py); SQS holds
each notification until the Lambda has handled it, and parks it in the DLQ after repeated failures.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import LiteMXConfig
from infra.constructs.access import DYNAMODB_ACTIONS
from infra.constructs.data import Data
from infra.constructs.function import FunctionFactory
from infra.constructs.outbound import configuration_set_name
from infra.constructs.queues import queue_with_dlq, service_published_topic

FEEDBACK_TIMEOUT = Duration.seconds(30)


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
        self.queue, self.dlq = queue_with_dlq(
            self, "Queue", visibility_timeout=Duration.seconds(FEEDBACK_TIMEOUT.to_seconds() * 6)
        )
        # Raw delivery: each SQS body is SES's own event JSON, not an SNS envelope around it.
        self.topic.add_subscription(subscriptions.SqsSubscription(self.queue, raw_message_delivery=True))

        self.function = factory.create(
            self,
            "Handler",
            name="feedback",
            description="Applies SES bounce, complaint, delivery and reject events",
            timeout=FEEDBACK_TIMEOUT,
            memory_size=256,
        )
        for role, actions in DYNAMODB_ACTIONS["feedback"].items():
            self.function.use_table(data.table(role), actions)
        # Feedback about another account's mail must not suppress anything here (see ses-facts).
        self.function.set_env("SES_SENDING_ACCOUNT_ID", Aws.ACCOUNT_ID)
        self.function.set_env("SES_CONFIGURATION_SET", configuration_set_name(config))
        self.function.function.add_event_source(
            sources.SqsEventSource(self.queue, batch_size=10, report_batch_item_failures=True)
        )
