"""The SMTP adapter against a real SMTP server on 127.0.0.1 (aiosmtpd), with STARTTLS and login."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from litemx.providers.base import ProviderRejectedError, ProviderThrottledError
from litemx.providers.smtp import SmtpProvider, SmtpSettings
from litemx_local.aws import free_port

pytestmark = pytest.mark.integration
RAW = b"From: box0@example.com\r\nTo: alice@outside.test\r\nSubject: hi\r\n\r\nhello\r\n"


class Relay:
    """Accepts mail, refuses `reject@` permanently (550) and `defer@` temporarily (451)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("reject@"):
            return "550 5.1.1 no such user"
        if address.startswith("defer@"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 Ok: queued as LOCAL123"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"relay-user",
        b"s3cret",
    )
    return AuthResult(success=ok)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[tuple[Relay, int]]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler, port = Relay(), free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=_authenticate,
        auth_required=True,
    )
    controller.start()
    yield handler, port
    controller.stop()


def _provider(port: int, password: str = "s3cret") -> SmtpProvider:
    return SmtpProvider(
        SmtpSettings(host="127.0.0.1", port=port, username="relay-user", password=password, verify_tls=False)
    )


def test_sends_over_starttls_with_login(relay: tuple[Relay, int]) -> None:
    handler, port = relay
    result = _provider(port).send(
        RAW, sender="box0@example.com", recipients=("alice@outside.test",), tags={"litemx-message": "msg-1"}
    )
    assert result.provider == "smtp"
    assert "queued as LOCAL123" in result.provider_message_id
    [(mail_from, rcpt_tos, content)] = handler.received
    assert (mail_from, rcpt_tos) == ("box0@example.com", ["alice@outside.test"])
    assert content == RAW  # the exact bytes, unaltered by the relay hop


def test_5xx_is_a_permanent_failure_and_4xx_is_retried(relay: tuple[Relay, int]) -> None:
    handler, port = relay
    with pytest.raises(ProviderRejectedError, match="550"):
        _provider(port).send(RAW, sender="box0@example.com", recipients=("reject@outside.test",), tags={})
    with pytest.raises(ProviderThrottledError, match="451"):
        _provider(port).send(RAW, sender="box0@example.com", recipients=("defer@outside.test",), tags={})
    assert handler.received == []


def test_an_unreachable_relay_is_retried_not_failed() -> None:
    with pytest.raises(ProviderThrottledError, match="unreachable"):
        _provider(free_port()).send(RAW, sender="box0@example.com", recipients=("a@outside.test",), tags={})
