"""The `message.received` webhook in the OpenAPI document (OpenAPI 3.1 `webhooks`): the event LiteMX POSTs
to a mailbox's subscribed URL, and the Standard Webhooks signature headers (docs/agents.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from functions.api.models import ApiModel


class MessageReceivedData(ApiModel):
    """One newly indexed message; never its body. GET `url` with a `read` token for the rest."""

    mailbox: str = Field(description="The mailbox that received it")
    message_id: str = Field(description="LiteMX's id of the message in the read API")
    rfc_message_id: str = Field(description="Its Message-ID header, without angle brackets")
    from_: str = Field(alias="from", description="The From address (canonical), or empty")
    subject: str = Field(description="At most 500 characters")
    snippet: str = Field(description="The start of its text, on one line, at most 200 characters")
    folder: Literal["inbox", "spam"] = Field(description="spam only for subscriptions that include it")
    flags: list[str] = Field(description="e.g. has_attachments, auto_generated, spoof_suspect")
    received_at: str = Field(description="When SES received it (ISO 8601, UTC)")
    size: int = Field(description="The raw message's size in bytes")
    url: str = Field(description="GET /v1/mailboxes/{address}/messages/{id} for this message")


class MessageReceivedEvent(ApiModel):
    """The signed request body (Standard Webhooks: type, timestamp, data)."""

    type: Literal["message.received"]
    timestamp: str = Field(description="The message's received_at")
    data: MessageReceivedData


SIGNATURE_HEADERS: list[dict[str, Any]] = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "description": "The event's id (`msg_…`), the same on every retry: drop a repeat",
        "schema": {"type": "string"},
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "description": "Seconds since the epoch when this attempt was signed; refuse one over 5 minutes off",
        "schema": {"type": "string"},
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "description": "`v1,<base64 HMAC-SHA256>` with the key base64-decoded from the `whsec_` secret, "
        "over `{webhook-id}.{webhook-timestamp}.{raw body}` (Standard Webhooks)",
        "schema": {"type": "string"},
    },
]


def add_webhooks(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schema = MessageReceivedEvent.model_json_schema(
        ref_template="#/components/schemas/{model}", by_alias=True
    )
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = definition
    schemas["MessageReceivedEvent"] = schema
    document["webhooks"] = {
        "message.received": {
            "post": {
                "summary": "New mail in a subscribed mailbox (`litemx webhook add`)",
                "description": "Retried with exponential backoff (30 s doubling, at most 3 h apart) for "
                "24 h until the receiver answers 2xx; redirects are not followed. Only https URLs that "
                "resolve to public addresses are called.",
                "operationId": "message_received",
                "parameters": SIGNATURE_HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/MessageReceivedEvent"}}
                    },
                },
                "responses": {
                    "2XX": {"description": "Received: not sent again"},
                    "default": {"description": "Anything else (or no answer in time): retried"},
                },
                "security": [],
            }
        }
    }
