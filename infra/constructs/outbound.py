"""Outbound mail: send queue (+DLQ), sender Lambda, SES configuration set and domain identities.

The API accepts a message, stores its raw MIME in the outbound bucket and enqueues it; the sender sends
it through SES (or an SMTP relay) at a concurrency the SES send rate can absorb.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sns as sns
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import LiteMXConfig
from infra.constructs.access import DYNAMODB_ACTIONS
from infra.constructs.data import Data
from infra.constructs.function import FunctionFactory, LiteMXFunction
from infra.constructs.queues import MAX_RECEIVE_COUNT, queue_with_dlq

SENDER_TIMEOUT = Duration.seconds(30)
# Key prefixes of the outbound bucket (shared/litemx/outbound: service.queued_message, uploads.UPLOAD_PREFIX).
OUTBOUND_MIME_PREFIX = "outbound/"
UPLOAD_PREFIX = "uploads/"
# An upload is referenced by a send within minutes; whatever is left is deleted the next day.
UPLOAD_EXPIRATION = Duration.days(1)
# The lowest maximum concurrency an SQS event source accepts.
_MIN_EVENT_SOURCE_CONCURRENCY = 2

SES_STATUS_ACTIONS = frozenset(
    {"ses:GetAccount", "ses:ListIdentities", "ses:GetIdentityVerificationAttributes"}
)
# SES tenants (docs/tenants.md): the functions only read a tenant's status; every lifecycle change is an
# operator's (`litemx account ...`). All LiteMX tenants are named litemx-acc-<id>.
TENANT_READ_ACTIONS = frozenset({"ses:GetTenant", "ses:GetReputationEntity", "ses:ListTenantResources"})
TENANT_NAME_PATTERN = "litemx-acc-*"
FEEDBACK_EVENTS = (
    ses.EmailSendingEvent.BOUNCE,
    ses.EmailSendingEvent.COMPLAINT,
    ses.EmailSendingEvent.REJECT,
    # Not DELIVERY_DELAY: SES is still retrying, nothing is final, and each one would cost an SNS, SQS
    # and Lambda request to change nothing (the final Delivery or Bounce follows).
    # Not SEND: the sender counts what SES accepted into the reputation buckets itself
    # (litemx.outbound.delivery), the denominator of the rates behind automatic disablement.
    # DELIVERY only with cdk.json `recordDeliveries` (feedback_events): one per sent message, it would be
    # the largest part of the feedback path's cost, and it only moves a message from `sent` to `delivered`.
)


def feedback_events(config: LiteMXConfig) -> tuple[ses.EmailSendingEvent, ...]:
    """The events the configuration set publishes: bounces, complaints and rejects always, deliveries
    only with `recordDeliveries` (messages then move from `sent` to `delivered`)."""
    if config.record_deliveries:
        return (*FEEDBACK_EVENTS, ses.EmailSendingEvent.DELIVERY)
    return FEEDBACK_EVENTS


def configuration_set_name(config: LiteMXConfig) -> str:
    """Fixed, so the feedback function can tell our configuration set's events from any other's."""
    return f"{config.resource_prefix}-outbound"


def sender_concurrency(send_rate: int) -> int:
    """One sender at a time per message/second of SES send rate: SES answers a send in well under 1 s,
    so more would only meet throttling (SQS event sources accept 2 to 1000)."""
    return max(_MIN_EVENT_SOURCE_CONCURRENCY, min(send_rate, 1000))


class Outbound(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LiteMXConfig,
        factory: FunctionFactory,
        data: Data,
        feedback_topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=data.access_logs,
            server_access_logs_prefix="outbound/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-sent-mime",
                    expiration=Duration.days(config.outbound_mail_expiration_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                s3.LifecycleRule(id="expire-uploads", prefix=UPLOAD_PREFIX, expiration=UPLOAD_EXPIRATION),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.queue, self.dlq = queue_with_dlq(
            self, "SendQueue", visibility_timeout=Duration.seconds(SENDER_TIMEOUT.to_seconds() * 6)
        )

        self.configuration_set = ses.ConfigurationSet(
            self,
            "ConfigurationSet",
            configuration_set_name=configuration_set_name(config),
            reputation_metrics=True,
            sending_enabled=True,
            suppression_reasons=ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
        )
        self.event_destination = self.configuration_set.add_event_destination(
            "Feedback",
            destination=ses.EventDestination.sns_topic(feedback_topic),
            events=list(feedback_events(config)),
        )
        # Keyed by name, never by list position: removing or reordering a domain must leave every other
        # identity's logical id (and so the identity itself) untouched.
        self.identities: dict[str, ses.EmailIdentity] = {
            domain: ses.EmailIdentity(
                self,
                f"Domain-{domain}",
                identity=ses.Identity.domain(domain),
                configuration_set=self.configuration_set,
                dkim_signing=True,
                mail_from_domain=f"bounce.{domain}",
                mail_from_behavior_on_mx_failure=ses.MailFromBehaviorOnMxFailure.USE_DEFAULT_VALUE,
            )
            for domain in config.domains
            if domain not in config.adopted_identities
        }
        # Identities that already exist in SES (the console, another stack): referenced by name, so the
        # deploy does not fail with AlreadyExists and `cdk destroy` never deletes them.
        self.adopted_identities: dict[str, ses.IEmailIdentity] = {
            domain: ses.EmailIdentity.from_email_identity_name(self, f"Adopted-{domain}", domain)
            for domain in config.adopted_identities
        }
        # In the SES sandbox a recipient must be a verified identity too (SES e-mails it a link).
        self.recipient_identities = {
            address: ses.EmailIdentity(
                self,
                f"Recipient-{address}",
                identity=ses.Identity.email(address),
                configuration_set=self.configuration_set,
            )
            for address in config.verified_recipients
        }

        self.smtp_secret = self._smtp_secret(config)
        self.function = factory.create(
            self,
            "Sender",
            name="sender",
            description="Sends queued messages through SES or the SMTP relay",
            timeout=SENDER_TIMEOUT,
        )
        fn = self.function
        fn.use_bucket_objects("OUTBOUND_BUCKET", self.bucket, f"{OUTBOUND_MIME_PREFIX}*", "s3:GetObject")
        # Re-queues a message whose send must wait (throttling, daily quota, another attempt's lease) as a
        # new, delayed message; on a record's last receive it settles the message before SQS
        # dead-letters the record, so it must know the queue's maxReceiveCount.
        fn.use_queue_sender("SEND_QUEUE_URL", self.queue)
        fn.set_env("SEND_MAX_RECEIVE_COUNT", str(MAX_RECEIVE_COUNT))
        # The rate is kept by a per-second token bucket in the usage table, shared by all concurrent
        # senders: SQS's minimum maxConcurrency (2) alone would allow twice a rate of 1.
        fn.set_env("SEND_RATE_PER_SECOND", str(config.ses_send_rate))
        for role, actions in DYNAMODB_ACTIONS["sender"].items():
            fn.use_table(data.table(role), actions)
        self.use_provider(fn, send=True)
        fn.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=1 if config.ses_send_rate < 10 else 10,
                report_batch_item_failures=True,
                max_concurrency=sender_concurrency(config.ses_send_rate),
            )
        )

    def use_provider(self, fn: LiteMXFunction, *, send: bool) -> None:
        """Provider settings and status for `fn`; the right to send only where `send` (the sender)."""
        fn.set_env("OUTBOUND_PROVIDER", self.config.outbound_provider)
        fn.set_env("SES_CONFIGURATION_SET", self.configuration_set.configuration_set_name)
        # Sandbox state, quota and verified identities, so LiteMX can refuse clearly instead of failing
        # opaquely at SES. None of these SES actions can be scoped to a resource.
        fn.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=sorted(SES_STATUS_ACTIONS),
                resources=["*"],
            )
        )
        NagSuppressions.add_resource_suppressions(
            fn.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="Read-only SES account status (ses:GetAccount, ses:ListIdentities, "
                    "ses:GetIdentityVerificationAttributes) has no resource-level permissions",
                    applies_to=["Resource::*"],
                )
            ],
            apply_to_children=True,
        )
        self._use_tenants(fn)
        if self.smtp_secret is not None:
            smtp = self.config.smtp
            assert smtp is not None
            fn.set_env("SMTP_HOST", smtp.host)
            fn.set_env("SMTP_PORT", str(smtp.port))
            fn.set_env("SMTP_SECRET_ARN", self.smtp_secret.secret_arn)
            self.smtp_secret.grant_read(fn.role)
            if not smtp.is_arn:
                NagSuppressions.add_resource_suppressions(
                    fn.role,
                    [
                        NagPackSuppression(
                            id="AwsSolutions-IAM5",
                            reason="A secret named rather than given by full ARN ends in a random "
                            "6-character suffix: Secrets Manager's documented '-??????' pattern matches "
                            "that one secret",
                            applies_to=[f"Resource::{self.smtp_secret.secret_arn}-??????"],
                        )
                    ],
                    apply_to_children=True,
                )
        elif send:
            identities: list[ses.IEmailIdentity] = [
                *self.identities.values(),
                *self.adopted_identities.values(),
                *self.recipient_identities.values(),
            ]
            fn.role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["ses:SendEmail", "ses:SendRawEmail"],
                    resources=[
                        *(identity.email_identity_arn for identity in identities),
                        Stack.of(self).format_arn(
                            service="ses",
                            resource="configuration-set",
                            resource_name=self.configuration_set.configuration_set_name,
                        ),
                        self._tenant_arns(),  # a send that names a tenant is authorized on it too
                    ],
                )
            )

    def _tenant_arns(self) -> str:
        return Stack.of(self).format_arn(service="ses", resource="tenant", resource_name=TENANT_NAME_PATTERN)

    def _tenant_arns_as_nag_reports_them(self) -> str:
        stack = Stack.of(self)
        partition = "<AWS::Partition>" if Token.is_unresolved(stack.partition) else stack.partition
        region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
        account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
        return f"arn:{partition}:ses:{region}:{account}:tenant/{TENANT_NAME_PATTERN}"

    def _use_tenants(self, fn: LiteMXFunction) -> None:
        """Issue 15: read LiteMX's own tenants (status, reputation, resources) and probe availability."""
        tenants_on = self.config.outbound_provider == "ses"
        fn.set_env("SES_TENANTS", "ses" if tenants_on else "off")
        if not tenants_on:
            return
        fn.role.add_to_principal_policy(
            iam.PolicyStatement(actions=sorted(TENANT_READ_ACTIONS), resources=[self._tenant_arns()])
        )
        fn.role.add_to_principal_policy(iam.PolicyStatement(actions=["ses:ListTenants"], resources=["*"]))
        NagSuppressions.add_resource_suppressions(
            fn.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="LiteMX's SES tenants are created at run time by `litemx account create`, one per "
                    "account, all named litemx-acc-<id>; the wildcard matches only those",
                    applies_to=[f"Resource::{self._tenant_arns_as_nag_reports_them()}"],
                )
            ],
            apply_to_children=True,
        )

    def _smtp_secret(self, config: LiteMXConfig) -> secretsmanager.ISecret | None:
        if config.smtp is None:
            return None
        if config.smtp.is_arn:
            return secretsmanager.Secret.from_secret_complete_arn(self, "SmtpSecret", config.smtp.secret)
        return secretsmanager.Secret.from_secret_name_v2(self, "SmtpSecret", config.smtp.secret)
