"""Inbound mail: raw-mail bucket, SES receipt rule set (S3 first, then the inbound Lambda).

SES stores each accepted message in S3 before the Lambda runs, because the receipt event carries headers
and verdicts but never the body. Only one receipt rule set can be active per region, so activating ours
is opt-in (`litemx:activateRuleSet`) and done by a custom resource; see docs/deploy.md.
"""

from __future__ import annotations

import jsii
from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from aws_cdk.interfaces.aws_ses import IReceiptRuleRef
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import LiteMXConfig
from infra.constructs.access import DYNAMODB_ACTIONS
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
        # The index entries' TTL: as long as the raw mail they point at (the bucket's lifecycle).
        fn.set_env("RAW_MAIL_RETENTION_DAYS", str(config.raw_mail_expiration_days))
        for role, actions in DYNAMODB_ACTIONS["inbound"].items():
            fn.use_table(data.table(role), actions)

        rule_set_name = f"{config.resource_prefix}-inbound"
        rule_name = f"{config.resource_prefix}-domains"
        self.rule_arn = receipt_rule_arn(Stack.of(self), rule_set_name, rule_name)
        self.rule_set = ses.ReceiptRuleSet(self, "RuleSet", receipt_rule_set_name=rule_set_name)
        self.rule = self.rule_set.add_rule(
            "Domains",
            receipt_rule_name=rule_name,
            recipients=list(config.domains),
            scan_enabled=True,
            tls_policy=ses.TlsPolicy.REQUIRE,
            enabled=True,
            actions=[
                _StoreToS3(self.bucket, RAW_MAIL_PREFIX, self.rule_arn),
                _InvokeLambda(self, fn.function, self.rule_arn),
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
        # Nothing is kept forever by default (mail to unknown recipients included): see docs/deploy.md.
        rules.append(
            s3.LifecycleRule(
                id="raw-mail-expiration", expiration=Duration.days(config.raw_mail_expiration_days)
            )
        )
        # Mailbox contents: retained on stack deletion. SES's write permission (this stack's receipt rule
        # only) is added to the bucket policy by the S3 receipt action below.
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


def receipt_rule_arn(stack: Stack, rule_set_name: str, rule_name: str) -> str:
    """Built from the fixed names, so that policies can name the rule without depending on it."""
    return stack.format_arn(
        service="ses", resource="receipt-rule-set", resource_name=f"{rule_set_name}:receipt-rule/{rule_name}"
    )


def _from_this_rule(rule_arn: str) -> dict[str, dict[str, str]]:
    """SES acts for this stack's receipt rule only (confused deputy: not for another account's or rule's)."""
    return {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID, "aws:SourceArn": rule_arn}}


@jsii.implements(ses.IReceiptRuleAction)
class _StoreToS3:
    """SES's S3 action, with the bucket policy scoped to this rule (CDK's own adds only the account)."""

    def __init__(self, bucket: s3.IBucket, prefix: str, rule_arn: str) -> None:
        self._bucket, self._prefix, self._rule_arn = bucket, prefix, rule_arn

    def bind(self, receipt_rule: IReceiptRuleRef) -> ses.ReceiptRuleActionConfig:
        result = self._bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowSesPutsFromReceiptRule",
                principals=[iam.ServicePrincipal("ses.amazonaws.com")],
                actions=["s3:PutObject"],
                resources=[self._bucket.arn_for_objects(f"{self._prefix}*")],
                conditions=_from_this_rule(self._rule_arn),
            )
        )
        # SES checks its permission when the rule is created: the policy must exist first.
        if result.policy_dependable is not None:
            receipt_rule.node.add_dependency(result.policy_dependable)
        return ses.ReceiptRuleActionConfig(
            s3_action=ses.S3ActionConfig(bucket_name=self._bucket.bucket_name, object_key_prefix=self._prefix)
        )


@jsii.implements(ses.IReceiptRuleAction)
class _InvokeLambda:
    """SES's Lambda action (asynchronous), with the invoke permission scoped to this rule."""

    def __init__(self, scope: Construct, function: lambda_.IFunction, rule_arn: str) -> None:
        self._scope, self._function, self._rule_arn = scope, function, rule_arn

    def bind(self, receipt_rule: IReceiptRuleRef) -> ses.ReceiptRuleActionConfig:
        permission = lambda_.CfnPermission(
            self._scope,
            "AllowSesInvoke",
            action="lambda:InvokeFunction",
            function_name=self._function.function_arn,
            principal="ses.amazonaws.com",
            source_account=Aws.ACCOUNT_ID,
            source_arn=self._rule_arn,
        )
        receipt_rule.node.add_dependency(permission)
        return ses.ReceiptRuleActionConfig(
            lambda_action=ses.LambdaActionConfig(
                function_arn=self._function.function_arn, invocation_type="Event"
            )
        )
