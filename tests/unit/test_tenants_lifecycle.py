"""Tenant lifecycle, the sender's gate and the fake's honesty, on the in-process fake."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from botocore.exceptions import ClientError

from litemx.clock import FixedClock
from litemx.providers.base import ProviderBlockedError, ProviderStatus, SendResult
from litemx.providers.ses import SesProvider
from litemx.tenants.fake import FakeTenants, FakeTenantSesClient
from litemx.tenants.logic import Lifecycle, TenantStatusCache, view
from litemx.tenants.models import (
    ReputationPolicy,
    SendingStatus,
    TenantNotFoundError,
    TenantResumeRefusedError,
    TenantScope,
)
from litemx.tenants.names import tenant_name
from litemx.tenants.sending import TENANT_PAUSED, TenantGatedProvider
from tests.fakes import T0, FakeAudit

A, B = "acc-00000000000a", "acc-00000000000b"
SCOPE = TenantScope(region="eu-west-1", aws_account_id="111122223333", configuration_set="litemx-outbound")


def _world() -> tuple[FakeTenants, Lifecycle, FakeAudit]:
    fake = FakeTenants(region="eu-west-1", aws_account_id="111122223333")
    audit = FakeAudit()
    return fake, Lifecycle(fake, SCOPE, audit, FixedClock(T0), "operator:test"), audit


def test_account_create_makes_a_strict_tenant_with_the_configuration_set() -> None:
    # Given / When
    fake, life, audit = _world()
    log = life.ensure_tenant(A)
    # Then
    shown = view(fake, A)
    assert shown.exists
    assert shown.policy is ReputationPolicy.STRICT
    assert shown.resources == (SCOPE.configuration_set_arn(),)
    assert [r.event for r in audit.records] == ["tenant.create", "tenant.policy", "tenant.associate"]
    assert len(log.steps) == 3


def test_every_step_is_idempotent_and_repair_only_does_what_is_missing() -> None:
    # Given a tenant whose domain association was lost half-way
    fake, life, audit = _world()
    life.associate_domain(A, "acme.example")
    fake.dissociate(tenant_name(A), SCOPE.identity_arn("acme.example"))
    audit.records.clear()
    # When repaired twice
    first = life.ensure_tenant(A, ["acme.example"])
    second = life.ensure_tenant(A, ["acme.example"])
    # Then the first run re-associates only the identity, the second does nothing
    assert [r.event for r in audit.records] == ["tenant.associate"]
    assert len(first.steps) == 1
    assert second.steps == []


def test_retire_dissociates_everything_then_deletes_and_can_be_rerun() -> None:
    fake, life, audit = _world()
    life.associate_domain(A, "acme.example")
    audit.records.clear()
    life.retire(A)
    assert life.retire(A).steps == []
    assert fake.get(tenant_name(A)) is None
    assert [r.event for r in audit.records] == ["tenant.dissociate", "tenant.dissociate", "tenant.delete"]


def test_set_policy_and_resume_are_audited_and_ses_keeps_its_own_pause() -> None:
    fake, life, audit = _world()
    life.ensure_tenant(A)
    life.set_policy(A, ReputationPolicy.STANDARD)
    assert view(fake, A).policy is ReputationPolicy.STANDARD
    fake.ses_pause(tenant_name(A))
    with pytest.raises(TenantResumeRefusedError):
        life.set_sending(A, SendingStatus.REINSTATED, "customer cleaned list")
    assert (audit.records[-1].event, audit.records[-1].outcome) == ("tenant.sending", "refused")
    fake.ses_clear(tenant_name(A))
    life.set_sending(A, SendingStatus.DISABLED, "operator pause")
    life.set_sending(A, SendingStatus.REINSTATED, "resumed")
    assert fake.get(tenant_name(A)).sending_status is SendingStatus.REINSTATED  # type: ignore[union-attr]


def test_policy_on_an_account_without_tenant_says_how_to_repair() -> None:
    _, life, _ = _world()
    with pytest.raises(TenantNotFoundError, match="litemx account repair"):
        life.set_policy(A, ReputationPolicy.NONE)


class RecordingProvider:
    name = "ses"

    def __init__(self) -> None:
        self.sent: list[str | None] = []

    def send(
        self,
        raw: bytes,
        *,
        sender: str,
        recipients: tuple[str, ...],
        tags: Mapping[str, str],
        tenant: str | None = None,
    ) -> SendResult:
        self.sent.append(tenant)
        return SendResult("ses", f"m-{len(self.sent)}")

    def status(self) -> ProviderStatus:
        return ProviderStatus(provider="ses", sandboxed=False, sending_enabled=True)


def _send(provider: TenantGatedProvider, account: str) -> SendResult:
    return provider.send(
        b"x", sender="s@acme.example", recipients=("r@o.test",), tags={"litemx-account": account}
    )


def test_every_send_names_the_tenant_and_a_paused_tenant_stops_only_its_account() -> None:
    # Given two accounts with tenants, and one paused by SES
    fake, life, _ = _world()
    life.ensure_tenant(A)
    life.ensure_tenant(B)
    fake.ses_pause(tenant_name(A))
    inner = RecordingProvider()
    gated = TenantGatedProvider(inner, TenantStatusCache(fake))
    # When both send
    with pytest.raises(ProviderBlockedError) as blocked:
        _send(gated, A)
    _send(gated, B)
    # Then A is refused without any SES send, B is sent with its TenantName
    assert blocked.value.code == TENANT_PAUSED
    assert inner.sent == [tenant_name(B)]


def test_the_status_read_is_cached_so_a_send_adds_at_most_one_request_per_ttl() -> None:
    fake, life, _ = _world()
    life.ensure_tenant(A)
    now = [0.0]
    cache = TenantStatusCache(fake, ttl_seconds=30, monotonic=lambda: now[0])
    gated = TenantGatedProvider(RecordingProvider(), cache)
    fake.calls.clear()
    for _ in range(50):
        _send(gated, A)
    assert fake.calls == ["GetTenant"]
    now[0] = 31.0
    _send(gated, A)
    assert fake.calls == ["GetTenant", "GetTenant"]


def test_unavailable_tenant_management_degrades_to_sending_without_tenant() -> None:
    fake = FakeTenants(region="eu-west-1", aws_account_id="1", available=False)
    inner = RecordingProvider()
    gated = TenantGatedProvider(inner, TenantStatusCache(fake))
    _send(gated, A)
    assert inner.sent == [None]
    assert gated.status().tenants == "unavailable"
    assert view(fake, A).available is False


class MotoLikeClient:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def send_email(self, **request: Any) -> dict[str, str]:
        self.requests.append(request)
        return {"MessageId": "m-1"}


def test_the_fake_refuses_a_send_whose_identity_is_not_associated() -> None:
    # Given a tenant without the sender's domain
    fake, life, _ = _world()
    life.ensure_tenant(A)
    client = FakeTenantSesClient(MotoLikeClient(), fake, SCOPE.configuration_set)
    ses = SesProvider(client, SCOPE.configuration_set)
    # When / Then
    with pytest.raises(Exception, match="not associated"):
        ses.send(b"x", sender="s@acme.example", recipients=("r@o.test",), tags={}, tenant=tenant_name(A))
    life.associate_domain(A, "acme.example")
    assert ses.send(b"x", sender="s@acme.example", recipients=("r@o.test",), tags={}, tenant=tenant_name(A))


def test_a_pause_ses_reports_at_send_time_is_mapped_to_tenant_paused() -> None:
    # Given the gate's cached read still says ENABLED when SES pauses the tenant
    fake, life, _ = _world()
    life.associate_domain(A, "acme.example")
    client = FakeTenantSesClient(MotoLikeClient(), fake, SCOPE.configuration_set)
    gated = TenantGatedProvider(SesProvider(client, SCOPE.configuration_set), TenantStatusCache(fake))
    _send(gated, A)
    fake.ses_pause(tenant_name(A))
    # When / Then
    with pytest.raises(ProviderBlockedError) as blocked:
        _send(gated, A)
    assert blocked.value.code == TENANT_PAUSED


def test_the_fake_raises_sesv2_shaped_errors() -> None:
    fake, _, _ = _world()
    with pytest.raises(ClientError) as error:
        fake.check_send("litemx-acc-missing", "arn:i", None)
    assert error.value.response["Error"]["Code"] == "NotFoundException"
