"""The `message.received` event: small, about one indexed message, never its body.

The inbound path builds the event's data (`job_for`) and hands it to the delivery function (an
asynchronous invocation); the delivery function adds the absolute link to the read API (it knows the
API's address) and signs the JSON it sends (`body`). A later attempt invokes the function again with the
same job and the receive counter one higher (`invocation`, `parse_invocation`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from litemx.directory.models import WebhookRoute
from litemx.inbound.models import Folder, InboundMessage
from litemx.webhooks.models import EVENT_MESSAGE_RECEIVED, WebhookJob, webhook_id

SNIPPET_CHARS = 200
SUBJECT_CHARS = 500
_SPACE = re.compile(r"\s+")
_TAG = re.compile(r"<[^>]*>")


def routes_for(folder: Folder, routes: Iterable[WebhookRoute]) -> list[WebhookRoute]:
    """The subscriptions a message in `folder` is announced to: inbox to all, spam only to those that
    asked for it, quarantined (virus) mail to none."""
    if folder is Folder.INBOX:
        return list(routes)
    if folder is Folder.SPAM:
        return [route for route in routes if route.include_spam]
    return []


def snippet(text: tuple[str, ...], html: tuple[str, ...]) -> str:
    """The first characters of the message's text (or its HTML without tags), on one line."""
    source = text[0] if text else _TAG.sub(" ", html[0]) if html else ""
    return _SPACE.sub(" ", source[: SNIPPET_CHARS * 4]).strip()[:SNIPPET_CHARS]


def read_path(mailbox: str, message_id: str) -> str:
    return f"/v1/mailboxes/{quote(mailbox, safe='@')}/messages/{quote(message_id, safe='')}"


def job_for(
    entry: InboundMessage, route: WebhookRoute, *, snippet_text: str, queued_at: datetime
) -> WebhookJob:
    headers = entry.headers
    data: dict[str, Any] = {
        "mailbox": entry.mailbox,
        "message_id": entry.message_id,
        "rfc_message_id": headers.message_id[:998],
        "from": headers.from_address,
        "subject": headers.subject[:SUBJECT_CHARS],
        "snippet": snippet_text,
        "folder": entry.folder.value,
        "flags": sorted(flag.value for flag in entry.flags),
        "received_at": entry.received_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "size": entry.size,
        "path": read_path(entry.mailbox, entry.message_id),
    }
    return WebhookJob(
        subscription_id=route.subscription_id,
        mailbox=entry.mailbox,
        message_id=entry.message_id,
        webhook_id=webhook_id(route.subscription_id, entry.message_id),
        data=data,
        queued_at=queued_at,
    )


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
    if queued_at.tzinfo is None:
        return None
    return WebhookJob(
        subscription_id=value["subscription_id"],
        mailbox=value["mailbox"],
        message_id=value["message_id"],
        webhook_id=value["webhook_id"],
        data=value["data"],
        queued_at=queued_at,
    )
