"""`litemx queue status|redrive` against the local AWS (moto's SQS), and redrive's real-AWS paths through
botocore's Stubber (moto has no StartMessageMoveTask, and its Lambda cannot run our functions)."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from litemx.storage.tables import TableNames
from litemx_cli.session import Session
from litemx_cli.target import from_stack_outputs, write_local_state
from litemx_local.aws import REGION
from tests.cli.conftest import Cli
from tests.events import feedback, sns_envelope, sns_event

pytestmark = pytest.mark.integration


def _queues(prefix: str) -> dict[str, str]:
    """The send queue and its DLQ, and feedback's DLQ (feedback has no queue: SNS pushes to its function)."""
    sqs = boto3.client("sqs", region_name=REGION)
    dlq = sqs.create_queue(QueueName=f"{prefix}-send-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    send = sqs.create_queue(
        QueueName=f"{prefix}-send",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "5"})},
    )["QueueUrl"]
    feedback_dlq = sqs.create_queue(QueueName=f"{prefix}-feedback-dlq")["QueueUrl"]
    return {"send": send, "send_dlq": dlq, "feedback_dlq": feedback_dlq}


@pytest.fixture
def queued_cli(cli: Cli, tables) -> Cli:
    # Locally the feedback "function" is the queue the local system drains into its handler (SnsPush)
    push = boto3.client("sqs", region_name=REGION).create_queue(QueueName=f"{tables.messages}-feedback-push")
    target = replace(cli.target, queues=_queues(tables.messages), functions={"feedback": push["QueueUrl"]})
    write_local_state(target)
    return Cli(target)


def _all(sqs: Any, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        found += batch
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_status_counts_each_queue_and_names_unsettled_sends(queued_cli: Cli) -> None:
    # Given a parked send record naming a message that has no record at all (a poison body), and one
    # parked feedback event
    sqs = boto3.client("sqs", region_name=REGION)
    queues = queued_cli.target.queues
    sqs.send_message(QueueUrl=queues["send_dlq"], MessageBody=json.dumps({"message_id": "msg-gone"}))
    sqs.send_message(QueueUrl=queues["feedback_dlq"], MessageBody=json.dumps(sns_event({})))

    # When
    report = queued_cli.json("queue", "status")

    # Then
    depths = {q["queue"]: q["visible"] for q in report["queues"]}
    assert depths == {"send": 0, "send_dlq": 1, "feedback_dlq": 1}
    assert report["send_dlq_unsettled"] == []  # an unknown message is nothing to settle
    assert "send_dlq" in queued_cli("queue", "status").stdout


def test_redrive_moves_the_dlq_back_by_hand_where_sqs_cannot(queued_cli: Cli) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    queues = queued_cli.target.queues
    for n in range(3):
        sqs.send_message(QueueUrl=queues["send_dlq"], MessageBody=f"record-{n}")

    result = queued_cli("queue", "redrive", "send")

    assert result.exit_code == 0, result.output
    assert "no StartMessageMoveTask" in result.stdout
    assert "moved 3" in result.stdout
    assert {m["Body"] for m in _all(sqs, queues["send"])} == {"record-0", "record-1", "record-2"}
    assert "Messages" not in sqs.receive_message(QueueUrl=queues["send_dlq"], MaxNumberOfMessages=10)


# The three shapes a feedback DLQ message may have (litemx_cli.sns_events), all about one bounce
BOUNCE = feedback("event-bounce-permanent-general")
PARKED = {
    "lambda-dlq": json.dumps(sns_event(BOUNCE, message_id="sns-lambda")),  # Lambda's DLQ: the event itself
    "sns-dlq": json.dumps(sns_envelope(BOUNCE, message_id="sns-undelivered")),  # SNS's: its notification
    "pre-13-queue": json.dumps(BOUNCE),  # the feedback queue's raw delivery, parked before #13
}


def _park(sqs: Any, queues: dict[str, str]) -> None:
    for body in (*PARKED.values(), "not an event at all"):
        sqs.send_message(QueueUrl=queues["feedback_dlq"], MessageBody=body)


def test_feedback_redrive_replays_each_parked_event_into_the_local_handlers_queue(queued_cli: Cli) -> None:
    # Given the feedback DLQ holding an event of each shape, and a body that is no event
    sqs = boto3.client("sqs", region_name=REGION)
    queues = queued_cli.target.queues
    _park(sqs, queues)

    # When the operator redrives it on the local system
    result = queued_cli("queue", "redrive", "feedback")

    # Then each event went to the queue the local system drains into the feedback handler, as SNS's event
    assert result.exit_code == 0, result.output
    assert "replayed 3 event(s)" in result.stdout
    assert "left 1 message(s)" in result.stdout
    events = [json.loads(m["Body"]) for m in _all(sqs, queued_cli.target.functions["feedback"])]
    assert len(events) == 3
    for event in events:
        (record,) = event["Records"]
        assert record["EventSource"] == "aws:sns"
        assert record["Sns"]["Type"] == "Notification"
        assert json.loads(record["Sns"]["Message"]) == BOUNCE
    assert {e["Records"][0]["Sns"]["MessageId"] for e in events} >= {"sns-lambda", "sns-undelivered"}
    # And only what holds no event is left in the DLQ, visible again (the alarm still counts it)
    assert [m["Body"] for m in _all(sqs, queues["feedback_dlq"])] == ["not an event at all"]


def test_feedback_redrive_invokes_the_function_asynchronously_on_aws(queued_cli: Cli, monkeypatch) -> None:
    # Given the feedback DLQ holding an event of each shape, and a deployed stack's function (stubbed
    # Lambda: the real Invoke API, checked by botocore's model)
    sqs = boto3.client("sqs", region_name=REGION)
    queues = queued_cli.target.queues
    _park(sqs, queues)
    lambda_client = boto3.client("lambda", region_name=REGION)
    stubber = Stubber(lambda_client)
    invoked: list[dict[str, Any]] = []
    for _ in PARKED:
        stubber.add_response("invoke", {"StatusCode": 202})
    stubber.activate()
    real_invoke = lambda_client.invoke

    def recording_invoke(**request: Any) -> Any:
        invoked.append(request)
        return real_invoke(**request)

    monkeypatch.setattr(lambda_client, "invoke", recording_invoke)
    clients = {"lambda": lambda_client, "sqs": sqs}
    monkeypatch.setattr(Session, "client", lambda self, service: clients[service])
    deployed = replace(queued_cli.target, name="LiteMX-prod", functions={"feedback": "litemx-prod-feedback"})
    monkeypatch.setattr("litemx_cli.session.resolve", lambda stack, region: deployed)

    # When
    result = queued_cli("--stack", "LiteMX-prod", "queue", "redrive", "feedback")

    # Then each event was handed to Lambda's asynchronous invocation (its retries and DLQ apply again)
    assert result.exit_code == 0, result.output
    assert "function litemx-prod-feedback" in result.stdout
    stubber.assert_no_pending_responses()
    assert [(r["FunctionName"], r["InvocationType"]) for r in invoked] == [
        ("litemx-prod-feedback", "Event")
    ] * 3
    for request in invoked:
        assert json.loads(json.loads(request["Payload"])["Records"][0]["Sns"]["Message"]) == BOUNCE
    assert [m["Body"] for m in _all(sqs, queues["feedback_dlq"])] == ["not an event at all"]


def test_feedback_redrive_replays_what_the_dlq_held_once_and_ends_when_replays_fail_again(
    queued_cli: Cli,
) -> None:
    # Given the feedback DLQ holding two parked events and a JSON object that is no feedback at all, and a
    # function that fails every replay: Lambda parks each event in the DLQ again
    from litemx_cli.queue_commands import _replay

    sqs = boto3.client("sqs", region_name=REGION)
    dlq = queued_cli.target.queues["feedback_dlq"]
    for body in (PARKED["lambda-dlq"], PARKED["sns-dlq"], json.dumps({"foo": 1})):
        sqs.send_message(QueueUrl=dlq, MessageBody=body)
    invoked: list[dict[str, Any]] = []

    def failing_again(event: dict[str, Any]) -> None:
        invoked.append(event)
        sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(event))

    # When the operator redrives it
    replayed, unusable, arrived = _replay(sqs, dlq, failing_again, None)

    # Then each parked event was replayed once, the run ended, and everything is visible in the DLQ again
    assert (replayed, unusable, arrived, len(invoked)) == (2, 1, 2, 2)
    bodies = [m["Body"] for m in _all(sqs, dlq)]
    assert len(bodies) == 3
    assert json.dumps({"foo": 1}) in bodies


def test_feedback_redrive_needs_a_stack_that_names_its_feedback_function(queued_cli: Cli) -> None:
    write_local_state(replace(queued_cli.target, functions={}))
    result = queued_cli("queue", "redrive", "feedback")
    assert result.exit_code == 1
    assert "no feedback DLQ and function" in result.output


def test_redrive_uses_sqs_message_move_tasks_on_aws(queued_cli: Cli, monkeypatch) -> None:
    # Given an SQS that has StartMessageMoveTask (stubbed: the real API, checked by botocore's model)
    client = boto3.client("sqs", region_name=REGION)
    dlq_arn = "arn:aws:sqs:us-east-1:123456789012:litemx-send-dlq"
    stubber = Stubber(client)
    stubber.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": dlq_arn}},
        {"QueueUrl": queued_cli.target.queues["send_dlq"], "AttributeNames": ["QueueArn"]},
    )
    stubber.add_response(
        "start_message_move_task",
        {"TaskHandle": "task-1"},
        {"SourceArn": dlq_arn, "MaxNumberOfMessagesPerSecond": 5},
    )
    stubber.activate()

    def stubbed(self: Session, service: str) -> Any:
        assert service == "sqs"
        return client

    monkeypatch.setattr(Session, "client", stubbed)
    # And a deployed stack as the target (its outputs as the CLI would read them)
    monkeypatch.setattr(
        "litemx_cli.session.resolve", lambda stack, region: replace(queued_cli.target, name=stack)
    )

    # When
    result = queued_cli("--stack", "LiteMX-prod", "queue", "redrive", "send", "--rate", "5")

    # Then SQS moves them to their source queue (no DestinationArn), and nothing else was called
    assert result.exit_code == 0, result.output
    assert "task-1" in result.stdout
    stubber.assert_no_pending_responses()


def test_the_inbound_dlq_cannot_be_redriven_and_says_where_the_mail_is(queued_cli: Cli) -> None:
    result = queued_cli("queue", "redrive", "inbound")
    assert result.exit_code == 1
    assert "raw-mail bucket" in result.output


def _outputs(**extra: str) -> dict[str, str]:
    outputs = {f"Table{f.name.capitalize()}": f"t-{f.name}" for f in fields(TableNames)}
    outputs |= {
        "ApiUrl": "https://api.example/",
        "SendQueueUrl": "q-send",
        "SendDlqUrl": "q-send-dlq",
        "FeedbackDlqUrl": "q-feedback-dlq",
        "InboundDlqUrl": "q-inbound-dlq",
        "RawMailBucketName": "raw",
        "OutboundBucketName": "out",
    }
    return outputs | extra


def test_a_stack_names_its_feedback_function_and_dlq_but_no_feedback_queue() -> None:
    target = from_stack_outputs("LiteMX-prod", REGION, _outputs(FeedbackFunctionName="litemx-prod-feedback"))
    assert target.functions == {"feedback": "litemx-prod-feedback"}
    assert target.queues["feedback_dlq"] == "q-feedback-dlq"
    assert "feedback" not in target.queues
    # A stack deployed before #13 still resolves (its feedback queue is ignored); it names no function
    old = from_stack_outputs("LiteMX-prod", REGION, _outputs(FeedbackQueueUrl="q-feedback"))
    assert old.functions == {}
    assert "feedback" not in old.queues
