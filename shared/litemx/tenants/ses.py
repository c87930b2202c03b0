"""The tenant port on SESv2 (store module: boto3 lives here).

Every ClientError is translated: a missing tenant or association is an answer (None / False), a refused
resume is TenantResumeRefusedError, and anything that says the tenant API cannot be used here (unknown
operation, no permission, an endpoint without it) is TenantsUnavailableError, so callers degrade cleanly.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from litemx.tenants.models import (
    ReputationFinding,
    ReputationPolicy,
    SendingStatus,
    Tenant,
    TenantNotFoundError,
    TenantPort,
    TenantResumeRefusedError,
    TenantsUnavailableError,
)

_RESOURCE = "RESOURCE"
SUPPRESSED_REASONS = ("BOUNCE", "COMPLAINT")
_UNAVAILABLE = {
    "UnknownOperationException",
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidAction",
    "404",
    "NotImplemented",
    "ServiceUnavailable",
    "InternalFailure",
}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _status(value: Any) -> SendingStatus | None:
    return SendingStatus(value) if value in {s.value for s in SendingStatus} else None


def _unavailable(error: Exception) -> TenantsUnavailableError:
    detail = _code(error) if isinstance(error, ClientError) else type(error).__name__
    return TenantsUnavailableError(f"SES tenant management is unavailable here ({detail})")


class SesTenants:
    def __init__(self, client: Any) -> None:
        self._client = client  # a boto3 sesv2 client

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self._client, operation)(**params)
        except ClientError as error:
            if _code(error) in _UNAVAILABLE:
                raise _unavailable(error) from error
            raise
        except BotoCoreError as error:
            raise _unavailable(error) from error
        return response

    def available(self) -> bool:
        try:
            self._call("list_tenants", PageSize=1)
        except TenantsUnavailableError:
            return False
        except ClientError:
            return False
        return True

    def get(self, name: str) -> Tenant | None:
        try:
            response = self._call("get_tenant", TenantName=name)
        except ClientError as error:
            if _code(error) == "NotFoundException":
                return None
            raise
        return _tenant(response.get("Tenant", {}))

    def create(self, name: str, *, tags: dict[str, str]) -> Tenant:
        try:
            response = self._call(
                "create_tenant",
                TenantName=name,
                Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
                SuppressionAttributes={
                    "SuppressedReasons": list(SUPPRESSED_REASONS),
                    "SuppressionScope": "TENANT",
                },
            )
        except ClientError as error:
            if _code(error) != "AlreadyExistsException":
                raise
            existing = self.get(name)
            if existing is None:
                raise TenantNotFoundError(f"tenant {name} exists and vanished") from error
            return existing
        return _tenant(response)

    def delete(self, name: str) -> bool:
        try:
            self._call("delete_tenant", TenantName=name)
        except ClientError as error:
            if _code(error) == "NotFoundException":
                return False
            raise
        return True

    def resources(self, name: str) -> frozenset[str]:
        arns: set[str] = set()
        token: str | None = None
        while True:
            params: dict[str, Any] = {"TenantName": name, "PageSize": 100}
            if token:
                params["NextToken"] = token
            try:
                page = self._call("list_tenant_resources", **params)
            except ClientError as error:
                if _code(error) == "NotFoundException":
                    return frozenset()
                raise
            arns.update(str(r["ResourceArn"]) for r in page.get("TenantResources", []) if "ResourceArn" in r)
            token = page.get("NextToken")
            if not token:
                return frozenset(arns)

    def associate(self, name: str, resource_arn: str) -> bool:
        try:
            self._call("create_tenant_resource_association", TenantName=name, ResourceArn=resource_arn)
        except ClientError as error:
            if _code(error) == "AlreadyExistsException":
                return False
            if _code(error) == "NotFoundException":
                raise TenantNotFoundError(
                    f"tenant {name} or resource {resource_arn} does not exist"
                ) from error
            raise
        return True

    def dissociate(self, name: str, resource_arn: str) -> bool:
        try:
            self._call("delete_tenant_resource_association", TenantName=name, ResourceArn=resource_arn)
        except ClientError as error:
            if _code(error) == "NotFoundException":
                return False
            raise
        return True

    def finding(self, tenant_arn: str) -> ReputationFinding | None:
        try:
            response = self._call(
                "get_reputation_entity", ReputationEntityType=_RESOURCE, ReputationEntityReference=tenant_arn
            )
        except ClientError as error:
            if _code(error) == "NotFoundException":
                return None
            raise
        entity = response.get("ReputationEntity", {})
        customer, ses = entity.get("CustomerManagedStatus", {}), entity.get("AwsSesManagedStatus", {})
        return ReputationFinding(
            reference=str(entity.get("ReputationEntityReference", tenant_arn)),
            aggregate=_status(entity.get("SendingStatusAggregate")),
            customer_status=_status(customer.get("Status")),
            ses_status=_status(ses.get("Status")),
            cause=ses.get("Cause") or customer.get("Cause"),
            impact=entity.get("ReputationImpact"),
            policy=ReputationPolicy.from_arn(entity.get("ReputationManagementPolicy")),
        )

    def set_policy(self, tenant_arn: str, policy: ReputationPolicy) -> None:
        region = tenant_arn.split(":")[3] if tenant_arn.count(":") >= 5 else ""
        partition = tenant_arn.split(":")[1] if tenant_arn.count(":") >= 5 else "aws"
        self._call(
            "update_reputation_entity_policy",
            ReputationEntityType=_RESOURCE,
            ReputationEntityReference=tenant_arn,
            ReputationEntityPolicy=policy.arn(region, partition),
        )

    def set_customer_status(self, tenant_arn: str, status: SendingStatus) -> None:
        try:
            self._call(
                "update_reputation_entity_customer_managed_status",
                ReputationEntityType=_RESOURCE,
                ReputationEntityReference=tenant_arn,
                SendingStatus=status.value,
            )
        except ClientError as error:
            if _code(error) == "ConflictException":
                raise TenantResumeRefusedError(
                    f"SES refused to change the tenant's sending status: {error}"
                ) from error
            raise


def _tenant(data: dict[str, Any]) -> Tenant:
    suppression = data.get("SuppressionAttributes", {}) or {}
    return Tenant(
        name=str(data.get("TenantName", "")),
        arn=str(data.get("TenantArn", "")),
        tenant_id=str(data.get("TenantId", "")),
        sending_status=_status(data.get("SendingStatus")) or SendingStatus.ENABLED,
        suppression_scope=suppression.get("SuppressionScope"),
        suppressed_reasons=tuple(suppression.get("SuppressedReasons", ())),
    )


def tenant_port_and_client(
    spec: str, client: Any, *, region: str, aws_account_id: str, configuration_set: str | None
) -> tuple[TenantPort | None, Any]:
    """From the SES_TENANTS setting: (port or None when off, the sesv2 client sends should use).
    `fake:<path>` is the local system's stand-in, whose client checks sends against the fake."""
    if spec == "off":
        return None, client
    if spec.startswith("fake:"):
        from pathlib import Path

        from litemx.tenants.fake import FakeTenants, FakeTenantSesClient

        fake = FakeTenants(
            region=region,
            aws_account_id=aws_account_id or "000000000000",
            path=Path(spec.removeprefix("fake:")),
        )
        return fake, FakeTenantSesClient(client, fake, configuration_set)
    return SesTenants(client), client
