"""Tenant domain types and the port the lifecycle, the sender and the read paths use.

The port is implemented by `litemx.tenants.ses` (SESv2, boto3) and by `litemx.tenants.fake` (in-process,
for the local system and the tests). Names and ARNs are derived, never stored: the tenant of account
`acc-…` is `litemx-acc-…` (litemx.tenants.names), so the sender needs no lookup to name it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from litemx.errors import LiteMXError


class ReputationPolicy(StrEnum):
    """SES-managed reputation policies: what SES does when the tenant's reputation findings pile up."""

    NONE = "none"
    STANDARD = "standard"
    STRICT = "strict"

    def arn(self, region: str, partition: str = "aws") -> str:
        return f"arn:{partition}:ses:{region}:aws:reputation-policy/{self.value}"

    @classmethod
    def from_arn(cls, arn: str | None) -> ReputationPolicy | None:
        if not arn:
            return None
        name = arn.rsplit("/", 1)[-1]
        return cls(name) if name in {p.value for p in cls} else None


DEFAULT_POLICY = ReputationPolicy.STRICT


class SendingStatus(StrEnum):
    ENABLED = "ENABLED"
    REINSTATED = "REINSTATED"  # sending allowed despite active findings (an operator resumed it)
    DISABLED = "DISABLED"  # paused: by SES's policy or by an operator

    @property
    def can_send(self) -> bool:
        return self is not SendingStatus.DISABLED


@dataclass(frozen=True)
class ReputationFinding:
    """One reputation entity of the tenant (GetReputationEntity): who paused it and why."""

    reference: str
    aggregate: SendingStatus | None
    customer_status: SendingStatus | None = None
    ses_status: SendingStatus | None = None
    cause: str | None = None
    impact: str | None = None  # LOW | HIGH
    policy: ReputationPolicy | None = None


@dataclass(frozen=True)
class Tenant:
    name: str
    arn: str
    sending_status: SendingStatus
    tenant_id: str = ""
    suppression_scope: str | None = None
    suppressed_reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class TenantView:
    """What `account show`, `/v1/status` and `/v1/usage` show about an account's tenant."""

    available: bool
    name: str
    exists: bool = False
    sending_status: SendingStatus | None = None
    policy: ReputationPolicy | None = None
    findings: tuple[ReputationFinding, ...] = ()
    resources: tuple[str, ...] = ()
    detail: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "available": self.available,
            "name": self.name,
            "exists": self.exists,
            "sending_status": self.sending_status.value if self.sending_status else None,
            "reputation_policy": self.policy.value if self.policy else None,
            "findings": [
                {
                    "reference": f.reference,
                    "aggregate": f.aggregate.value if f.aggregate else None,
                    "customer_status": f.customer_status.value if f.customer_status else None,
                    "ses_status": f.ses_status.value if f.ses_status else None,
                    "cause": f.cause,
                    "impact": f.impact,
                }
                for f in self.findings
            ],
            "resources": list(self.resources),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class TenantScope:
    """Where the tenant's resources live: identity and configuration set ARNs are built from this."""

    region: str
    aws_account_id: str
    configuration_set: str | None
    partition: str = "aws"

    def identity_arn(self, identity: str) -> str:
        return f"arn:{self.partition}:ses:{self.region}:{self.aws_account_id}:identity/{identity}"

    def configuration_set_arn(self) -> str | None:
        if not self.configuration_set:
            return None
        return (
            f"arn:{self.partition}:ses:{self.region}:{self.aws_account_id}:"
            f"configuration-set/{self.configuration_set}"
        )


class TenantsUnavailableError(LiteMXError):
    """Tenant management cannot be used here (region without it, no permission, service down)."""

    code = "tenants_unavailable"


class TenantNotFoundError(LiteMXError):
    code = "tenant_not_found"


class TenantResumeRefusedError(LiteMXError):
    """SES keeps the tenant paused (its own status is DISABLED): an operator cannot override that."""

    code = "tenant_resume_refused"


@dataclass(frozen=True)
class SendGate:
    """The sender's answer for one account: which TenantName to pass, or why not to send at all."""

    tenant: str | None
    paused: bool = False
    detail: str = ""


class TenantPort(Protocol):
    """The tenant operations LiteMX uses, in its own terms. Every method raises TenantsUnavailableError
    when the service cannot be used, and is idempotent where the verb allows (create of an existing
    tenant returns it, dissociating a missing association does nothing)."""

    def available(self) -> bool: ...
    def get(self, name: str) -> Tenant | None: ...
    def create(self, name: str, *, tags: dict[str, str]) -> Tenant: ...
    def delete(self, name: str) -> bool: ...
    def resources(self, name: str) -> frozenset[str]: ...
    def associate(self, name: str, resource_arn: str) -> bool: ...
    def dissociate(self, name: str, resource_arn: str) -> bool: ...
    def finding(self, tenant_arn: str) -> ReputationFinding | None: ...
    def set_policy(self, tenant_arn: str, policy: ReputationPolicy) -> None: ...
    def set_customer_status(self, tenant_arn: str, status: SendingStatus) -> None: ...


@dataclass
class StepLog:
    """What a lifecycle call changed, step by step (empty: everything was already in place)."""

    steps: list[str] = field(default_factory=list)

    def add(self, step: str) -> None:
        self.steps.append(step)
