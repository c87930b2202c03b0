"""HTTP API throttling and access logs; alarms on every DLQ, function and SES reputation, to the ops topic."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synth
from tests.infra.helpers import litemx_functions


def test_http_api_routes_everything_to_the_api_function(default):
    (integration,) = default.of_type("AWS::ApiGatewayV2::Integration").values()
    assert integration["Properties"]["IntegrationType"] == "AWS_PROXY"
    api_function = litemx_functions(default)["api"]["LogicalId"]
    assert integration["Properties"]["IntegrationUri"] == {"Fn::GetAtt": [api_function, "Arn"]}
    (route,) = default.of_type("AWS::ApiGatewayV2::Route").values()
    assert route["Properties"]["RouteKey"] == "$default"


def test_stage_is_throttled_and_access_logged(default):
    (stage,) = default.of_type("AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "$default"
    assert props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"]["ThrottlingRateLimit"] == 50
    assert props["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 100
    log_group = default.logical_id(default.stack.api.access_logs)
    assert props["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": [log_group, "Arn"]}
    assert "$context.requestId" in props["AccessLogSettings"]["Format"]


def _alarms(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        a["Properties"]["AlarmDescription"]: a["Properties"]
        for a in synth.of_type("AWS::CloudWatch::Alarm").values()
    }


def test_every_alarm_notifies_the_ops_topic(default):
    topic = {"Ref": default.logical_id(default.stack.monitoring.topic)}
    alarms = _alarms(default)
    assert alarms
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [topic]
        assert alarm["OKActions"] == [topic]


def test_ops_topic_mails_the_operator(default):
    topic = default.logical_id(default.stack.monitoring.topic)
    (subscription,) = [
        s["Properties"]
        for s in default.of_type("AWS::SNS::Subscription").values()
        if s["Properties"]["TopicArn"] == {"Ref": topic}
    ]
    assert subscription == {"Endpoint": "ops@example.com", "Protocol": "email", "TopicArn": {"Ref": topic}}


def _watched(synth: Synth, metric_name: str, dimension: str) -> set[str]:
    """What alarms on `metric_name` watch, directly or inside a metric math expression."""
    found = set()
    for alarm in _alarms(synth).values():
        metrics = (
            [alarm]
            if "MetricName" in alarm
            else [m["MetricStat"]["Metric"] for m in alarm.get("Metrics", []) if "MetricStat" in m]
        )
        for metric in metrics:
            if metric["MetricName"] == metric_name:
                found |= {
                    d["Value"]["Fn::GetAtt"][0] if "Fn::GetAtt" in d["Value"] else d["Value"]["Ref"]
                    for d in metric["Dimensions"]
                    if d["Name"] == dimension
                }
    return found


def test_every_dead_letter_queue_is_watched(default):
    stack = default.stack
    queues = (stack.outbound.dlq, stack.feedback.dlq, stack.inbound.dlq, stack.webhooks.dlq)
    dlqs = {default.logical_id(q) for q in queues}
    assert _watched(default, "ApproximateNumberOfMessagesVisible", "QueueName") == dlqs
    for alarm in _alarms(default).values():
        if "DlqNotEmpty" in str(alarm) or "dead-letter" in alarm["AlarmDescription"]:
            assert alarm["Threshold"] == 1
            assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


# Lambda's waits between asynchronous attempts of a function error: 1 minute, then 2 minutes
# (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).
ASYNC_RETRY_WAITS = (60, 120)


def test_every_function_failure_reaches_an_alarm(default):
    """A function's errors have their own alarm, or another alarm says the same within minutes: the api's
    through the HTTP API's 5xx, feedback's through its DLQ: a notification it cannot apply has run 3 times
    (2 retries, 1 and then 2 minutes later, each at most its timeout) and is in the DLQ within 15 minutes."""
    functions = litemx_functions(default)
    watched = _watched(default, "Errors", "FunctionName")
    assert watched == {f["LogicalId"] for name, f in functions.items() if name not in {"api", "feedback"}}
    assert any(a.get("MetricName") == "5xx" for a in _alarms(default).values())
    feedback_dlq = default.logical_id(default.stack.feedback.dlq)
    assert feedback_dlq in _watched(default, "ApproximateNumberOfMessagesVisible", "QueueName")
    feedback = functions["feedback"]
    assert feedback["Properties"]["DeadLetterConfig"]["TargetArn"] == {"Fn::GetAtt": [feedback_dlq, "Arn"]}
    (config,) = [
        c["Properties"]
        for c in default.of_type("AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": feedback["LogicalId"]}
    ]
    retries = config["MaximumRetryAttempts"]
    assert retries == len(ASYNC_RETRY_WAITS)
    assert sum(ASYNC_RETRY_WAITS) + (retries + 1) * feedback["Properties"]["Timeout"] <= 15 * 60


def test_the_webhook_dlq_and_errors_share_the_inbound_alarms(default):
    (dlq,) = [a for a in _alarms(default).values() if a["AlarmDescription"].startswith("LiteMX Inbound dead")]
    assert [m["Expression"] for m in dlq["Metrics"] if "Expression" in m] == ["MAX([m0, m1])"]
    (errors,) = [a for a in _alarms(default).values() if "inbound and webhooks" in a["AlarmDescription"]]
    assert [m["Expression"] for m in errors["Metrics"] if "Expression" in m] == ["SUM([m0, m1])"]


def test_alarms_stay_within_the_ten_free_alarm_metrics(default):
    # Throttles are left to the DLQ and 5xx alarms (infra/constructs/monitoring.py): 3 DLQ alarms (inbound
    # and webhooks share one), 2 function error alarms (likewise), API 5xx and SES's two reputation rates.
    # CloudWatch bills a metric math alarm per metric: 10 alarm metrics, the always-free allowance.
    alarms = _alarms(default).values()
    assert len(alarms) == 8
    assert sum(len([m for m in a.get("Metrics", [a]) if "Expression" not in m]) for a in alarms) == 10


def test_ses_reputation_alarms_fire_before_ses_reviews_the_account(default):
    by_metric = {a["MetricName"]: a for a in _alarms(default).values() if a.get("Namespace") == "AWS/SES"}
    assert 0 < by_metric["Reputation.BounceRate"]["Threshold"] < 0.05
    assert 0 < by_metric["Reputation.ComplaintRate"]["Threshold"] < 0.001


def test_ops_topic_key_lets_cloudwatch_publish(default):
    key = default.resources[default.logical_id(default.stack.topic_key)]["Properties"]
    assert key["EnableKeyRotation"] is True
    # The longest period KMS allows: each rotation adds $1/month for the first two (queues.py).
    assert key["RotationPeriodInDays"] == 2560
    assert any(
        s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in key["KeyPolicy"]["Statement"]
    )


def test_dashboard_exists_when_asked_for(synth_with):
    assert len(synth_with(dashboard=True).of_type("AWS::CloudWatch::Dashboard")) == 1
