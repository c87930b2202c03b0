"""SES domain identities through SESv2 (the adapter: boto3 calls live here, the client is passed in)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from litemx.directory.models import Verification
from litemx.errors import NotFoundError


@dataclass(frozen=True)
class IdentityState:
    domain: str
    verification: Verification
    dkim_status: str  # SES's word: PENDING, SUCCESS, FAILED, TEMPORARY_FAILURE, NOT_STARTED
    verified_for_sending: bool
    dkim_tokens: tuple[str, ...]


class SesIdentities:
    def __init__(self, client: Any) -> None:
        self._client = client  # a boto3 sesv2 client

    def start_verification(self, domain: str) -> IdentityState:
        """Create the domain identity with Easy DKIM; when it already exists, report it as it is."""
        try:
            response = self._client.create_email_identity(EmailIdentity=domain)
        except ClientError as error:
            if _code(error) != "AlreadyExistsException":
                raise
            return self.state(domain)
        return _state(domain, response)

    def state(self, domain: str) -> IdentityState:
        try:
            response = self._client.get_email_identity(EmailIdentity=domain)
        except ClientError as error:
            if _code(error) == "NotFoundException":
                raise NotFoundError(
                    f"SES has no identity for {domain}: run `litemx domain add` again"
                ) from None
            raise
        return _state(domain, response)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _state(domain: str, response: dict[str, Any]) -> IdentityState:
    dkim = response.get("DkimAttributes") or {}
    dkim_status = str(dkim.get("Status", "NOT_STARTED"))
    for_sending = bool(response.get("VerifiedForSendingStatus", False))
    overall = str(response.get("VerificationStatus", ""))  # absent from CreateEmailIdentity's answer
    if for_sending or overall == "SUCCESS" or dkim_status == "SUCCESS":
        verification = Verification.VERIFIED
    elif "FAILED" in {overall, dkim_status}:
        verification = Verification.FAILED
    else:
        verification = Verification.PENDING
    return IdentityState(
        domain=domain,
        verification=verification,
        dkim_status=dkim_status,
        verified_for_sending=for_sending,
        dkim_tokens=tuple(dkim.get("Tokens") or ()),
    )
