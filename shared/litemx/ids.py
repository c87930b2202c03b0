"""Identifier formats; ids never contain '_' so that token secrets can be split unambiguously."""

from __future__ import annotations

import re
import secrets
import uuid

ACCOUNT_ID = re.compile(r"^acc-[0-9a-f]{12}$")
TOKEN_ID = re.compile(r"^tok-[0-9a-f]{12}$")


def new_account_id() -> str:
    return f"acc-{secrets.token_hex(6)}"


def new_token_id() -> str:
    return f"tok-{secrets.token_hex(6)}"


def new_request_id() -> str:
    return f"req-{uuid.uuid4().hex}"
