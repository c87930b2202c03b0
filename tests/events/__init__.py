"""SES and AWS sample events used by the tests, loaded from the JSON files beside this module."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent
DEPLOYMENT_ACCOUNT = "123456789012"  # the sendingAccountId in every sample notification
CONFIGURATION_SET = "litemx-test-feedback"


def load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def feedback(
    name: str, *, account_id: str = "", message_id: str = "", mailbox: str = "box0@example.com", **mail: Any
) -> dict[str, Any]:
    """A sample SES notification, with LiteMX's tags (event-publishing format) filled in and any `mail`
    fields replaced."""
    document: dict[str, Any] = load(f"feedback/{name}.json")
    tags = document["mail"].get("tags")
    if tags is not None:
        tags["litemx-account"] = [account_id]
        tags["litemx-message"] = [message_id]
        tags["litemx-mailbox"] = [mailbox]
    mail.setdefault("source", mailbox)
    document["mail"].update(mail)
    return document


def sns_envelope(message: dict[str, Any] | str, *, message_id: str = "sns-1") -> dict[str, Any]:
    """The SNS envelope SQS receives without raw delivery: `Message` is a JSON string."""
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": f"arn:aws:sns:us-east-1:{DEPLOYMENT_ACCOUNT}:litemx-feedback",
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": "2026-11-24T10:00:05.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-example.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }


def sqs_lambda_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The Lambda event an SQS event source mapping builds from messages received from the queue."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


class FakeLambdaContext:
    function_name = "litemx-test"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:us-east-1:{DEPLOYMENT_ACCOUNT}:function:litemx-test"
    aws_request_id = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def mime(name: str) -> bytes:
    """A raw message of the MIME corpus."""
    return (EVENTS / "mime" / f"{name}.eml").read_bytes()


def receipt_event(
    message_id: str,
    recipients: list[str],
    *,
    source: str = "alice@sender.test",
    timestamp: str = "2026-11-24T09:59:59.123Z",
    dmarc_policy: str | None = None,
    **verdicts: str,
) -> dict[str, Any]:
    """The SES receipt-rule Lambda event for one message; `verdicts` override spam=, virus=, spf=,
    dkim=, dmarc= (PASS by default)."""
    event: dict[str, Any] = load("ses/receipt-lambda-event.json")
    ses = event["Records"][0]["ses"]
    ses["mail"].update(messageId=message_id, destination=recipients, source=source, timestamp=timestamp)
    ses["receipt"]["recipients"] = recipients
    for name, status in verdicts.items():
        ses["receipt"][f"{name}Verdict"] = {"status": status}
    if dmarc_policy is not None:
        ses["receipt"]["dmarcPolicy"] = dmarc_policy
    return event
