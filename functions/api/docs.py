"""The API's OpenAPI document, kept honest: each operation lists exactly the statuses it can answer, with
the body it answers with, and nothing Powertools adds on its own (its 422 "Validation Error": validation
errors are 400 here)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from functions.api.models import ErrorOut

# Outbound ids are `msg-<32 hex>`; inbound ids `<time>.<SES message id>`. Longer or stranger ids are
# refused (400) before any store sees them: a DynamoDB key holds at most 1,024 bytes.
MESSAGE_ID: dict[str, Any] = {"min_length": 1, "max_length": 200, "pattern": r"^[A-Za-z0-9._:+=-]+$"}

ERROR_TEXT = {
    400: "Malformed request, or refused: `malformed_request`, `from_invalid`, `recipient_invalid`, "
    "`header_injection`, `header_not_allowed`, `recipients_missing`, …",
    401: "No token, or an unknown, invalid, revoked or expired one",
    403: "Scope missing, or the account, domain, mailbox or token is disabled",
    404: "Not found (or another account's)",
    409: "Idempotency-Key reused with another body, or its first request is still running",
    413: "The request or the composed message is too large",
    415: "The body is not application/json",
    422: "Refused by the sending policy",
    429: "A recipient cap is reached (Retry-After until it resets)",
    500: "An unexpected failure (`internal_error`, with a request id)",
    503: "Storing or queueing failed; nothing was sent or counted (Retry-After)",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "string"}}}
HEADERS = {409: RETRY_AFTER, 429: RETRY_AFTER, 503: RETRY_AFTER}


def responses(*items: int | tuple[int, str] | tuple[int, str, type[BaseModel]]) -> dict[int, OpenAPIResponse]:
    """Status → response: a bare status is an error answer (`{"error": {"code", "message"}}`)."""
    out: dict[int, OpenAPIResponse] = {}
    for item in items:
        model: type[BaseModel] = ErrorOut
        if isinstance(item, int):
            status, text = item, ERROR_TEXT[item]
        elif len(item) == 2:
            status, text = item
        else:
            status, text, model = item
        out[status] = {"description": text, "content": {"application/json": {"model": model}}}
    return out


def honest_document(generated: str) -> str:
    """Drop what Powertools adds on its own (422 "Validation Error"), and name the response headers.
    The webhook's models load here, with the document: no route answers with them."""
    from functions.api.webhook_docs import add_webhooks

    document = json.loads(generated)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            answers = operation.get("responses", {})
            if answers.get("422", {}).get("description") == "Validation Error":
                del answers["422"]
            for status, headers in HEADERS.items():
                if str(status) in answers:
                    answers[str(status)]["headers"] = headers
            if "202" in answers:
                answers["202"]["headers"] = {
                    "Location": {"description": "The message's status URL", "schema": {"type": "string"}}
                }
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(unused, None)
    add_webhooks(document)
    return json.dumps(document)
