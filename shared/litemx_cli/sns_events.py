"""The event SNS invokes the feedback function with, rebuilt from what a queue holds.

Two places hold feedback as queue messages rather than invocations: the feedback DLQ (`litemx queue redrive
feedback` replays it into the function) and, in local mode, the queue the local system subscribes to the
topic as its stand-in for SNS's push (moto's SNS cannot invoke a function). A message there is one of:
- a Lambda event, `{"Records": [...]}`: what Lambda's dead-letter queue receives for an invocation that
  failed all its attempts ("the original event payload with no modifications", with RequestID, ErrorCode
  and ErrorMessage as attributes: https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html);
- SNS's notification JSON (`Type`, `MessageId`, `TopicArn`, `Message`, ...): what SNS writes to a
  subscription's DLQ when it cannot deliver, and what an SQS subscription without raw delivery receives;
- SES's document itself: what the feedback queue before #13 (raw delivery) parked in the same DLQ.
Anything else is no feedback event and is left where it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# What decoding hostile JSON raises (see litemx.feedback.notifications).
_JSON_ERRORS = (ValueError, TypeError, RecursionError)


def sns_lambda_event(notification: Mapping[str, Any], subscription_arn: str = "") -> dict[str, Any]:
    """SNS's notification JSON -> the Lambda event SNS builds from it: one record, `Sns` holding the same
    fields, the two URLs spelt `Url` (https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html).
    `subscription_arn` is unknown to a redrive; the handler does not read it."""
    sns = {
        "Type": notification.get("Type", "Notification"),
        "MessageId": notification.get("MessageId", ""),
        "TopicArn": notification.get("TopicArn", ""),
        "Subject": notification.get("Subject"),
        "Message": notification.get("Message", ""),
        "Timestamp": notification.get("Timestamp", ""),
        "SignatureVersion": notification.get("SignatureVersion", ""),
        "Signature": notification.get("Signature", ""),
        "SigningCertUrl": notification.get("SigningCertURL", notification.get("SigningCertUrl", "")),
        "UnsubscribeUrl": notification.get("UnsubscribeURL", notification.get("UnsubscribeUrl", "")),
        "MessageAttributes": notification.get("MessageAttributes", {}),
    }
    record = {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": sns,
    }
    return {"Records": [record]}


def feedback_invocation(body: str, *, message_id: str, subscription_arn: str = "") -> dict[str, Any] | None:
    """A queued message's body -> the event to invoke the feedback function with, or None when it holds
    none of the three shapes (see the module's docstring). Never raises."""
    try:
        document = json.loads(body)
    except _JSON_ERRORS:
        return None
    if not isinstance(document, dict):
        return None
    if isinstance(document.get("Records"), list):
        return document
    if "Type" in document and "Message" in document:
        return sns_lambda_event(document, subscription_arn)
    if not isinstance(document.get("mail"), dict) or not (
        "eventType" in document or "notificationType" in document
    ):
        return None  # not SES's document either: left in the DLQ for the operator to see
    bare = {"Type": "Notification", "MessageId": message_id, "Message": body}
    return sns_lambda_event(bare, subscription_arn)
