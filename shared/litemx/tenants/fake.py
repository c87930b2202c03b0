"""An honest in-process stand-in for SES tenant management (moto has none), for `litemx local up`, the
demo and the integration tests.

It behaves like the service where LiteMX depends on it: a send that names a tenant is refused unless the
tenant exists, its sender identity and configuration set are associated with it, and its sending status
(the customer-managed and SES-managed statuses together) allows sending. `FakeTenantSesClient` wraps a
real (moto) sesv2 client so that sends take the same code path as on AWS. State lives in memory, or in a
JSON file when the CLI and the local system (two processes) must share it.
"""

from __future__ import annotations

import fcntl
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from litemx.tenants.models import (
    ReputationFinding,
    ReputationPolicy,
    SendingStatus,
    Tenant,
    TenantNotFoundError,
    TenantResumeRefusedError,
    TenantsUnavailableError,
)


def _client_error(code: str, message: str, operation: str = "SendEmail") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class FakeTenants:
    def __init__(
        self, *, region: str, aws_account_id: str, path: Path | None = None, available: bool = True
    ) -> None:
        self.region, self.aws_account_id, self.path = region, aws_account_id, path
        self.is_available = available
        self._state: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []  # operation names, so tests can count requests

    # ---- state ----

    @contextmanager
    def _tx(self, operation: str, *, write: bool = False) -> Iterator[dict[str, dict[str, Any]]]:
        self.calls.append(operation)
        if not self.is_available:
            raise TenantsUnavailableError("SES tenant management is unavailable here (fake switched off)")
        if self.path is None:
            yield self._state
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = json.loads(self.path.read_text()) if self.path.exists() else {}
            yield state
            if write:
                self.path.write_text(json.dumps(state, sort_keys=True))

    def _arn(self, name: str, tenant_id: str) -> str:
        return f"arn:aws:ses:{self.region}:{self.aws_account_id}:tenant/{name}/{tenant_id}"

    @staticmethod
    def _aggregate(data: dict[str, Any]) -> SendingStatus:
        if SendingStatus.DISABLED.value in (data["customer"], data["ses"]):
            return SendingStatus.DISABLED
        if data["customer"] == SendingStatus.REINSTATED.value:
            return SendingStatus.REINSTATED
        return SendingStatus.ENABLED

    def _tenant(self, data: dict[str, Any]) -> Tenant:
        return Tenant(
            name=data["name"],
            arn=data["arn"],
            tenant_id=data["id"],
            sending_status=self._aggregate(data),
            suppression_scope="TENANT",
            suppressed_reasons=("BOUNCE", "COMPLAINT"),
        )

    def _by_arn(self, state: dict[str, dict[str, Any]], arn: str) -> dict[str, Any]:
        for data in state.values():
            if data["arn"] == arn:
                return data
        raise TenantNotFoundError(f"no tenant with ARN {arn}")

    # ---- the port ----

    def available(self) -> bool:
        self.calls.append("ListTenants")
        return self.is_available

    def get(self, name: str) -> Tenant | None:
        with self._tx("GetTenant") as state:
            data = state.get(name)
            return self._tenant(data) if data else None

    def create(self, name: str, *, tags: dict[str, str]) -> Tenant:
        with self._tx("CreateTenant", write=True) as state:
            if name not in state:
                tenant_id = uuid.uuid4().hex[:12]
                state[name] = {
                    "name": name,
                    "id": tenant_id,
                    "arn": self._arn(name, tenant_id),
                    "tags": dict(tags),
                    "customer": SendingStatus.ENABLED.value,
                    "ses": SendingStatus.ENABLED.value,
                    "policy": None,
                    "resources": [],
                }
            return self._tenant(state[name])

    def delete(self, name: str) -> bool:
        with self._tx("DeleteTenant", write=True) as state:
            return state.pop(name, None) is not None

    def resources(self, name: str) -> frozenset[str]:
        with self._tx("ListTenantResources") as state:
            data = state.get(name)
            return frozenset(data["resources"]) if data else frozenset()

    def associate(self, name: str, resource_arn: str) -> bool:
        with self._tx("CreateTenantResourceAssociation", write=True) as state:
            data = state.get(name)
            if data is None:
                raise TenantNotFoundError(f"tenant {name} does not exist")
            if resource_arn in data["resources"]:
                return False
            data["resources"].append(resource_arn)
            return True

    def dissociate(self, name: str, resource_arn: str) -> bool:
        with self._tx("DeleteTenantResourceAssociation", write=True) as state:
            data = state.get(name)
            if data is None or resource_arn not in data["resources"]:
                return False
            data["resources"].remove(resource_arn)
            return True

    def finding(self, tenant_arn: str) -> ReputationFinding | None:
        with self._tx("GetReputationEntity") as state:
            try:
                data = self._by_arn(state, tenant_arn)
            except TenantNotFoundError:
                return None
            return ReputationFinding(
                reference=tenant_arn,
                aggregate=self._aggregate(data),
                customer_status=SendingStatus(data["customer"]),
                ses_status=SendingStatus(data["ses"]),
                cause=data.get("cause"),
                impact=data.get("impact"),
                policy=ReputationPolicy(data["policy"]) if data["policy"] else None,
            )

    def set_policy(self, tenant_arn: str, policy: ReputationPolicy) -> None:
        with self._tx("UpdateReputationEntityPolicy", write=True) as state:
            self._by_arn(state, tenant_arn)["policy"] = policy.value

    def set_customer_status(self, tenant_arn: str, status: SendingStatus) -> None:
        with self._tx("UpdateReputationEntityCustomerManagedStatus", write=True) as state:
            data = self._by_arn(state, tenant_arn)
            if status is not SendingStatus.DISABLED and data["ses"] == SendingStatus.DISABLED.value:
                raise TenantResumeRefusedError(f"SES keeps tenant {data['name']} paused: {data.get('cause')}")
            data["customer"] = status.value

    # ---- what only SES itself does ----

    def ses_pause(self, name: str, cause: str = "complaint rate over the policy's threshold") -> None:
        """SES's reputation policy pauses the tenant (what a burst of complaints would do)."""
        with self._tx("(ses)", write=True) as state:
            state[name]["ses"], state[name]["cause"], state[name]["impact"] = "DISABLED", cause, "HIGH"

    def ses_clear(self, name: str) -> None:
        with self._tx("(ses)", write=True) as state:
            state[name]["ses"], state[name]["cause"], state[name]["impact"] = "ENABLED", None, None

    def check_send(self, name: str, identity_arn: str, configuration_set_arn: str | None) -> None:
        """Raise what SES raises for a send naming this tenant, or nothing when SES would take it."""
        with self._tx("(send)") as state:
            data = state.get(name)
            if data is None:
                raise _client_error("NotFoundException", f"Tenant {name} does not exist.")
            missing = [
                arn for arn in (identity_arn, configuration_set_arn) if arn and arn not in data["resources"]
            ]
            if missing:
                raise _client_error(
                    "BadRequestException", f"Resource {missing[0]} is not associated with tenant {name}."
                )
            if self._aggregate(data) is SendingStatus.DISABLED:
                raise _client_error("SendingPausedException", f"Sending is paused for tenant {name}.")


class FakeTenantSesClient:
    """A sesv2 client whose send_email is checked against FakeTenants first, then sent by moto."""

    def __init__(self, client: Any, tenants: FakeTenants, configuration_set: str | None) -> None:
        self._client, self._tenants, self._configuration_set = client, tenants, configuration_set

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def send_email(self, **request: Any) -> Any:
        tenant = request.pop("TenantName", None)
        if tenant is not None:
            sender = str(request["FromEmailAddress"])
            domain = sender.rsplit("@", 1)[-1].lower()
            region, account = self._tenants.region, self._tenants.aws_account_id
            identity = f"arn:aws:ses:{region}:{account}:identity/{domain}"
            config_set = request.get("ConfigurationSetName")
            config_arn = (
                f"arn:aws:ses:{region}:{account}:configuration-set/{config_set}" if config_set else None
            )
            self._tenants.check_send(str(tenant), identity, config_arn)
        return self._client.send_email(**request)
