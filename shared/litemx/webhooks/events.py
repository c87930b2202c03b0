"""The `message.received` event: small, about one indexed message, never its body.

The inbound path builds the event's data here (`job_for`) and hands it to the delivery function (an
asynchronous invocation). What travels from there on, the invocation payload and the signed body, is
litemx.webhooks.payloads, which the delivery function loads without the inbound and directory models
this module needs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from litemx.directory.models import WebhookRoute
from litemx.inbound.models import Folder, InboundMessage
from litemx.webhooks.models import WebhookJob, webhook_id

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
