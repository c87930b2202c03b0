"""The webhooks construct: no poller, the asynchronous invocation settings and DLQ, the retry schedule
group and Scheduler's role, and who may invoke, schedule and pass what."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from infra.constructs.webhooks import (
    MAX_EVENT_AGE,
    RETRY_ATTEMPTS,
    SCHEDULER_PRINCIPAL,
    WEBHOOK_MAX_RECEIVE_COUNT,
)
from litemx.webhooks.delivery import busy_delay, schedule
from litemx.webhooks.models import MAX_TIMEOUT_SECONDS, RETRY_WINDOW
from tests.infra.helpers import (
    actions_on,
    as_list,
    function_statements,
    litemx_functions,
    referenced_ids,
    statements_of_role,
)


def _props(synth: Any, construct: Any) -> dict[str, Any]:
    props: dict[str, Any] = synth.resources[synth.logical_id(construct)]["Properties"]
    return props


def _webhooks(synth: Any) -> dict[str, Any]:
    return litemx_functions(synth)["webhooks"]


def test_nothing_polls_for_webhooks_and_no_work_queue_is_left(default):
    function_id = _webhooks(default)["LogicalId"]
    mappings = default.of_type("AWS::Lambda::EventSourceMapping").values()
    assert not [m for m in mappings if function_id in referenced_ids(m["Properties"]["FunctionName"])]
    # The DLQ is the construct's only queue, and nothing redrives into it from a queue.
    queues = [q["Properties"] for q in default.of_type("AWS::SQS::Queue").values()]
    dlq_id = default.logical_id(default.stack.webhooks.dlq)
    assert not [q for q in queues if dlq_id in referenced_ids(q.get("RedrivePolicy", {}))]
    assert "WebhookQueueUrl" not in default.template.to_json()["Outputs"]


def test_a_failed_or_throttled_invocation_is_retried_by_lambda_then_lands_in_the_webhook_dlq(default):
    function = _webhooks(default)
    dlq_id = default.logical_id(default.stack.webhooks.dlq)
    assert function["Properties"]["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    (config,) = [
        c["Properties"]
        for c in default.of_type("AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": function["LogicalId"]}
    ]
    assert config["MaximumRetryAttempts"] == RETRY_ATTEMPTS == 2
    assert config["MaximumEventAgeInSeconds"] == MAX_EVENT_AGE.to_seconds() == 6 * 3600
    # The DLQ, not an on-failure destination: Lambda puts the event itself there, a job like the others.
    assert "DestinationConfig" not in config
    dlq = _props(default, default.stack.webhooks.dlq)
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert dlq["SqsManagedSseEnabled"] is True
    timeout = function["Properties"]["Timeout"]
    assert timeout >= MAX_TIMEOUT_SECONDS + 5  # an attempt always fits in an invocation
    assert "ReservedConcurrentExecutions" not in function["Properties"]


def test_retries_run_in_their_own_schedule_group_as_a_role_only_scheduler_of_this_account_assumes(default):
    webhooks = default.stack.webhooks
    (group_id,) = default.of_type("AWS::Scheduler::ScheduleGroup")
    role = default.resources[default.logical_id(webhooks.scheduler_role)]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": SCHEDULER_PRINCIPAL}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    statements = list(statements_of_role(default, default.logical_id(webhooks.scheduler_role)))
    function_id = _webhooks(default)["LogicalId"]
    dlq_id = default.logical_id(webhooks.dlq)
    assert {a for s in statements for a in as_list(s["Action"])} == {
        "lambda:InvokeFunction",
        "sqs:SendMessage",
    }
    assert actions_on(statements, function_id) == {"lambda:InvokeFunction"}
    assert actions_on(statements, dlq_id) == {"sqs:SendMessage"}
    for statement in statements:  # the function itself, not its versions or aliases
        assert len(as_list(statement["Resource"])) == 1
    function = _webhooks(default)
    env = function["Properties"]["Environment"]["Variables"]
    group_name = default.resources[group_id]["Properties"]["Name"]
    assert env["WEBHOOK_SCHEDULE_GROUP"] == group_name == "LiteMX-dev-webhook-retries"
    assert group_id in function["DependsOn"]
    assert env["WEBHOOK_SCHEDULER_ROLE_ARN"] == {
        "Fn::GetAtt": [default.logical_id(webhooks.scheduler_role), "Arn"]
    }
    assert env["WEBHOOK_DLQ_ARN"] == {"Fn::GetAtt": [dlq_id, "Arn"]}


def test_the_function_may_create_schedules_in_its_group_only_and_pass_only_the_scheduler_role(default):
    webhooks = default.stack.webhooks
    statements = function_statements(default, _webhooks(default))
    (create,) = [s for s in statements if "scheduler:CreateSchedule" in as_list(s["Action"])]
    assert as_list(create["Action"]) == ["scheduler:CreateSchedule"]
    (group,) = default.of_type("AWS::Scheduler::ScheduleGroup").values()
    (resource,) = as_list(create["Resource"])
    parts = resource["Fn::Join"][1]
    assert parts[-1].endswith(f":schedule/{group['Properties']['Name']}/*")
    assert parts[0].startswith("arn:aws:scheduler:")
    scheduler_actions = {a for s in statements for a in as_list(s["Action"]) if a.startswith("scheduler:")}
    assert scheduler_actions == {"scheduler:CreateSchedule"}
    (passing,) = [s for s in statements if "iam:PassRole" in as_list(s["Action"])]
    assert passing["Resource"] == {"Fn::GetAtt": [default.logical_id(webhooks.scheduler_role), "Arn"]}
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": SCHEDULER_PRINCIPAL}}
    dlq = default.logical_id(webhooks.dlq)
    assert "sqs:SendMessage" in actions_on(statements, dlq)
    assert not [a for s in statements for a in as_list(s["Action"]) if a.startswith("lambda:")]
    env = _webhooks(default)["Properties"]["Environment"]["Variables"]
    assert env["WEBHOOK_MAX_RECEIVE_COUNT"] == str(WEBHOOK_MAX_RECEIVE_COUNT)
    # every attempt of a day is a receive, and so is every wait of a day-long busy subscription at the
    # waits' mean (Scheduler's whole-minute rounding only makes them longer)
    waits, waited = 0, timedelta(0)
    while waited <= RETRY_WINDOW:
        waited += busy_delay(waits, 0.5)
        waits += 1
    assert len(schedule()) + waits <= WEBHOOK_MAX_RECEIVE_COUNT
    assert "WEBHOOK_ALLOW_LOCAL_HTTP" not in env


def test_inbound_may_invoke_the_webhooks_function_and_nothing_else(default):
    functions = litemx_functions(default)
    inbound = function_statements(default, functions["inbound"])
    invoking = [s for s in inbound if any(a.startswith("lambda:") for a in as_list(s["Action"]))]
    (statement,) = invoking
    assert as_list(statement["Action"]) == ["lambda:InvokeFunction"]
    assert statement["Resource"] == {"Fn::GetAtt": [functions["webhooks"]["LogicalId"], "Arn"]}
    env = functions["inbound"]["Properties"]["Environment"]["Variables"]
    assert env["WEBHOOK_FUNCTION_NAME"] == {"Ref": functions["webhooks"]["LogicalId"]}
    assert actions_on(inbound, default.logical_id(default.stack.webhooks.dlq)) == set()
