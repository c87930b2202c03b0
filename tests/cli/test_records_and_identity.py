"""The pure parts behind `domain add` and `domain status`: DNS records and SES identity states."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from litemx.directory.models import Verification
from litemx.errors import NotFoundError
from litemx_cli.dns import DnsRecord, records_for
from litemx_cli.ses_identity import SesIdentities


def test_records_for_a_domain() -> None:
    records = records_for("example.com", "eu-west-1", ("a1", "b2", "c3"))

    assert records == [
        DnsRecord("MX", "example.com", "10 inbound-smtp.eu-west-1.amazonaws.com", "receive mail with SES"),
        DnsRecord("CNAME", "a1._domainkey.example.com", "a1.dkim.amazonses.com", "Easy DKIM"),
        DnsRecord("CNAME", "b2._domainkey.example.com", "b2.dkim.amazonses.com", "Easy DKIM"),
        DnsRecord("CNAME", "c3._domainkey.example.com", "c3.dkim.amazonses.com", "Easy DKIM"),
        DnsRecord("TXT", "example.com", '"v=spf1 include:amazonses.com ~all"', "SPF"),
        DnsRecord(
            "TXT", "_dmarc.example.com", '"v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com"', "DMARC"
        ),
    ]


class _Sesv2:
    def __init__(self, answer: dict[str, Any] | None = None, error: str | None = None) -> None:
        self.answer, self.error = answer or {}, error

    def _reply(self, operation: str) -> dict[str, Any]:
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "no"}}, operation)
        return self.answer

    def get_email_identity(self, **_: Any) -> dict[str, Any]:
        return self._reply("GetEmailIdentity")

    def create_email_identity(self, **_: Any) -> dict[str, Any]:
        return self._reply("CreateEmailIdentity")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"VerifiedForSendingStatus": True, "DkimAttributes": {"Status": "SUCCESS"}}, Verification.VERIFIED),
        ({"VerificationStatus": "SUCCESS"}, Verification.VERIFIED),
        ({"VerifiedForSendingStatus": False, "DkimAttributes": {"Status": "PENDING"}}, Verification.PENDING),
        ({"DkimAttributes": {"Status": "TEMPORARY_FAILURE"}}, Verification.PENDING),
        ({"DkimAttributes": {"Status": "FAILED"}}, Verification.FAILED),
        ({"VerificationStatus": "FAILED"}, Verification.FAILED),
        ({}, Verification.PENDING),
    ],
)
def test_identity_states_map_to_the_directorys_verification(
    answer: dict[str, Any], expected: Verification
) -> None:
    assert SesIdentities(_Sesv2(answer)).state("example.com").verification is expected


def test_dkim_tokens_are_read_from_ses() -> None:
    answer = {"DkimAttributes": {"Status": "PENDING", "Tokens": ["x", "y", "z"]}}

    state = SesIdentities(_Sesv2(answer)).start_verification("example.com")

    assert state.dkim_tokens == ("x", "y", "z")


def test_an_existing_identity_is_read_back_instead_of_created() -> None:
    class Existing(_Sesv2):
        def create_email_identity(self, **_: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "AlreadyExistsException", "Message": "x"}}, "Create")

    state = SesIdentities(Existing({"VerifiedForSendingStatus": True})).start_verification("example.com")

    assert state.verification is Verification.VERIFIED


def test_an_identity_ses_does_not_know_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="litemx domain add"):
        SesIdentities(_Sesv2(error="NotFoundException")).state("example.com")


def test_other_ses_errors_propagate() -> None:
    with pytest.raises(ClientError):
        SesIdentities(_Sesv2(error="AccessDeniedException")).state("example.com")
