"""Audit records: who did what, for which account, when, and why it was allowed or refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Decisions whose token could not be verified belong to no account; they are kept under this key.
UNAUTHENTICATED = "unauthenticated"


@dataclass(frozen=True)
class AuditRecord:
    account_id: str
    at: datetime
    request_id: str
    event: str
    actor: str
    outcome: str
    reason_code: str | None = None
    message: str = ""
    mailbox: str | None = None
    recipients_count: int = 0
    details: dict[str, str] = field(default_factory=dict)
