"""Amazon SES through SESv2 SendEmail with raw content (store module: boto3 lives here)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from litemx.providers.base import (
    ProviderBlockedError,
    ProviderRejectedError,
    ProviderStatus,
    ProviderThrottledError,
    SendResult,
)

_THROTTLING = {"Throttling", "ThrottlingException", "TooManyRequestsException", "LimitExceededException"}
_PAUSED = {"AccountSendingPausedException", "SendingPausedException"}
_TAG_VALUE = re.compile(r"[^A-Za-z0-9_\-.@]")


def _tag_value(value: str) -> str:
    """SES tag values allow only ASCII letters, digits, _ - . @ (256 characters)."""
    return _TAG_VALUE.sub("_", value)[:256]


class SesProvider:
    name = "ses"

    def __init__(
        self,
        client: Any,
        configuration_set: str | None,
        identities_client: Any | None = None,
        *,
        identities: bool | None = None,
    ) -> None:
        self._client = client  # a boto3 sesv2 client
        self._configuration_set = configuration_set
        self._identities = identities_client  # a boto3 ses (v1) client, to list verified identities
        # Verified identities only gate a sandboxed account's recipients. None: list them when GetAccount
        # says sandboxed or cannot tell, so a production account's first send skips a client and two
        # requests; True: always (the operator's `provider status`, SES_SANDBOX_MODE=sandbox); False:
        # never (SES_SANDBOX_MODE=production, where nothing is gated on them).
        self._list_identities = identities

    def send(
        self,
        raw: bytes,
        *,
        sender: str,
        recipients: tuple[str, ...],
        tags: Mapping[str, str],
        tenant: str | None = None,
    ) -> SendResult:
        request: dict[str, Any] = {
            "FromEmailAddress": sender,
            "Destination": {"ToAddresses": list(recipients)},
            "Content": {"Raw": {"Data": raw}},
            "EmailTags": [{"Name": name, "Value": _tag_value(value)} for name, value in tags.items()],
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        if tenant:
            request["TenantName"] = tenant  # SES tracks reputation and pauses per tenant (docs/tenants.md)
        try:
            response = self._client.send_email(**request)
        except ClientError as error:
            raise _translate(error) from error
        return SendResult(provider=self.name, provider_message_id=str(response["MessageId"]))

    def status(self) -> ProviderStatus:
        """Sandbox and quota from SESv2 GetAccount; the call may be unavailable (then: unknown)."""
        try:
            account = self._client.get_account()
        except ClientError as error:
            verified = self._verified(sandboxed=None)
            return ProviderStatus(
                provider=self.name,
                sandboxed=None,
                sending_enabled=None,
                verified_identities=verified,
                detail=f"GetAccount unavailable: {error.response.get('Error', {}).get('Code', 'error')}",
            )
        quota = account.get("SendQuota", {})
        sandboxed = not bool(account.get("ProductionAccessEnabled", False))
        verified = self._verified(sandboxed=sandboxed)
        return ProviderStatus(
            provider=self.name,
            sandboxed=sandboxed,
            sending_enabled=bool(account.get("SendingEnabled", True)),
            max_24_hour_send=quota.get("Max24HourSend"),
            max_send_rate=quota.get("MaxSendRate"),
            sent_last_24_hours=quota.get("SentLast24Hours"),
            enforcement_status=account.get("EnforcementStatus"),
            verified_identities=verified,
        )

    def _verified(self, *, sandboxed: bool | None) -> tuple[str, ...]:
        """The verified identities, where they can matter: a sandboxed or unknown account, or when asked."""
        wanted = sandboxed is not False if self._list_identities is None else self._list_identities
        if self._identities is None or not wanted:
            return ()
        return _verified_identities(self._identities)


def _verified_identities(ses_v1: Any) -> tuple[str, ...]:
    identities: list[str] = []
    for page in ses_v1.get_paginator("list_identities").paginate():
        identities.extend(page.get("Identities", []))
    verified: list[str] = []
    for start in range(0, len(identities), 100):
        attributes = ses_v1.get_identity_verification_attributes(Identities=identities[start : start + 100])
        for identity, state in attributes.get("VerificationAttributes", {}).items():
            if state.get("VerificationStatus") == "Success":
                verified.append(identity.lower())
    return tuple(sorted(verified))


def _translate(error: ClientError) -> Exception:
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", str(error))
    if "daily message quota exceeded" in message.lower():
        # Not a rate problem: nothing goes through before the rolling 24-hour window frees capacity.
        return ProviderThrottledError("provider_quota_exhausted", f"SES daily quota is spent: {message}")
    if code in _THROTTLING or "rate exceeded" in message.lower() or "quota exceeded" in message.lower():
        return ProviderThrottledError("provider_throttled", f"SES throttled the send: {message}")
    if code in _PAUSED:
        return ProviderBlockedError("outbound_blocked.provider_paused", f"SES sending is paused: {message}")
    if code in {
        "MessageRejected",
        "MailFromDomainNotVerifiedException",
        "BadRequestException",
        "NotFoundException",
    }:
        return ProviderRejectedError("provider_rejected", f"SES rejected the message ({code}): {message}")
    return error
