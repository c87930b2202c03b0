"""The sender's side of tenants: every SES send names the account's tenant, a paused tenant is not sent
to at all (`outbound_blocked.tenant_paused`), and when tenant management is unavailable sends go on
without a tenant. Wraps the SES provider, so the delivery code is unchanged."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol

from litemx.providers.base import ProviderBlockedError, ProviderStatus, SendResult
from litemx.tags import TAG_ACCOUNT
from litemx.tenants.logic import TenantStatusCache

TENANT_PAUSED = "outbound_blocked.tenant_paused"


class TenantAwareProvider(Protocol):
    name: str

    def send(
        self,
        raw: bytes,
        *,
        sender: str,
        recipients: tuple[str, ...],
        tags: Mapping[str, str],
        tenant: str | None = None,
    ) -> SendResult: ...

    def status(self) -> ProviderStatus: ...


class TenantGatedProvider:
    def __init__(self, inner: TenantAwareProvider, cache: TenantStatusCache) -> None:
        self._inner, self._cache = inner, cache
        self.name = inner.name

    def send(
        self, raw: bytes, *, sender: str, recipients: tuple[str, ...], tags: Mapping[str, str]
    ) -> SendResult:
        account_id = tags.get(TAG_ACCOUNT, "")
        gate = self._cache.gate(account_id)
        if gate.paused:
            raise ProviderBlockedError(TENANT_PAUSED, gate.detail)
        try:
            return self._inner.send(raw, sender=sender, recipients=recipients, tags=tags, tenant=gate.tenant)
        except ProviderBlockedError:
            if gate.tenant is None:
                raise
            self._cache.forget(account_id)  # SES may have paused the tenant since the cached read
            again = self._cache.gate(account_id)
            if again.paused:
                raise ProviderBlockedError(TENANT_PAUSED, again.detail) from None
            raise

    @property
    def cache(self) -> TenantStatusCache:
        return self._cache

    def tenant_paused(self, account_id: str) -> bool:
        """For the policy check: the same cached read the sender uses (no DynamoDB request)."""
        return self._cache.gate(account_id).paused

    def status(self) -> ProviderStatus:
        status = self._inner.status()
        tenants = "available" if self._cache.port.available() else "unavailable"
        return replace(status, tenants=tenants)
