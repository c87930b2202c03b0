"""Inbound mail: raw-mail bucket, SES receipt rule set (S3 first, then the inbound Lambda).

SES stores each accepted message in S3 before the Lambda runs, because the receipt event carries headers
and verdicts but never the body. Only one receipt rule set can be active per region, so activating ours
is opt-in (`litemx:activateRuleSet`) and done by a custom resource; see docs/deploy.md.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ses as ses
from aws_cdk import aws_ses_actions as actions
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import LiteMXConfig
from infra.constructs.data import Data
from infra.constructs.function import FunctionFactory, log_retention

RAW_MAIL_PREFIX = "inbound/"
INBOUND_TIMEOUT = Duration.seconds(60)


class Inbound(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LiteMXConfig,
        factory: FunctionFactory,
        data: Data,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = self._raw_mail_bucket(config, data)
        # SES invokes the Lambda asynchronously: events that still fail after Lambda's retries land here
        # (the message itself is safe in S3 already and can be replayed from its key).
        self.dlq = sqs.Queue(
            self,
            "HandlerDlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.function = factory.create(
            self,
            "Handler",
            name="inbound",
            description="Files received mail into mailboxes",
            timeout=INBOUND_TIMEOUT,
            memory_size=1024,
            dead_letter_queue=self.dlq,
        )
        fn = self.function
        fn.function.configure_async_invoke(retry_attempts=2)
        fn.use_bucket_objects("RAW_MAIL_BUCKET", self.bucket, f"{RAW_MAIL_PREFIX}*", "s3:GetObject")
        fn.set_env("RAW_MAIL_PREFIX", RAW_MAIL_PREFIX)  # where the receipt rule's S3 action writes
        fn.use_table(data.table("inbound"), "read_write")
        # Reads mailboxes to route, writes correspondents.
        fn.use_table(data.table("directory"), "read_write")
        fn.use_table(data.table("audit"), "write")

        self.rule_set = ses.ReceiptRuleSet(
            self, "RuleSet", receipt_rule_set_name=f"{config.resource_prefix}-inbound"
        )
        self.rule = self.rule_set.add_rule(
            "Domains",
            receipt_rule_name=f"{config.resource_prefix}-domains",
            recipients=list(config.domains),
            scan_enabled=True,
            tls_policy=ses.TlsPolicy.REQUIRE,
            enabled=True,
            actions=[
                actions.S3(bucket=self.bucket, object_key_prefix=RAW_MAIL_PREFIX),
                actions.Lambda(function=fn.function, invocation_type=actions.LambdaInvocationType.EVENT),
            ],
        )
        self.activation = self._activate(config) if config.activate_rule_set else None

    def _raw_mail_bucket(self, config: LiteMXConfig, data: Data) -> s3.Bucket:
        rules = [
            s3.LifecycleRule(
                id="raw-mail-to-infrequent-access",
                transitions=[
                    s3.Transition(
                        storage_class=s3.StorageClass.INFREQUENT_ACCESS, transition_after=Duration.days(30)
                    )
                ],
                abort_incomplete_multipart_upload_after=Duration.days(1),
                noncurrent_version_expiration=Duration.days(30),
            )
        ]
        if config.raw_mail_expiration_days is not None:
            rules.append(
                s3.LifecycleRule(
                    id="raw-mail-expiration", expiration=Duration.days(config.raw_mail_expiration_days)
                )
            )
        # Mailbox contents: retained on stack deletion. SES's write permission (this account's SES only,
        # `aws:SourceAccount`) is added to the bucket policy by the S3 receipt action.
        return s3.Bucket(
            self,
            "RawMail",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=data.access_logs,
            server_access_logs_prefix="raw-mail/",
            lifecycle_rules=rules,
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _activate(self, config: LiteMXConfig) -> cr.AwsCustomResource:
        """Make our rule set the region's active one; deactivate it on delete so it can be deleted."""
        name = self.rule_set.receipt_rule_set_name
        log_group = logs.LogGroup(
            self,
            "ActivationLogs",
            retention=log_retention(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        role = iam.Role(self, "ActivationRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_group.grant_write(role)
        activate = cr.AwsSdkCall(
            service="SES",
            action="setActiveReceiptRuleSet",
            parameters={"RuleSetName": name},
            physical_resource_id=cr.PhysicalResourceId.of(name),
        )
        activation = cr.AwsCustomResource(
            self,
            "Activation",
            on_create=activate,
            on_update=activate,
            # No RuleSetName: deactivates whichever set is active (SES has no "deactivate this one").
            on_delete=cr.AwsSdkCall(service="SES", action="setActiveReceiptRuleSet", parameters={}),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["ses:SetActiveReceiptRuleSet"], resources=["*"])]
            ),
            role=role,
            log_group=log_group,
            install_latest_aws_sdk=False,
            timeout=Duration.minutes(2),
        )
        activation.node.add_dependency(self.rule)
        NagSuppressions.add_resource_suppressions(
            activation,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="ses:SetActiveReceiptRuleSet has no resource-level permissions in IAM",
                    applies_to=["Resource::*"],
                )
            ],
            apply_to_children=True,
        )
        return activation
