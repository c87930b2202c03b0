"""Placeholder api handler: answers 501 until the API issue replaces it."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger()


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.warning("api handler not implemented yet")
    return {
        "statusCode": 501,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"error": "not_implemented", "message": "LiteMX API not implemented yet"}),
    }
