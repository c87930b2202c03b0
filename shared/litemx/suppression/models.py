"""Suppression entries: global (the address is bad for everyone) or scoped to one account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

GLOBAL_SCOPE = "global"


@dataclass(frozen=True)
class SuppressionEntry:
    scope: str
    address: str
    reason: str
    created_at: datetime
    source: str = "operator"
    expires_at: datetime | None = None

    def is_active(self, now: datetime) -> bool:
        """Expired entries stay readable until TTL removes them, but no longer suppress."""
        return self.expires_at is None or self.expires_at > now
