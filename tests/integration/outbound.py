"""The outbound pipeline wired to the local AWS exactly as the stack wires it on AWS: env variables in,
real handlers, a real SQS queue with a DLQ, S3, and moto's SES."""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from functions import wiring
from litemx.storage.tables import TableNames
from litemx_local.system import sqs_record
from litemx_local.world import World, build_world
from tests.apigw import FakeLambdaContext, HttpAnswer, call, http_event

BUCKET = "litemx-outbound-test"
CONFIGURATION_SET = "litemx-test"
MAX_RECEIVES = 3
SEND_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:send"


@dataclass
class Pipeline:
    world: World
    queue_url: str
    dlq_url: str
    moto_endpoint: str
    sqs: Any = field(default_factory=lambda: boto3.client("sqs"))

    def api(
        self, method: str, path: str, *, body: Any = None, token: str | None = None, **kw: Any
    ) -> HttpAnswer:
        from functions.api import handler

        return call(handler.handler, http_event(method, path, body=body, token=token, **kw))

    def send(self, body: dict[str, Any], *, mailbox: str | None = None, **kw: Any) -> HttpAnswer:
        sender = mailbox or self.world.mailboxes[0].address
        return self.api(
            "POST", "/v1/messages", body={"from": sender, **body}, token=self.world.secrets[sender], **kw
        )

    def receive(self) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"]
        )
        return list(response.get("Messages", []))

    def run_sender(self, messages: list[dict[str, Any]]) -> list[str]:
        """Feed one real SQS batch to the real sender handler, then act as the event source mapping:
        delete what succeeded, make failures visible again at once (the test stands in for time)."""
        from functions.sender import handler

        event = sqs_event(messages)
        failures = [
            f["itemIdentifier"] for f in handler.handler(event, FakeLambdaContext())["batchItemFailures"]
        ]
        for message in messages:
            if message["MessageId"] in failures:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return failures

    def drain(self) -> list[str]:
        return self.run_sender(self.receive())

    def sent_raw(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.moto_endpoint}/moto-api/data.json") as response:
            data = json.load(response)
        return list(data["ses"]["RawMessage"])

    def queue_depth(self, url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


@contextlib.contextmanager
def aws_requests() -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    """Every AWS request any client makes inside the block: (service, operation, parameters)."""
    made: list[tuple[str, str, dict[str, Any]]] = []
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private in the stubs

    def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
        made.append((client.meta.service_model.service_name, operation, params))
        return original(client, operation, params)

    setattr(BaseClient, "_make_api_call", counting)  # noqa: B010
    try:
        yield made
    finally:
        setattr(BaseClient, "_make_api_call", original)  # noqa: B010


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """What the SQS event source mapping hands the sender for these received messages."""
    return {"Records": [sqs_record(m, SEND_QUEUE_ARN) for m in messages]}


def pipeline_environment(tables: TableNames, queue_url: str, **overrides: str) -> dict[str, str]:
    env = {f"TABLE_{name.upper()}": value for name, value in vars(tables).items()}
    env.update(
        OUTBOUND_BUCKET=BUCKET,
        SEND_QUEUE_URL=queue_url,
        SEND_MAX_RECEIVE_COUNT=str(MAX_RECEIVES),
        OUTBOUND_PROVIDER="ses",
        SES_CONFIGURATION_SET=CONFIGURATION_SET,
        SES_SANDBOX_MODE="production",
        POWERTOOLS_SERVICE_NAME="litemx-test",
        POWERTOOLS_METRICS_NAMESPACE="LiteMX",
        POWERTOOLS_TRACE_DISABLED="true",
    )
    env.update(overrides)
    return env


def make_pipeline(
    tables: TableNames, local_aws: Any, monkeypatch: pytest.MonkeyPatch, **env: str
) -> Pipeline:
    sqs, s3, ses = boto3.client("sqs"), boto3.client("s3"), boto3.client("ses")
    s3.create_bucket(Bucket=BUCKET)
    dlq_url = sqs.create_queue(QueueName=f"{tables.messages}-send-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=f"{tables.messages}-send",
        Attributes={
            "VisibilityTimeout": "30",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}
            ),
        },
    )["QueueUrl"]
    ses.verify_domain_identity(Domain="example.com")
    ses.create_configuration_set(ConfigurationSet={"Name": CONFIGURATION_SET})
    for key, value in pipeline_environment(tables, queue_url, **env).items():
        monkeypatch.setenv(key, value)
    _forget_process_state()
    return Pipeline(
        world=build_world(tables), queue_url=queue_url, dlq_url=dlq_url, moto_endpoint=local_aws.moto_endpoint
    )


def _forget_process_state() -> None:
    from functions.api import handler, idempotency

    wiring.reset_for_tests()
    idempotency._idempotent.cache_clear()
    handler._directory.cache_clear()
