"""What the outbound services need from the outside world; stores and fakes implement these."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from litemx.audit.models import AuditRecord
from litemx.messages.models import MessageStatus, OutboundMessage

if TYPE_CHECKING:
    # A type of the sender's port only: the api, which never delivers, does not load the reputation models.
    from litemx.reputation.models import Increment


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...


class SendQueue(Protocol):
    def enqueue(self, message_id: str, raw: bytes | None = None) -> None:
        """Queue the message; `raw` (its MIME) rides along inline when it is not stored in the bucket."""
        ...


class MessageRepository(Protocol):
    def create(self, message: OutboundMessage) -> OutboundMessage: ...
    def get(self, message_id: str) -> OutboundMessage: ...
    def claim(self, message_id: str, *, now: datetime, lease: timedelta) -> OutboundMessage | None: ...
    def claim_many(self, message_ids: Sequence[str], *, now: datetime, lease: timedelta) -> set[str]: ...
    def get_many(self, message_ids: Iterable[str]) -> dict[str, OutboundMessage]: ...
    def mark_sent(
        self,
        message: OutboundMessage,
        *,
        now: datetime,
        provider: str,
        provider_message_id: str,
        audit: AuditRecord,
    ) -> OutboundMessage | None: ...
    def transition(
        self,
        message: OutboundMessage,
        status: MessageStatus,
        *,
        now: datetime,
        reason_code: str | None = None,
        reason: str | None = None,
        provider: str | None = None,
        provider_message_id: str | None = None,
    ) -> OutboundMessage | None: ...


class QuotaReleaser(Protocol):
    def refund(self, message: OutboundMessage) -> None:
        """Give back every counter and contact mark the message reserved, in one transaction."""
        ...


class AuditWriter(Protocol):
    def record(self, record: AuditRecord) -> None: ...


class SendRate(Protocol):
    """The provider's send rate, shared by every concurrent sender (a token bucket per second)."""

    def acquire(self, units: int, *, now: datetime) -> datetime | None:
        """Take `units` (recipients) from the current second: None when taken, else when to try again."""
        ...


class SendCounter(Protocol):
    """The reputation buckets the sender counts its sends into (the rates' denominator)."""

    def add(self, counts: Sequence[Increment]) -> None:
        """Add each increment to its bucket (plain counter updates; no read, no condition)."""
        ...
