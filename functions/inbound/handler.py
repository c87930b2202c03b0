"""Placeholder inbound handler: fails loudly until its issue replaces it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> Any:
    logger.error("inbound handler not implemented yet")
    raise NotImplementedError("LiteMX inbound handler not implemented yet")
