"""`litemx queue status|redrive` against the local AWS (moto's SQS), and redrive's real-AWS path through
botocore's Stubber (moto has no StartMessageMoveTask)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from litemx_cli.session import Session
from litemx_cli.target import write_local_state
from litemx_local.aws import REGION
from tests.cli.conftest import Cli

pytestmark = pytest.mark.integration


def _queues(prefix: str) -> dict[str, str]:
    sqs = boto3.client("sqs", region_name=REGION)
    urls: dict[str, str] = {}
    for name in ("send", "feedback"):
        dlq = sqs.create_queue(QueueName=f"{prefix}-{name}-dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        urls[name] = sqs.create_queue(
            QueueName=f"{prefix}-{name}",
            Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "5"})},
        )["QueueUrl"]
        urls[f"{name}_dlq"] = dlq
    return urls


@pytest.fixture
def queued_cli(cli: Cli, tables) -> Cli:
    target = replace(cli.target, queues=_queues(tables.messages))
    write_local_state(target)
    return Cli(target)


def test_status_counts_each_queue_and_names_unsettled_sends(queued_cli: Cli) -> None:
    # Given a parked send record naming a message that has no record at all (a poison body), and one
    # queued feedback event
    sqs = boto3.client("sqs", region_name=REGION)
    queues = queued_cli.target.queues
    sqs.send_message(QueueUrl=queues["send_dlq"], MessageBody=json.dumps({"message_id": "msg-gone"}))
    sqs.send_message(QueueUrl=queues["feedback"], MessageBody="{}")

    # When
    report = queued_cli.json("queue", "status")

    # Then
    depths = {q["queue"]: q["visible"] for q in report["queues"]}
    assert depths == {"send": 0, "send_dlq": 1, "feedback": 1, "feedback_dlq": 0}
    assert report["send_dlq_unsettled"] == []  # an unknown message is nothing to settle
    assert "send_dlq" in queued_cli("queue", "status").stdout


def test_redrive_moves_the_dlq_back_by_hand_where_sqs_cannot(queued_cli: Cli) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    queues = queued_cli.target.queues
    for n in range(3):
        sqs.send_message(QueueUrl=queues["feedback_dlq"], MessageBody=f"event-{n}")

    result = queued_cli("queue", "redrive", "feedback")

    assert result.exit_code == 0, result.output
    assert "no StartMessageMoveTask" in result.stdout
    assert "moved 3" in result.stdout
    bodies = {
        m["Body"]
        for m in sqs.receive_message(QueueUrl=queues["feedback"], MaxNumberOfMessages=10)["Messages"]
    }
    assert bodies == {"event-0", "event-1", "event-2"}
    assert "Messages" not in sqs.receive_message(QueueUrl=queues["feedback_dlq"], MaxNumberOfMessages=10)


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
