"""The LiteMX stack: composes one construct per concern and names what the CLI needs as outputs."""

from __future__ import annotations

import re

from aws_cdk import CfnOutput, Environment, Stack, Tags
from constructs import Construct

from infra.config import LiteMXConfig
from infra.constructs.api import Api
from infra.constructs.data import Data
from infra.constructs.feedback import Feedback
from infra.constructs.function import FunctionAssets, FunctionFactory
from infra.constructs.inbound import Inbound
from infra.constructs.monitoring import Monitoring
from infra.constructs.outbound import Outbound
from infra.constructs.queues import topic_key
from infra.constructs.webhooks import Webhooks


class LiteMXStack(Stack):
    def __init__(self, scope: Construct, *, config: LiteMXConfig, assets: FunctionAssets) -> None:
        super().__init__(
            scope,
            config.stack_name,
            env=Environment(region=config.region, account=config.account),
            description=f"LiteMX mailbox email platform ({config.environment})",
        )
        Tags.of(self).add("litemx:environment", config.environment)
        self.data = Data(self, "Data")
        factory = FunctionFactory(self, "Functions", config=config, assets=assets, tables=self.data.tables)
        # The stack's only customer-managed key: the SES feedback and ops alarm topics share it.
        self.topic_key = topic_key(self, "TopicKey")
        self.feedback = Feedback(
            self, "Feedback", config=config, factory=factory, data=self.data, key=self.topic_key
        )
        self.outbound = Outbound(
            self,
            "Outbound",
            config=config,
            factory=factory,
            data=self.data,
            feedback_topic=self.feedback.topic,
        )
        self.inbound = Inbound(self, "Inbound", config=config, factory=factory, data=self.data)
        self.api = Api(
            self,
            "Api",
            config=config,
            factory=factory,
            data=self.data,
            outbound=self.outbound,
            inbound=self.inbound,
        )
        self.webhooks = Webhooks(
            self,
            "Webhooks",
            factory=factory,
            data=self.data,
            inbound_function=self.inbound.function,
            api_url=self.api.url,
        )
        self.functions = [
            self.api.function,
            self.outbound.function,
            self.inbound.function,
            self.feedback.function,
            self.webhooks.function,
        ]
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            functions=self.functions,
            dead_letter_queues={
                "Send": self.outbound.dlq,
                "Feedback": self.feedback.dlq,
                # Mail in: a receipt the inbound function could not file, or a new-mail event no
                # webhook took within 24 h. One alarm for both keeps the stack at ten (monitoring.py).
                "Inbound": (self.inbound.dlq, self.webhooks.dlq),
            },
            work_queues={
                "Send": self.outbound.queue,
            },
            http_api=self.api.http_api,
            key=self.topic_key,
        )
        self._outputs()

    def _outputs(self) -> None:
        """Output names are part of the CLI's contract (#6): rename only together with the CLI."""
        out = {
            "ApiUrl": self.api.url,
            "SendQueueUrl": self.outbound.queue.queue_url,
            "SendDlqUrl": self.outbound.dlq.queue_url,
            "FeedbackDlqUrl": self.feedback.dlq.queue_url,
            "FeedbackFunctionName": self.feedback.function.function_name,
            "InboundDlqUrl": self.inbound.dlq.queue_url,
            "WebhookDlqUrl": self.webhooks.dlq.queue_url,
            "WebhookFunctionName": self.webhooks.function.function_name,
            "RawMailBucketName": self.inbound.bucket.bucket_name,
            "OutboundBucketName": self.outbound.bucket.bucket_name,
            "ConfigurationSetName": self.outbound.configuration_set.configuration_set_name,
            "ReceiptRuleSetName": self.inbound.rule_set.receipt_rule_set_name,
            "FeedbackTopicArn": self.feedback.topic.topic_arn,
            "OpsTopicArn": self.monitoring.topic.topic_arn,
        }
        for role, table in self.data.tables.items():
            out[f"Table{role.capitalize()}"] = table.table.table_name
        for key, value in out.items():
            CfnOutput(self, key, value=value)
        for domain, identity in self.outbound.identities.items():
            slug = _pascal(domain)
            for index, record in enumerate(identity.dkim_records, start=1):
                CfnOutput(
                    self,
                    f"Dkim{index}{slug}",
                    description=f"DKIM CNAME {index} of 3 for {domain}: publish as '<name> CNAME <value>'",
                    value=f"{record.name} CNAME {record.value}",
                )


def _pascal(domain: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^a-zA-Z0-9]+", domain) if part)
