"""The webhooks construct: queue, DLQ and delivery function settings, and who may use them."""

from __future__ import annotations

from typing import Any

from infra.constructs.webhooks import WEBHOOK_BATCH_SIZE, WEBHOOK_MAX_RECEIVE_COUNT
from litemx.webhooks.delivery import schedule
from litemx.webhooks.models import MAX_TIMEOUT_SECONDS
from tests.infra.helpers import actions_on, function_statements, litemx_functions


def _props(synth: Any, construct: Any) -> dict[str, Any]:
    props: dict[str, Any] = synth.resources[synth.logical_id(construct)]["Properties"]
    return props


def test_the_webhook_queue_keeps_events_through_24_hours_of_retries_then_its_dlq(default):
    stack = default.stack
    queue = _props(default, stack.webhooks.queue)
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [default.logical_id(stack.webhooks.dlq), "Arn"]},
        "maxReceiveCount": WEBHOOK_MAX_RECEIVE_COUNT,
    }
    # every attempt of a day is a receive (ChangeMessageVisibility backoff), with room for busy waits
    assert 2 * len(schedule()) <= WEBHOOK_MAX_RECEIVE_COUNT
    assert queue["MessageRetentionPeriod"] >= 2 * 24 * 3600
    assert queue["SqsManagedSseEnabled"] is True
    assert _props(default, stack.webhooks.dlq)["MessageRetentionPeriod"] == 14 * 24 * 3600
    timeout = litemx_functions(default)["webhooks"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert timeout >= MAX_TIMEOUT_SECONDS + 5  # at least one attempt always fits


def test_the_delivery_function_reports_batch_item_failures_at_bounded_concurrency(default):
    queue_id = default.logical_id(default.stack.webhooks.queue)
    (mapping,) = [
        m["Properties"]
        for m in default.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    ]
    assert mapping["FunctionName"] == {"Ref": litemx_functions(default)["webhooks"]["LogicalId"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == WEBHOOK_BATCH_SIZE
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == 10


def test_inbound_may_only_send_to_the_webhook_queue_and_the_function_may_delay_and_dead_letter(default):
    stack = default.stack
    functions = litemx_functions(default)
    queue, dlq = default.logical_id(stack.webhooks.queue), default.logical_id(stack.webhooks.dlq)
    inbound = function_statements(default, functions["inbound"])
    assert actions_on(inbound, queue) == {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
    assert actions_on(inbound, dlq) == set()
    webhooks = function_statements(default, functions["webhooks"])
    assert "sqs:ChangeMessageVisibility" in actions_on(webhooks, queue)
    assert "sqs:SendMessage" not in actions_on(webhooks, queue)
    assert "sqs:SendMessage" in actions_on(webhooks, dlq)
    env = functions["webhooks"]["Properties"]["Environment"]["Variables"]
    assert env["WEBHOOK_MAX_RECEIVE_COUNT"] == str(WEBHOOK_MAX_RECEIVE_COUNT)
    assert "WEBHOOK_ALLOW_LOCAL_HTTP" not in env
