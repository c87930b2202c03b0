"""Builds the outbound services' dependencies from settings: the one place clients are created.

Built lazily on first use (not at import), and cached per process like any Lambda client. Every client
comes from the process's one botocore session (litemx.storage.session), so each service model is loaded
once; a provider's modules are imported only when it is the one configured. The api accepts sends and
the sender delivers them: each builds (and imports the modules of) only its own half, `outbound` or
`delivery`, on first use.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from functions.outbound_settings import OutboundSettings, outbound_settings
from functions.settings import audit_retention, table_names
from litemx.audit.store import AuditStore
from litemx.clock import SystemClock
from litemx.directory.store import DirectoryStore
from litemx.messages.store import MessageStore
from litemx.outbound.aws import DynamoSendRate, S3BlobStore, S3UploadStore, SqsSendQueue
from litemx.policy.models import OPEN_PROVIDER, ProviderGate
from litemx.policy.store import AccountPolicyStore, DynamoPolicyStore
from litemx.providers.base import OutboundProvider, ProviderStatus
from litemx.quotas.store import QuotaStore
from litemx.storage.session import client, lazy_client, reset_session
from litemx.storage.tables import bind_tables

if TYPE_CHECKING:
    from litemx.outbound.delivery import DeliveryDeps
    from litemx.outbound.service import OutboundDeps
    from litemx.providers.smtp import SmtpSettings

PROVIDER_STATUS_TTL_SECONDS = 60.0


@dataclass(frozen=True)
class Runtime:
    settings: OutboundSettings
    directory: DirectoryStore
    quotas: QuotaStore
    account_policy: AccountPolicyStore
    sqs: Any
    clock: SystemClock
    policy: DynamoPolicyStore
    messages: MessageStore
    blobs: S3BlobStore
    audit: AuditStore
    s3: Any

    @cached_property
    def provider(self) -> OutboundProvider:
        return provider(self.settings)

    @cached_property
    def outbound(self) -> OutboundDeps:
        """Accepting a send (the api): its modules (policy decision, MIME, uploads) load on first use."""
        from litemx.outbound.service import OutboundDeps

        return OutboundDeps(
            policy=self.policy,
            messages=self.messages,
            blobs=self.blobs,
            queue=SqsSendQueue(self.sqs, self.settings.send_queue_url),
            quotas=self.quotas,
            audit=self.audit,
            clock=self.clock,
            max_message_bytes=self.settings.max_message_bytes,
            uploads=S3UploadStore(self.s3, self.settings.outbound_bucket),
        )

    @cached_property
    def delivery(self) -> DeliveryDeps:
        """Delivering a queued message (the sender): its modules load on first use."""
        from litemx.outbound.delivery import DeliveryDeps
        from litemx.reputation.store import DynamoReputationStore

        return DeliveryDeps(
            messages=self.messages,
            blobs=self.blobs,
            provider=self.provider,
            policy=self.policy,
            quotas=self.quotas,
            audit=self.audit,
            clock=self.clock,
            lease=timedelta(seconds=self.settings.send_lease_seconds),
            reputation=DynamoReputationStore(),
            rate=DynamoSendRate(self.settings.send_rate) if self.settings.send_rate else None,
        )


@cache
def runtime() -> Runtime:
    bind_tables(table_names())
    settings = outbound_settings()
    s3 = lazy_client("s3")
    keep = audit_retention()
    return Runtime(
        settings=settings,
        directory=DirectoryStore(),
        quotas=QuotaStore(),
        account_policy=AccountPolicyStore(),
        sqs=lazy_client("sqs"),
        clock=SystemClock(),
        policy=DynamoPolicyStore(audit_retention=keep),
        messages=MessageStore(audit_retention=keep),
        blobs=S3BlobStore(s3, settings.outbound_bucket),
        audit=AuditStore(keep),
        s3=s3,
    )


def provider(settings: OutboundSettings) -> OutboundProvider:
    """The configured provider; each one's modules are imported only when it is the one configured (SMTP
    brings smtplib, tenants their SESv2 adapter)."""
    if settings.provider == "smtp":
        from litemx.providers.smtp import SmtpProvider

        return SmtpProvider(_smtp_settings(settings))
    from litemx.providers.ses import SesProvider
    from litemx.tenants.logic import TenantStatusCache
    from litemx.tenants.sending import TenantGatedProvider
    from litemx.tenants.ses import tenant_port_and_client

    sesv2 = client("sesv2")
    port, sending = tenant_port_and_client(
        settings.ses_tenants,
        sesv2,
        region=str(sesv2.meta.region_name),
        aws_account_id=settings.ses_sending_account_id or "",
        configuration_set=settings.ses_configuration_set,
    )
    ses = SesProvider(
        sending,
        settings.ses_configuration_set,
        lazy_client("ses"),
        identities={"sandbox": True, "production": False}.get(settings.sandbox_mode),
    )
    return ses if port is None else TenantGatedProvider(ses, TenantStatusCache(port))


def _smtp_settings(settings: OutboundSettings) -> SmtpSettings:
    from litemx.providers.smtp import SmtpSettings

    if not settings.smtp_host:
        raise KeyError("OUTBOUND_PROVIDER=smtp needs SMTP_HOST")
    username, password = settings.smtp_username, settings.smtp_password
    if settings.smtp_secret_arn:
        secret = client("secretsmanager").get_secret_value(SecretId=settings.smtp_secret_arn)
        values = json.loads(secret["SecretString"])
        username, password = values.get("username", username), values.get("password", password)
    return SmtpSettings(
        host=settings.smtp_host,
        port=settings.smtp_port,
        starttls=settings.smtp_starttls,
        username=username,
        password=password,
        verify_tls=settings.smtp_verify_tls,
    )


_status_cache: dict[str, tuple[float, ProviderStatus]] = {}


def provider_status() -> ProviderStatus:
    """The provider's state, asked at most once a minute per process (SES GetAccount is rate limited)."""
    cached = _status_cache.get("status")
    if cached is not None and time.monotonic() - cached[0] < PROVIDER_STATUS_TTL_SECONDS:
        return cached[1]
    settings = runtime().settings
    status = runtime().provider.status()
    if settings.sandbox_mode != "auto":
        status = ProviderStatus(
            **{
                **status.__dict__,
                "sandboxed": settings.sandbox_mode == "sandbox",
                "detail": "set by SES_SANDBOX_MODE",
            }
        )
    _status_cache["status"] = (time.monotonic(), status)
    return status


def provider_gate() -> ProviderGate:
    from litemx.tenants.sending import TenantGatedProvider

    status = provider_status()
    provider = runtime().provider
    paused = provider.tenant_paused if isinstance(provider, TenantGatedProvider) else None
    if not status.sandboxed:
        return OPEN_PROVIDER if paused is None else ProviderGate(tenant_paused=paused)
    identities = frozenset(status.verified_identities)
    return ProviderGate(
        tenant_paused=paused,
        sandboxed=True,
        verified_recipients=frozenset(i for i in identities if "@" in i),
        verified_domains=frozenset(i for i in identities if "@" not in i),
    )


_tenant_views: dict[str, tuple[float, dict[str, object] | None]] = {}


def tenant_view(account_id: str) -> dict[str, object] | None:
    """The account's tenant for /v1/status and /v1/usage, cached per process like the gate's status
    (None: the provider has no tenants, e.g. SMTP or SES_TENANTS=off)."""
    from litemx.tenants import logic as tenant_logic
    from litemx.tenants.sending import TenantGatedProvider

    cached = _tenant_views.get(account_id)
    if cached is not None and time.monotonic() - cached[0] < tenant_logic.TENANT_STATUS_TTL_SECONDS:
        return cached[1]
    provider = runtime().provider
    view = (
        tenant_logic.view(provider.cache.port, account_id).as_json()
        if isinstance(provider, TenantGatedProvider)
        else None
    )
    _tenant_views[account_id] = (time.monotonic(), view)
    return view


def reset_for_tests() -> None:
    """Forget clients and cached status (tests change the environment between cases)."""
    runtime.cache_clear()
    reset_session()
    _status_cache.clear()
    _tenant_views.clear()
