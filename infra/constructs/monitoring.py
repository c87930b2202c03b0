"""Alarms to an ops SNS topic (e-mailed to the operator) and one dashboard.

Thresholds sit below the points where SES acts: it reviews an account at a 5% bounce / 0.1% complaint
rate and may pause sending at 10% / 0.5%, which would stop every tenant's outbound mail at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import LiteMXConfig
from infra.constructs.function import LiteMXFunction
from infra.constructs.queues import service_published_topic

# Functions whose errors the alarm of another watches too (one alarm for the mail-in path).
ALARM_GROUPS = {"webhooks": "inbound"}
# Functions whose errors another alarm reports as fast: the api's as the HTTP API's 5xx, feedback's as its
# DLQ (see the Errors alarms below).
UNWATCHED_ERRORS = frozenset({"api", "feedback"})
BOUNCE_RATE_ALARM = 0.04
COMPLAINT_RATE_ALARM = 0.0008


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LiteMXConfig,
        functions: Sequence[LiteMXFunction],
        dead_letter_queues: dict[str, sqs.IQueue | tuple[sqs.IQueue, ...]],
        work_queues: dict[str, sqs.IQueue],
        http_api: apigwv2.HttpApi,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        # CloudWatch publishes only for alarms of this account and region (any alarm name: CDK names
        # them, and a pattern that drifted from the names would silently drop every notification).
        self.topic = service_published_topic(
            self,
            key=key,
            topic_name=f"{config.resource_prefix}-ops-alarms",
            display_name="LiteMX ops alarms",
            publisher="cloudwatch.amazonaws.com",
            source_arn=Stack.of(self).format_arn(
                service="cloudwatch",
                resource="alarm",
                resource_name="*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            ),
            statement_id="CloudWatchPublishesAlarms",
        )
        self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self.alarms: list[cloudwatch.Alarm] = []

        for name, watched in dead_letter_queues.items():
            queues = watched if isinstance(watched, tuple) else (watched,)
            self._alarm(
                f"{name}DlqNotEmpty",
                _combined(
                    [
                        q.metric_approximate_number_of_messages_visible(
                            period=Duration.minutes(1), statistic="Maximum"
                        )
                        for q in queues
                    ],
                    "MAX",
                ),
                threshold=1,
                description=f"LiteMX {name} dead-letter queue holds messages that failed processing",
            )
        # Errors, not throttles: a throttled sender invocation is retried by SQS and ends in its DLQ if it
        # never runs, a throttled inbound or feedback invocation is retried by Lambda (up to its maximum
        # event age) and ends in its DLQ, and a throttled API call answers 5xx: the DLQ and 5xx alarms
        # already cover each of them. Errors alarms only where no other alarm would say the same thing
        # within minutes (UNWATCHED_ERRORS): the api function's failures are the HTTP API's 5xx (every
        # unhandled error or timeout reaches the client as a 5xx), and a feedback notification the function
        # cannot apply is in the feedback DLQ after Lambda's 2 retries, 1 and 2 minutes apart (feedback.py).
        # CloudWatch bills an alarm per metric it reads
        # (metric math included), and the always-free allowance is 10: 4 DLQ metrics, 3 error metrics
        # (sender; inbound and webhooks, whose errors share the mail-in alarm), API 5xx, SES's 2 rates.
        groups: dict[str, list[LiteMXFunction]] = {}
        for fn in functions:
            if fn.name not in UNWATCHED_ERRORS:
                groups.setdefault(ALARM_GROUPS.get(fn.name, fn.name), []).append(fn)
        for group, members in groups.items():
            self._alarm(
                f"{group.capitalize()}Errors",
                _combined(
                    [
                        fn.function.metric_errors(period=Duration.minutes(5), statistic="Sum")
                        for fn in members
                    ],
                    "SUM",
                ),
                threshold=1,
                description=f"LiteMX {' and '.join(fn.name for fn in members)} function raised errors",
            )
        self._alarm(
            "Api5xx",
            http_api.metric_server_error(period=Duration.minutes(5), statistic="Sum"),
            threshold=5,
            description="LiteMX API answered with 5xx errors",
        )
        bounce_rate = _ses_metric("Reputation.BounceRate")
        complaint_rate = _ses_metric("Reputation.ComplaintRate")
        self._alarm(
            "SesBounceRate",
            bounce_rate,
            threshold=BOUNCE_RATE_ALARM,
            description="SES bounce rate nears the 5% at which SES reviews the account",
        )
        self._alarm(
            "SesComplaintRate",
            complaint_rate,
            threshold=COMPLAINT_RATE_ALARM,
            description="SES complaint rate nears the 0.1% at which SES reviews the account",
        )
        # Opt-in: a dashboard costs $3/month whether anyone looks at it or not.
        self.dashboard = (
            self._dashboard(
                config, functions, dead_letter_queues, work_queues, http_api, [bounce_rate, complaint_rate]
            )
            if config.dashboard
            else None
        )

    def _alarm(
        self, construct_id: str, metric: cloudwatch.IMetric, *, threshold: float, description: str
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        action = cw_actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        self.alarms.append(alarm)

    def _dashboard(
        self,
        config: LiteMXConfig,
        functions: Sequence[LiteMXFunction],
        dead_letter_queues: dict[str, sqs.IQueue | tuple[sqs.IQueue, ...]],
        work_queues: dict[str, sqs.IQueue],
        http_api: apigwv2.HttpApi,
        reputation: list[cloudwatch.IMetric],
    ) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=dashboard_name(config))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Function invocations",
                left=[fn.function.metric_invocations(label=fn.name) for fn in functions],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Function errors and throttles",
                left=[fn.function.metric_errors(label=fn.name) for fn in functions],
                right=[fn.function.metric_throttles(label=fn.name) for fn in functions],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Function duration p95",
                left=[fn.function.metric_duration(label=fn.name, statistic="p95") for fn in functions],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Queue depth",
                left=[
                    q.metric_approximate_number_of_messages_visible(label=n) for n, q in work_queues.items()
                ],
                right=[
                    q.metric_approximate_number_of_messages_visible(label=f"{n} DLQ")
                    for n, watched in dead_letter_queues.items()
                    for q in (watched if isinstance(watched, tuple) else (watched,))
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="API requests and errors",
                left=[http_api.metric_count(label="requests")],
                right=[
                    http_api.metric_client_error(label="4xx"),
                    http_api.metric_server_error(label="5xx"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="SES reputation",
                left=reputation,
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(value=BOUNCE_RATE_ALARM, label="bounce alarm"),
                    cloudwatch.HorizontalAnnotation(value=COMPLAINT_RATE_ALARM, label="complaint alarm"),
                ],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms), width=24),
        )
        return dashboard


def _combined(metrics: list[cloudwatch.Metric], how: str) -> cloudwatch.IMetric:
    """One metric as it is, several as their MAX or SUM (a metric math expression)."""
    if len(metrics) == 1:
        return metrics[0]
    names = {f"m{index}": metric for index, metric in enumerate(metrics)}
    return cloudwatch.MathExpression(
        expression=f"{how}([{', '.join(names)}])", using_metrics=names, period=metrics[0].period
    )


def dashboard_name(config: LiteMXConfig) -> str:
    """Dashboard names are global to the account: the region keeps two regions' stacks apart."""
    return f"{config.resource_prefix}-{config.region}"


def _ses_metric(name: str) -> cloudwatch.Metric:
    """Account-level reputation rates SES publishes (a fraction, 0.05 = 5%)."""
    return cloudwatch.Metric(
        namespace="AWS/SES", metric_name=name, statistic="Maximum", period=Duration.minutes(15)
    )
