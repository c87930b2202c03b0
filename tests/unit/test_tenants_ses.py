"""The SESv2 tenant adapter against botocore's Stubber: every request is validated against the real
service model, so operation and parameter names and shapes are AWS's own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from litemx.tenants.models import ReputationPolicy, SendingStatus, TenantResumeRefusedError
from litemx.tenants.ses import SesTenants

REGION = "eu-west-1"
TENANT = "litemx-acc-0123456789ab"
TENANT_ARN = f"arn:aws:ses:{REGION}:111122223333:tenant/{TENANT}/t-1"
IDENTITY_ARN = f"arn:aws:ses:{REGION}:111122223333:identity/acme.example"


@pytest.fixture
def stubbed() -> Iterator[tuple[SesTenants, Stubber]]:
    client: Any = boto3.client(
        "sesv2", region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test"
    )
    with Stubber(client) as stubber:
        yield SesTenants(client), stubber
        stubber.assert_no_pending_responses()


def test_create_asks_for_tenant_scoped_suppression_of_bounces_and_complaints(
    stubbed: tuple[SesTenants, Stubber],
) -> None:
    # Given
    tenants, stub = stubbed
    stub.add_response(
        "create_tenant",
        {"TenantName": TENANT, "TenantId": "t-1", "TenantArn": TENANT_ARN, "SendingStatus": "ENABLED"},
        {
            "TenantName": TENANT,
            "Tags": [{"Key": "litemx-account", "Value": "acc-0123456789ab"}],
            "SuppressionAttributes": {
                "SuppressedReasons": ["BOUNCE", "COMPLAINT"],
                "SuppressionScope": "TENANT",
            },
        },
    )
    # When
    tenant = tenants.create(TENANT, tags={"litemx-account": "acc-0123456789ab"})
    # Then
    assert (tenant.arn, tenant.sending_status) == (TENANT_ARN, SendingStatus.ENABLED)


def test_create_of_an_existing_tenant_returns_it(stubbed: tuple[SesTenants, Stubber]) -> None:
    tenants, stub = stubbed
    stub.add_client_error("create_tenant", "AlreadyExistsException", http_status_code=400)
    stub.add_response(
        "get_tenant",
        {"Tenant": {"TenantName": TENANT, "TenantArn": TENANT_ARN, "SendingStatus": "DISABLED"}},
        {"TenantName": TENANT},
    )
    tenant = tenants.create(TENANT, tags={})
    assert tenant.sending_status is SendingStatus.DISABLED


def test_get_of_a_missing_tenant_is_none(stubbed: tuple[SesTenants, Stubber]) -> None:
    tenants, stub = stubbed
    stub.add_client_error("get_tenant", "NotFoundException", http_status_code=404)
    assert tenants.get(TENANT) is None


def test_associate_and_dissociate_are_idempotent(stubbed: tuple[SesTenants, Stubber]) -> None:
    tenants, stub = stubbed
    params = {"TenantName": TENANT, "ResourceArn": IDENTITY_ARN}
    stub.add_response("create_tenant_resource_association", {}, params)
    stub.add_client_error(
        "create_tenant_resource_association", "AlreadyExistsException", expected_params=params
    )
    stub.add_response("delete_tenant_resource_association", {}, params)
    stub.add_client_error("delete_tenant_resource_association", "NotFoundException", expected_params=params)
    assert tenants.associate(TENANT, IDENTITY_ARN) is True
    assert tenants.associate(TENANT, IDENTITY_ARN) is False
    assert tenants.dissociate(TENANT, IDENTITY_ARN) is True
    assert tenants.dissociate(TENANT, IDENTITY_ARN) is False


def test_resources_follow_pagination(stubbed: tuple[SesTenants, Stubber]) -> None:
    tenants, stub = stubbed
    stub.add_response(
        "list_tenant_resources",
        {
            "TenantResources": [{"ResourceType": "EMAIL_IDENTITY", "ResourceArn": IDENTITY_ARN}],
            "NextToken": "n",
        },
        {"TenantName": TENANT, "PageSize": 100},
    )
    stub.add_response(
        "list_tenant_resources",
        {"TenantResources": [{"ResourceType": "CONFIGURATION_SET", "ResourceArn": "arn:cs"}]},
        {"TenantName": TENANT, "PageSize": 100, "NextToken": "n"},
    )
    assert tenants.resources(TENANT) == {IDENTITY_ARN, "arn:cs"}


def test_policy_is_the_ses_managed_policy_arn_of_the_tenants_region(
    stubbed: tuple[SesTenants, Stubber],
) -> None:
    tenants, stub = stubbed
    stub.add_response(
        "update_reputation_entity_policy",
        {},
        {
            "ReputationEntityType": "RESOURCE",
            "ReputationEntityReference": TENANT_ARN,
            "ReputationEntityPolicy": f"arn:aws:ses:{REGION}:aws:reputation-policy/strict",
        },
    )
    tenants.set_policy(TENANT_ARN, ReputationPolicy.STRICT)


def test_finding_reads_both_statuses_the_cause_and_the_policy(stubbed: tuple[SesTenants, Stubber]) -> None:
    tenants, stub = stubbed
    stub.add_response(
        "get_reputation_entity",
        {
            "ReputationEntity": {
                "ReputationEntityReference": TENANT_ARN,
                "ReputationEntityType": "RESOURCE",
                "ReputationManagementPolicy": f"arn:aws:ses:{REGION}:aws:reputation-policy/standard",
                "CustomerManagedStatus": {"Status": "ENABLED"},
                "AwsSesManagedStatus": {"Status": "DISABLED", "Cause": "complaint rate"},
                "SendingStatusAggregate": "DISABLED",
                "ReputationImpact": "HIGH",
            }
        },
        {"ReputationEntityType": "RESOURCE", "ReputationEntityReference": TENANT_ARN},
    )
    finding = tenants.finding(TENANT_ARN)
    assert finding is not None
    assert (finding.aggregate, finding.ses_status, finding.cause, finding.policy) == (
        SendingStatus.DISABLED,
        SendingStatus.DISABLED,
        "complaint rate",
        ReputationPolicy.STANDARD,
    )


def test_a_resume_ses_refuses_is_a_domain_error(stubbed: tuple[SesTenants, Stubber]) -> None:
    tenants, stub = stubbed
    stub.add_client_error(
        "update_reputation_entity_customer_managed_status",
        "ConflictException",
        expected_params={
            "ReputationEntityType": "RESOURCE",
            "ReputationEntityReference": TENANT_ARN,
            "SendingStatus": "REINSTATED",
        },
    )
    with pytest.raises(TenantResumeRefusedError):
        tenants.set_customer_status(TENANT_ARN, SendingStatus.REINSTATED)


@pytest.mark.parametrize("code", ["UnknownOperationException", "AccessDeniedException"])
def test_a_region_without_tenant_management_is_unavailable(
    stubbed: tuple[SesTenants, Stubber], code: str
) -> None:
    tenants, stub = stubbed
    stub.add_client_error("list_tenants", code, expected_params={"PageSize": 1})
    assert tenants.available() is False


def test_send_email_accepts_tenant_name() -> None:
    # The pinned botocore's SendEmail model carries TenantName (a stale botocore would fail here)
    client: Any = boto3.client("sesv2", region_name=REGION, aws_access_key_id="t", aws_secret_access_key="t")
    with Stubber(client) as stub:
        request = {
            "FromEmailAddress": "a@acme.example",
            "Destination": {"ToAddresses": ["b@outside.test"]},
            "Content": {"Raw": {"Data": b"x"}},
            "TenantName": TENANT,
        }
        stub.add_response("send_email", {"MessageId": "m-1"}, request)
        assert client.send_email(**request)["MessageId"] == "m-1"
