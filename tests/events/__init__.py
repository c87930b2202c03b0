"""SES and AWS sample events used by the tests, loaded from the JSON files beside this module."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent
DEPLOYMENT_ACCOUNT = "123456789012"  # the sendingAccountId in every sample notification
CONFIGURATION_SET = "litemx-test-feedback"
# The instant the JSON samples were written around. Unit tests on in-memory fakes use them as they are;
# anything written to the local AWS rebases them onto the test clock (`at=`), keeping their spacing.
FIXTURE_NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
_ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def iso(at: datetime) -> str:
    """SES's and SNS's spelling of an instant: milliseconds and Z."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rebase(document: Any, at: datetime) -> Any:
    """Every ISO instant in `document` moved by `at - FIXTURE_NOW` (a copy; other values untouched)."""
    if isinstance(document, dict):
        return {key: rebase(value, at) for key, value in document.items()}
    if isinstance(document, list):
        return [rebase(value, at) for value in document]
    if isinstance(document, str) and _ISO_INSTANT.match(document):
        instant = datetime.fromisoformat(document.replace("Z", "+00:00"))
        return iso(at + (instant - FIXTURE_NOW))
    return document


def load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def feedback(
    name: str,
    *,
    account_id: str = "",
    message_id: str = "",
    mailbox: str = "box0@example.com",
    at: datetime | None = None,
    **mail: Any,
) -> dict[str, Any]:
    """A sample SES notification, with LiteMX's tags (event-publishing format) filled in, its instants
    rebased onto `at` when given, and any `mail` fields replaced."""
    document: dict[str, Any] = load(f"feedback/{name}.json")
    if at is not None:
        document = rebase(document, at)
    tags = document["mail"].get("tags")
    if tags is not None:
        tags["litemx-account"] = [account_id]
        tags["litemx-message"] = [message_id]
        tags["litemx-mailbox"] = [mailbox]
    mail.setdefault("source", mailbox)
    document["mail"].update(mail)
    return document


def sns_envelope(
    message: dict[str, Any] | str, *, message_id: str = "sns-1", at: datetime = FIXTURE_NOW
) -> dict[str, Any]:
    """The SNS envelope SQS receives without raw delivery: `Message` is a JSON string."""
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": f"arn:aws:sns:us-east-1:{DEPLOYMENT_ACCOUNT}:litemx-feedback",
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": iso(at + timedelta(seconds=5)),
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-example.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }


def sns_event(
    message: dict[str, Any] | str, *, message_id: str = "sns-1", at: datetime = FIXTURE_NOW
) -> dict[str, Any]:
    """The event SNS invokes a subscribed function with (sns/lambda-event.json, the shape of AWS's sample):
    one record whose `Sns.Message` is `message` as a JSON string."""
    event: dict[str, Any] = load("sns/lambda-event.json")
    event["Records"][0]["Sns"].update(
        MessageId=message_id,
        Message=message if isinstance(message, str) else json.dumps(message),
        Timestamp=iso(at + timedelta(seconds=5)),
    )
    return event


def sns_event_of(notification: dict[str, Any]) -> dict[str, Any]:
    """The event SNS invokes a function with for a notification an SQS subscription received as SNS's
    JSON (what moto delivers): the same message id, topic, timestamp and Message."""
    event: dict[str, Any] = load("sns/lambda-event.json")
    event["Records"][0]["Sns"].update(
        {key: notification[key] for key in ("MessageId", "TopicArn", "Message", "Timestamp")}
    )
    return event


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
    timestamp: str | datetime = "2026-11-24T09:59:59.123Z",
    dmarc_policy: str | None = None,
    **verdicts: str,
) -> dict[str, Any]:
    """The SES receipt-rule Lambda event for one message; `verdicts` override spam=, virus=, spf=,
    dkim=, dmarc= (PASS by default)."""
    event: dict[str, Any] = load("ses/receipt-lambda-event.json")
    ses = event["Records"][0]["ses"]
    when = iso(timestamp) if isinstance(timestamp, datetime) else timestamp
    ses["mail"].update(messageId=message_id, destination=recipients, source=source, timestamp=when)
    ses["receipt"]["timestamp"] = when
    ses["receipt"]["recipients"] = recipients
    for name, status in verdicts.items():
        ses["receipt"][f"{name}Verdict"] = {"status": status}
    if dmarc_policy is not None:
        ses["receipt"]["dmarcPolicy"] = dmarc_policy
    return event
