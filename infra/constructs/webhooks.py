"""Webhooks for new mail: the delivery function, invoked asynchronously by inbound and again by
EventBridge Scheduler for each retry, and the webhook DLQ.

Nothing polls (issue #13: an SQS event source mapping long-polls its queue even when idle). Inbound
invokes the function with InvocationType=Event, one job per invocation; a retry, or a wait for a busy
subscription, is a one-time schedule (`at(...)`, deleted once fired) in this construct's schedule group
whose target is the function again (litemx.webhooks.aws). Idle, that is no request at all.

Where an event can end up in the DLQ (the first two with the job itself as the message body):
- the function parks it itself when 24 h of retries run out (or its receive limit), with its `dead`
  delivery record, so `litemx webhook deliveries` shows why;
- Lambda, when the function raised on every attempt (RETRY_ATTEMPTS retries) or the event waited longer
  than MAX_EVENT_AGE (throttled): the function's dead-letter queue, which receives the event itself
  rather than an invocation record (an on-failure destination wraps it in one), so its body is the job
  the function writes itself https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html;
- Scheduler, when it could not invoke the function within the schedule's retry policy (its dead-letter
  event, https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html).

No reserved concurrency: it would cap the function without costing anything, but Lambda refuses any
reservation that leaves the account under 100 unreserved (a new account's quota is lower than that, and
the deploy would fail), and the per-subscription slots in DynamoDB already bound what each receiver sees.
Were the account's concurrency exhausted, Lambda retries a throttled asynchronous event for up to its
maximum age before the DLQ (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).
"""

from __future__ import annotations

import re

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import Construct

from infra.constructs.access import DYNAMODB_ACTIONS
from infra.constructs.data import Data
from infra.constructs.function import FunctionFactory, LiteMXFunction

# One job per invocation: the longest receiver timeout (15 s) and the DynamoDB writes fit many times.
WEBHOOK_TIMEOUT = Duration.seconds(60)
# Invocations one event may take: the 16 attempts of 24 h (litemx.webhooks.delivery.schedule) and the
# waits for a busy subscription, which the 24 h window bounds (about 300 at their mean of 5.25 min before
# Scheduler's rounding, which only lengthens them). A chain that reaches it went wrong: the function
# dead-letters the event, with its record.
WEBHOOK_MAX_RECEIVE_COUNT = 400
# Lambda's handling of an invocation that raised (a DynamoDB or Scheduler request failed): 2 retries, 1
# then 2 minutes apart, then the DLQ; an event throttled for longer than 6 h (the most Lambda keeps one)
# goes there too.
RETRY_ATTEMPTS = 2
MAX_EVENT_AGE = Duration.hours(6)
DLQ_RETENTION = Duration.days(14)
SCHEDULER_PRINCIPAL = "scheduler.amazonaws.com"


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
        # The id the DLQ had beside the former webhook queue: the same queue, kept across the upgrade.
        self.dlq = sqs.Queue(
            self,
            "QueueDlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        self.function = factory.create(
            self,
            "Handler",
            name="webhooks",
            description="Posts signed message.received events to the mailboxes' webhooks",
            timeout=WEBHOOK_TIMEOUT,
            memory_size=256,
            dead_letter_queue=self.dlq,
        )
        fn = self.function
        fn.function.configure_async_invoke(retry_attempts=RETRY_ATTEMPTS, max_event_age=MAX_EVENT_AGE)
        for role, actions in DYNAMODB_ACTIONS["webhooks"].items():
            fn.use_table(data.table(role), actions)
        fn.set_env("WEBHOOK_MAX_RECEIVE_COUNT", str(WEBHOOK_MAX_RECEIVE_COUNT))
        fn.set_env("API_URL", api_url)
        fn.use_queue_sender("WEBHOOK_DLQ_URL", self.dlq)
        fn.set_env("WEBHOOK_DLQ_ARN", self.dlq.queue_arn)

        # Named after the stack (names are per account and region; 64 characters at most).
        self.schedule_group_name = f"{Stack.of(self).stack_name}-webhook-retries"[-64:]
        self.schedule_group = scheduler.ScheduleGroup(
            self,
            "Retries",
            schedule_group_name=self.schedule_group_name,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.scheduler_role = self._scheduler_role()
        self._allow_scheduling(fn)

        # Inbound invokes this function and nothing else.
        inbound_function.role.add_to_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[fn.function.function_arn])
        )
        inbound_function.set_env("WEBHOOK_FUNCTION_NAME", fn.function_name)

    def _scheduler_role(self) -> iam.Role:
        """What a retry's schedule runs as: invoke this function, or dead-letter what it could not."""
        role = iam.Role(
            self,
            "SchedulerRole",
            # Only Scheduler acting for this account (confused deputy).
            assumed_by=iam.ServicePrincipal(
                SCHEDULER_PRINCIPAL, conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="EventBridge Scheduler running LiteMX webhook retries",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[self.function.function.function_arn]
            )
        )
        role.add_to_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.dlq.queue_arn]))
        return role

    def _allow_scheduling(self, fn: LiteMXFunction) -> None:
        group = self.schedule_group_name
        # A literal name: the function would not otherwise wait for the group it schedules into.
        fn.function.node.add_dependency(self.schedule_group)
        schedules = Stack.of(self).format_arn(
            service="scheduler", resource="schedule", resource_name=f"{group}/*"
        )
        fn.role.add_to_policy(
            iam.PolicyStatement(actions=["scheduler:CreateSchedule"], resources=[schedules])
        )
        fn.role.add_to_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.scheduler_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": SCHEDULER_PRINCIPAL}},
            )
        )
        fn.set_env("WEBHOOK_SCHEDULE_GROUP", group)
        fn.set_env("WEBHOOK_SCHEDULER_ROLE_ARN", self.scheduler_role.role_arn)
        NagSuppressions.add_resource_suppressions(
            fn.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="Each retry is a schedule named after its event, created at run time: "
                    "scheduler:CreateSchedule on the schedules of the webhook retry group only",
                    # Partition and region are literals when the stack names its region, the account a token.
                    applies_to=[
                        RegexAppliesTo(
                            regex=f"/^Resource::arn:[^:]+:scheduler:[^:]+:.+:schedule\\/"
                            f"{re.escape(self.schedule_group_name)}\\/\\*$/g"
                        )
                    ],
                )
            ],
            apply_to_children=True,
        )
