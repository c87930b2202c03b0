"""An approved SMTP relay: STARTTLS, credentials from configuration (or Secrets Manager at the edge)."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

from litemx.providers.base import (
    ProviderRejectedError,
    ProviderStatus,
    ProviderThrottledError,
    SendResult,
)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password: str | None = None
    timeout_seconds: float = 30.0
    verify_tls: bool = True


class SmtpProvider:
    name = "smtp"

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    def send(
        self, raw: bytes, *, sender: str, recipients: tuple[str, ...], tags: Mapping[str, str]
    ) -> SendResult:
        settings = self._settings
        try:
            with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds) as client:
                self._open(client)
                reply = self._transfer(client, raw, sender, recipients)
        except smtplib.SMTPResponseException as error:
            raise _translate(error.smtp_code, error.smtp_error) from error
        except (OSError, smtplib.SMTPException) as error:
            raise ProviderThrottledError(
                "provider_unavailable", f"SMTP relay unreachable: {error}"
            ) from error
        # The relay's answer to DATA usually names its queue id ("250 2.0.0 Ok: queued as 4Xyz").
        return SendResult(provider=self.name, provider_message_id=reply.decode(errors="replace").strip())

    def _open(self, client: smtplib.SMTP) -> None:
        settings = self._settings
        client.ehlo()
        if settings.starttls:
            context = ssl.create_default_context()
            if not settings.verify_tls:  # only for a relay on loopback in tests
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            client.starttls(context=context)
            client.ehlo()
        if settings.username:
            client.login(settings.username, settings.password or "")

    @staticmethod
    def _transfer(client: smtplib.SMTP, raw: bytes, sender: str, recipients: tuple[str, ...]) -> bytes:
        """MAIL, RCPT and DATA one by one, so that every refusal keeps its SMTP code."""
        code, reply = client.mail(sender)
        if code != 250:
            raise smtplib.SMTPResponseException(code, reply)
        for recipient in recipients:
            code, reply = client.rcpt(recipient)
            if code not in (250, 251):
                raise smtplib.SMTPResponseException(code, reply)
        code, reply = client.data(raw)
        if code != 250:
            raise smtplib.SMTPResponseException(code, reply)
        return reply

    def status(self) -> ProviderStatus:
        return ProviderStatus(
            provider=self.name,
            sandboxed=False,
            sending_enabled=True,
            detail=f"SMTP relay {self._settings.host}:{self._settings.port}",
        )


def _translate(code: int, reply: bytes | str) -> Exception:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    if 400 <= code < 500:
        return ProviderThrottledError("provider_throttled", f"SMTP relay deferred ({code}): {text}")
    return ProviderRejectedError("provider_rejected", f"SMTP relay refused ({code}): {text}")
