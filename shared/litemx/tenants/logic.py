"""Tenant lifecycle (reconciling: every step idempotent and audited, so a half-done one is repaired by
running it again), the operator's policy and resume verbs, the read model, and the sender's cached gate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from litemx.audit.models import AuditRecord
from litemx.clock import Clock
from litemx.ids import new_request_id
from litemx.tags import TAG_ACCOUNT
from litemx.tenants.models import (
    DEFAULT_POLICY,
    ReputationPolicy,
    SendGate,
    SendingStatus,
    StepLog,
    Tenant,
    TenantNotFoundError,
    TenantPort,
    TenantScope,
    TenantView,
)
from litemx.tenants.names import tenant_name

TENANT_STATUS_TTL_SECONDS = 30.0


class AuditWriter(Protocol):
    def record(self, record: AuditRecord) -> None: ...


@dataclass(frozen=True)
class Lifecycle:
    port: TenantPort
    scope: TenantScope
    audit: AuditWriter
    clock: Clock
    actor: str

    def _audit(self, account_id: str, event: str, details: dict[str, str], outcome: str = "done") -> None:
        self.audit.record(
            AuditRecord(
                account_id=account_id,
                at=self.clock.now(),
                request_id=new_request_id(),
                event=event,
                actor=self.actor,
                outcome=outcome,
                details=details,
            )
        )

    def _step(self, log: StepLog, account_id: str, event: str, details: dict[str, str]) -> None:
        log.add(f"{event} {' '.join(f'{k}={v}' for k, v in sorted(details.items()))}")
        self._audit(account_id, event, details)

    def ensure_tenant(
        self,
        account_id: str,
        domains: Iterable[str] = (),
        *,
        policy: ReputationPolicy | None = None,
    ) -> StepLog:
        """The account's tenant exists, carries `policy` (strict when first created), and has the
        configuration set and every given domain identity associated. Only missing steps run."""
        log = StepLog()
        name = tenant_name(account_id)
        tenant = self.port.get(name)
        if tenant is None:
            tenant = self.port.create(name, tags={TAG_ACCOUNT: account_id})
            self._step(log, account_id, "tenant.create", {"tenant": name, "arn": tenant.arn})
            policy = policy or DEFAULT_POLICY
        if policy is not None:
            self._apply_policy(log, account_id, tenant, policy)
        wanted = [self.scope.configuration_set_arn(), *(self.scope.identity_arn(d) for d in domains)]
        present = self.port.resources(name)
        for arn in wanted:
            if arn and arn not in present and self.port.associate(name, arn):
                self._step(log, account_id, "tenant.associate", {"tenant": name, "resource": arn})
        return log

    def _apply_policy(self, log: StepLog, account_id: str, tenant: Tenant, policy: ReputationPolicy) -> None:
        current = self.port.finding(tenant.arn)
        if current is not None and current.policy is policy:
            return
        self.port.set_policy(tenant.arn, policy)
        self._step(log, account_id, "tenant.policy", {"tenant": tenant.name, "policy": policy.value})

    def associate_domain(self, account_id: str, domain: str) -> StepLog:
        """`domain add`: the identity (and the configuration set) join the account's tenant."""
        return self.ensure_tenant(account_id, [domain])

    def retire(self, account_id: str) -> StepLog:
        """Account retired: every association removed, then the tenant deleted. Safe to re-run."""
        log = StepLog()
        name = tenant_name(account_id)
        for arn in sorted(self.port.resources(name)):
            if self.port.dissociate(name, arn):
                self._step(log, account_id, "tenant.dissociate", {"tenant": name, "resource": arn})
        if self.port.delete(name):
            self._step(log, account_id, "tenant.delete", {"tenant": name})
        return log

    def set_policy(self, account_id: str, policy: ReputationPolicy) -> StepLog:
        tenant = self._existing(account_id)
        log = StepLog()
        self._apply_policy(log, account_id, tenant, policy)
        return log

    def set_sending(self, account_id: str, status: SendingStatus, reason: str) -> StepLog:
        """Pause (DISABLED) or resume (REINSTATED) a tenant; SES refuses to resume what it paused itself
        while its findings stand (TenantResumeRefusedError, audited as refused)."""
        tenant = self._existing(account_id)
        details = {"tenant": tenant.name, "status": status.value, "reason": reason}
        try:
            self.port.set_customer_status(tenant.arn, status)
        except Exception as error:
            self._audit(account_id, "tenant.sending", details | {"error": str(error)}, outcome="refused")
            raise
        log = StepLog()
        self._step(log, account_id, "tenant.sending", details)
        return log

    def _existing(self, account_id: str) -> Tenant:
        tenant = self.port.get(tenant_name(account_id))
        if tenant is None:
            raise TenantNotFoundError(
                f"account {account_id} has no SES tenant; run `litemx account repair {account_id}`"
            )
        return tenant


def view(port: TenantPort, account_id: str) -> TenantView:
    """The tenant as operators and clients see it; never raises for an unavailable service."""
    name = tenant_name(account_id)
    try:
        tenant = port.get(name)
        if tenant is None:
            return TenantView(available=True, name=name, detail="no tenant: run `litemx account repair`")
        finding = port.finding(tenant.arn)
        return TenantView(
            available=True,
            name=name,
            exists=True,
            sending_status=tenant.sending_status,
            policy=finding.policy if finding else None,
            findings=(finding,) if finding else (),
            resources=tuple(sorted(port.resources(name))),
        )
    except Exception as error:  # a read model: unavailable or failing, it says so instead of raising
        return TenantView(available=False, name=name, detail=str(error) or type(error).__name__)


@dataclass
class TenantStatusCache:
    """Tenant sending status per process with a short TTL: at most one GetTenant per account per TTL,
    and no DynamoDB request at all. Unavailability is remembered for the same TTL."""

    port: TenantPort
    ttl_seconds: float = TENANT_STATUS_TTL_SECONDS
    monotonic: Callable[[], float] = time.monotonic
    _entries: dict[str, tuple[float, Tenant | None]] = field(default_factory=dict)
    _unavailable_until: float = 0.0

    def status(self, account_id: str) -> tuple[bool, Tenant | None]:
        """(available, tenant or None)."""
        now = self.monotonic()
        if now < self._unavailable_until:
            return False, None
        name = tenant_name(account_id)
        cached = self._entries.get(name)
        if cached is not None and now - cached[0] < self.ttl_seconds:
            return True, cached[1]
        try:
            tenant = self.port.get(name)
        except Exception:  # unavailable, or any failure to read: send on without a tenant (docs/tenants.md)
            self._unavailable_until = now + self.ttl_seconds
            return False, None
        self._entries[name] = (now, tenant)
        return True, tenant

    def forget(self, account_id: str) -> None:
        self._entries.pop(tenant_name(account_id), None)

    def gate(self, account_id: str) -> SendGate:
        available, tenant = self.status(account_id)
        if not available:
            return SendGate(tenant=None, detail="tenants: unavailable")
        if tenant is None:
            return SendGate(tenant=None, detail=f"account {account_id} has no tenant (litemx account repair)")
        if not tenant.sending_status.can_send:
            return SendGate(
                tenant=tenant.name,
                paused=True,
                detail=f"SES has paused sending for tenant {tenant.name} (account {account_id}).",
            )
        return SendGate(tenant=tenant.name)
