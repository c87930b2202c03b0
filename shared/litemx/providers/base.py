"""The provider port and the three ways a send can fail, so that the sender treats every provider alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

# SES v2 SendEmail takes at most 40 MB per message after encoding.
PROVIDER_MAX_MESSAGE_BYTES = 40_000_000


@dataclass(frozen=True)
class SendResult:
    provider: str
    provider_message_id: str


class ProviderError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ProviderThrottledError(ProviderError):
    """Try again later (SES Throttling / MaxSendingRateExceeded, SMTP 4xx): retried through the queue."""


class ProviderRejectedError(ProviderError):
    """Permanent for this message (MessageRejected, unverified identity, SMTP 5xx): the message fails."""


class ProviderBlockedError(ProviderError):
    """The provider will not send for anyone right now (account sending paused): outbound is blocked."""


class OutboundProvider(Protocol):
    name: str

    def send(
        self, raw: bytes, *, sender: str, recipients: tuple[str, ...], tags: Mapping[str, str]
    ) -> SendResult: ...

    def status(self) -> ProviderStatus: ...


@dataclass(frozen=True)
class ProviderStatus:
    """What `GET /v1/status` and `litemx provider status` report."""

    provider: str
    sandboxed: bool | None  # None: the provider could not tell
    sending_enabled: bool | None
    max_24_hour_send: float | None = None
    max_send_rate: float | None = None
    sent_last_24_hours: float | None = None
    enforcement_status: str | None = None
    verified_identities: tuple[str, ...] = ()
    detail: str = ""
    tenants: str | None = None  # "available" | "unavailable" (SES tenant management); None: not asked
