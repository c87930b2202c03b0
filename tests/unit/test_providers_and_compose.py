from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from litemx.mail.compose import ComposeError, Draft, compose
from litemx.providers.base import ProviderBlockedError, ProviderRejectedError, ProviderThrottledError
from litemx.providers.ses import SesProvider

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


class StubSes:
    def __init__(self, error_code: str | None = None, account: dict[str, Any] | None = None) -> None:
        self.error_code, self.account = error_code, account
        self.requests: list[dict[str, Any]] = []

    def send_email(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        if self.error_code:
            raise ClientError({"Error": {"Code": self.error_code, "Message": "x"}}, "SendEmail")
        return {"MessageId": "ses-1"}

    def get_account(self) -> dict[str, Any]:
        if self.account is None:
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "GetAccount")
        return self.account


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("Throttling", ProviderThrottledError),
        ("TooManyRequestsException", ProviderThrottledError),
        ("MessageRejected", ProviderRejectedError),
        ("AccountSendingPausedException", ProviderBlockedError),
    ],
)
def test_ses_errors_map_to_retry_fail_or_block(code: str, expected: type[Exception]) -> None:
    with pytest.raises(expected):
        SesProvider(StubSes(code), "cs").send(
            b"raw", sender="a@example.com", recipients=("b@x.test",), tags={}
        )


def test_ses_send_uses_raw_content_configuration_set_and_tags() -> None:
    stub = StubSes()
    result = SesProvider(stub, "litemx").send(
        b"raw", sender="a@example.com", recipients=("b@x.test",), tags={"litemx-mailbox": "a+b@example.com"}
    )
    assert result.provider_message_id == "ses-1"
    [request] = stub.requests
    assert request["ConfigurationSetName"] == "litemx"
    assert request["Content"] == {"Raw": {"Data": b"raw"}}
    assert request["EmailTags"] == [{"Name": "litemx-mailbox", "Value": "a_b@example.com"}]


def test_sandbox_is_read_from_get_account_and_unknown_when_unavailable() -> None:
    sandboxed = SesProvider(
        StubSes(
            account={
                "ProductionAccessEnabled": False,
                "SendingEnabled": True,
                "SendQuota": {"Max24HourSend": 200},
            }
        ),
        None,
    ).status()
    assert (sandboxed.sandboxed, sandboxed.sending_enabled, sandboxed.max_24_hour_send) == (True, True, 200)
    unknown = SesProvider(StubSes(), None).status()
    assert unknown.sandboxed is None
    assert "unavailable" in unknown.detail


def test_compose_refuses_what_cannot_be_a_message() -> None:
    with pytest.raises(ComposeError) as missing:
        compose(Draft(from_address="a@example.com", to=("b@x.test",)), now=NOW)
    assert missing.value.code == "body_missing"
    with pytest.raises(ComposeError) as large:
        compose(
            Draft(from_address="a@example.com", to=("b@x.test",), text="x" * 5000), now=NOW, max_bytes=1000
        )
    assert large.value.code == "message_too_large"


def test_compose_threads_replies_and_keeps_bcc_out_of_headers() -> None:
    message = compose(
        Draft(
            from_address="a@example.com",
            to=("b@x.test",),
            bcc=("c@x.test",),
            text="hi",
            in_reply_to="<q@x.test>",
        ),
        now=NOW,
    )
    assert b"In-Reply-To: <q@x.test>" in message.raw
    assert b"References: <q@x.test>" in message.raw
    assert b"c@x.test" not in message.raw
    assert message.envelope_recipients == ("b@x.test", "c@x.test")
    assert message.rfc_message_id.endswith("@example.com>")


class StubSesV1:
    """Verified identities, through SES v1's ListIdentities and GetIdentityVerificationAttributes."""

    def __init__(self) -> None:
        self.calls = 0

    def get_paginator(self, name: str) -> Any:
        assert name == "list_identities"
        self.calls += 1
        return type("Pages", (), {"paginate": lambda _self: [{"Identities": ["a@x.test", "x.test"]}]})()

    def get_identity_verification_attributes(self, Identities: list[str]) -> dict[str, Any]:
        self.calls += 1
        return {"VerificationAttributes": {i: {"VerificationStatus": "Success"} for i in Identities}}


@pytest.mark.parametrize(
    ("production", "asked", "listed"),
    [
        (True, None, False),
        (False, None, True),
        (None, None, True),
        (True, True, True),
        (None, False, False),
    ],
)
def test_verified_identities_are_listed_only_where_they_can_gate_a_send(
    production: bool | None, asked: bool | None, listed: bool
) -> None:
    """A production account's first send does not list identities (no SES v1 client, two requests
    fewer); a sandboxed or unknown account does, a status asked for them always does, and
    SES_SANDBOX_MODE=production (identities=False) never does."""
    v1 = StubSesV1()
    account = None if production is None else {"ProductionAccessEnabled": production}
    status = SesProvider(StubSes(account=account), None, v1, identities=asked).status()
    assert (v1.calls > 0) is listed
    assert status.verified_identities == (("a@x.test", "x.test") if listed else ())
