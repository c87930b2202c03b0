"""What carries a `message.received` job from inbound to the receiver: the payload that invokes the
delivery function, and the signed JSON body it sends.

The inbound path invokes the delivery function asynchronously with a job (litemx.webhooks.events builds
it); the delivery function adds the absolute link to the read API (it knows the API's address) and signs
the JSON it sends (`body`). A later attempt invokes the function again with the same job and the receive
counter one higher (`invocation`, `parse_invocation`). Kept apart from the event's construction so that
the delivery function imports only the job's model.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from litemx.clock import plausible
from litemx.webhooks.models import EVENT_MESSAGE_RECEIVED, WebhookJob


def body(job: WebhookJob, *, api_base: str) -> bytes:
    """The signed JSON: Standard Webhooks' {type, timestamp, data}; `data.url` is the read API's link
    (GET it with a `read` token of the mailbox)."""
    data = dict(job.data)
    data["url"] = api_base.rstrip("/") + str(data.pop("path", ""))
    document = {"type": EVENT_MESSAGE_RECEIVED, "timestamp": data.get("received_at"), "data": data}
    return json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def invocation(job: WebhookJob, receive: int) -> dict[str, Any]:
    """What invokes the delivery function for the `receive`-th time: the job, and the counter (absent on
    the first invocation, which inbound makes with the job alone)."""
    return {**job.as_json(), "receive": receive}


def parse_invocation(value: object) -> tuple[WebhookJob, int] | None:
    """The job and its receive counter (1 when absent), or None when `value` is not one (never raises)."""
    job = _job(value)
    if job is None or not isinstance(value, dict):
        return None
    receive = value.get("receive", 1)
    if not isinstance(receive, int) or isinstance(receive, bool) or not 1 <= receive <= 10_000:
        return None
    return job, receive


def parse_job(text: str) -> WebhookJob | None:
    """A job from its JSON text (a DLQ message body), or None when the text is not one (never raises)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return _job(value)


def _job(value: object) -> WebhookJob | None:
    if not isinstance(value, dict) or value.get("v") != 1 or not isinstance(value.get("data"), dict):
        return None
    fields = ("subscription_id", "mailbox", "message_id", "webhook_id")
    if not all(isinstance(value.get(f), str) and 0 < len(value[f]) <= 400 for f in fields):
        return None
    try:
        queued_at = datetime.fromisoformat(str(value.get("queued_at")))
    except ValueError:
        return None
    # A job queued outside plausible instants is not one inbound wrote (its 24 h window would overflow).
    if queued_at.tzinfo is None or not plausible(queued_at):
        return None
    return WebhookJob(
        subscription_id=value["subscription_id"],
        mailbox=value["mailbox"],
        message_id=value["message_id"],
        webhook_id=value["webhook_id"],
        data=value["data"],
        queued_at=queued_at,
    )
