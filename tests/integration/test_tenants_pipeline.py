"""Issue 15 end to end on the local AWS: API → queue → sender → (tenant fake →) moto SES.
Every send names the account's tenant; a paused tenant stops only that account (docs/tenants.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from functions import wiring
from litemx.tenants.fake import FakeTenants
from litemx.tenants.logic import Lifecycle
from litemx.tenants.models import TenantScope
from litemx.tenants.names import tenant_name
from litemx_local.aws import REGION
from tests.integration.outbound import CONFIGURATION_SET, Pipeline, make_pipeline

AWS_ACCOUNT = "123456789012"  # moto's


@pytest.fixture
def tenants(tmp_path: Path) -> FakeTenants:
    return FakeTenants(region=REGION, aws_account_id=AWS_ACCOUNT, path=tmp_path / "tenants.json")


@pytest.fixture
def pipeline(tables, local_aws, monkeypatch, tenants: FakeTenants) -> Iterator[Pipeline]:
    pipeline = make_pipeline(
        tables,
        local_aws,
        monkeypatch,
        SES_TENANTS=f"fake:{tenants.path}",
        SES_SENDING_ACCOUNT_ID=AWS_ACCOUNT,
    )
    scope = TenantScope(REGION, AWS_ACCOUNT, CONFIGURATION_SET)
    Lifecycle(tenants, scope, pipeline.world.audit, pipeline.world.clock, "operator:test").associate_domain(
        pipeline.world.account.account_id, "example.com"
    )
    yield pipeline
    wiring.reset_for_tests()


def _send(pipeline: Pipeline, subject: str) -> str:
    answer = pipeline.send({"to": ["alice@outside.test"], "subject": subject, "text": "hi"})
    assert answer.status == 202, answer.body
    return str(answer.body["id"])


def test_a_send_names_the_tenant_and_needs_its_identity_associated(pipeline: Pipeline, tenants) -> None:
    # Given a send through the tenant: SES (behind the fake's association check) takes it
    _send(pipeline, "with tenant")
    assert pipeline.drain() == []
    assert len(pipeline.sent_raw()) == 1
    # When the domain's identity is no longer associated with the tenant
    account = pipeline.world.account.account_id
    tenants.dissociate(
        tenant_name(account), TenantScope(REGION, AWS_ACCOUNT, None).identity_arn("example.com")
    )
    refused = _send(pipeline, "identity not associated")
    assert pipeline.drain() == []
    # Then SES refuses the send that names the tenant (repair: `litemx account repair`)
    token = pipeline.world.secrets[pipeline.world.mailboxes[0].address]
    status = pipeline.api("GET", f"/v1/messages/{refused}", token=token).body
    assert (status["status"], status["reason"]["code"]) == ("failed", "provider_rejected")
    assert "not associated" in status["reason"]["message"]
    assert len(pipeline.sent_raw()) == 1


def test_a_tenant_paused_after_queueing_fails_the_message_without_sending(
    pipeline: Pipeline, tenants
) -> None:
    # Given a queued message, the sender's cached status read while the tenant was still sending
    first = _send(pipeline, "first")
    assert pipeline.drain() == []
    second = _send(pipeline, "second")
    # When SES pauses the tenant before the sender takes the message
    tenants.ses_pause(tenant_name(pipeline.world.account.account_id))
    assert pipeline.drain() == []  # final: not back to the queue, never retried
    # Then it ended failed with the documented code, and only the first message left
    token = pipeline.world.secrets[pipeline.world.mailboxes[0].address]
    status = pipeline.api("GET", f"/v1/messages/{second}", token=token).body
    assert (status["status"], status["reason"]["code"]) == ("failed", "outbound_blocked.tenant_paused")
    assert len(pipeline.sent_raw()) == 1
    assert pipeline.api("GET", f"/v1/messages/{first}", token=token).body["status"] == "sent"
    assert pipeline.queue_depth(pipeline.queue_url) == 0


def test_once_the_cached_status_is_fresh_the_api_refuses_and_status_shows_the_tenant(
    pipeline: Pipeline, tenants
) -> None:
    tenants.ses_pause(tenant_name(pipeline.world.account.account_id))
    answer = pipeline.send({"to": ["alice@outside.test"], "text": "hi"})
    assert (answer.status, answer.body["error"]["code"]) == (422, "outbound_blocked.tenant_paused")
    token = pipeline.world.secrets[pipeline.world.mailboxes[0].address]
    status = pipeline.api("GET", "/v1/status", token=token).body
    assert status["tenants"] == "available"
    assert (status["tenant"]["sending_status"], status["tenant"]["reputation_policy"]) == (
        "DISABLED",
        "strict",
    )
    usage = pipeline.api("GET", "/v1/usage", token=token).body
    assert usage["tenant"]["name"] == tenant_name(pipeline.world.account.account_id)


def test_unavailable_tenant_management_keeps_sending_without_a_tenant(tables, local_aws, monkeypatch) -> None:
    # moto has no tenant API: SES_TENANTS=ses against it is a region without tenant management
    pipeline = make_pipeline(tables, local_aws, monkeypatch, SES_TENANTS="ses")
    _send(pipeline, "no tenant")
    assert pipeline.drain() == []
    assert len(pipeline.sent_raw()) == 1
    token = pipeline.world.secrets[pipeline.world.mailboxes[0].address]
    assert pipeline.api("GET", "/v1/status", token=token).body["tenants"] == "unavailable"
