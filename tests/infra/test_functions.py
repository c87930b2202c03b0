"""Every Lambda: Python 3.12 on arm64, traced, its own log group and role, and the env/permission contract.

Every function gets every `TABLE_*` name (functions.settings.table_names reads them all), but its role may
use only the tables listed below, with the access listed. Changing what a function touches means changing
this table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from infra.constructs.function import table_env_var
from tests.infra.conftest import Synth
from tests.infra.helpers import (
    actions_on,
    as_list,
    function_statements,
    litemx_functions,
    referenced_ids,
)
from tests.infra.test_least_privilege import EXPECTED

# The tables each function may reach, and with which actions: tests/infra/test_least_privilege.py.
TABLES = EXPECTED
PROVIDER_ENV = {"OUTBOUND_PROVIDER", "SES_CONFIGURATION_SET", "SES_TENANTS"}
OTHER_ENV = {
    "api": {"SEND_QUEUE_URL", "OUTBOUND_BUCKET", "RAW_MAIL_BUCKET", *PROVIDER_ENV},
    "sender": {
        "SEND_QUEUE_URL",
        "SEND_MAX_RECEIVE_COUNT",
        "SEND_RATE_PER_SECOND",
        "OUTBOUND_BUCKET",
        *PROVIDER_ENV,
    },
    "inbound": {"RAW_MAIL_BUCKET", "RAW_MAIL_PREFIX", "RAW_MAIL_RETENTION_DAYS", "WEBHOOK_FUNCTION_NAME"},
    "webhooks": {
        "WEBHOOK_DLQ_URL",
        "WEBHOOK_DLQ_ARN",
        "WEBHOOK_SCHEDULE_GROUP",
        "WEBHOOK_SCHEDULER_ROLE_ARN",
        "WEBHOOK_MAX_RECEIVE_COUNT",
        "API_URL",
    },
    "feedback": {"SES_SENDING_ACCOUNT_ID", "SES_CONFIGURATION_SET"},
}
COMMON_ENV = {
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_TRACE_DISABLED",
    "LOG_LEVEL",
    "LITEMX_ENVIRONMENT",
    "AUDIT_RETENTION_DAYS",  # every function may write the audit trail (cdk.json auditRetentionDays)
}
# Actions IAM cannot scope to a resource: the only ones allowed on Resource "*".
UNSCOPABLE = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "ses:GetAccount",
    "ses:ListIdentities",
    "ses:GetIdentityVerificationAttributes",
    "ses:SetActiveReceiptRuleSet",
    "ses:ListTenants",  # a list action (probes whether tenant management is available: docs/tenants.md)
}


def test_the_five_handlers_exist(default):
    assert set(litemx_functions(default)) == set(TABLES)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_runtime_architecture_tracing_handler(default, name):
    props = litemx_functions(default)[name]["Properties"]
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert props.get("TracingConfig", {"Mode": "PassThrough"}) == {"Mode": "PassThrough"}
    assert props["Handler"] == f"functions/{name}/handler.handler"
    env = props["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == f"litemx-{name}"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "LiteMX"
    assert env["LOG_LEVEL"] == "INFO"
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"


def _actions(synth, role_id: str) -> set[str]:
    found: set[str] = set()
    for policy in synth.of_type("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"]
                found |= {actions} if isinstance(actions, str) else set(actions)
    return found


@pytest.mark.parametrize("tracing", [False, True])
def test_x_ray_tracing_is_opt_in(synth_with, tracing):
    # Given the tracing setting (cdk.json litemx:tracing, off by default)
    synth = synth_with(tracing=tracing)
    for props in (f["Properties"] for f in litemx_functions(synth).values()):
        # Then active tracing, the handlers' tracer and the X-Ray permissions follow it together
        mode = props.get("TracingConfig", {"Mode": "PassThrough"})["Mode"]
        assert mode == ("Active" if tracing else "PassThrough")
        assert props["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == str(not tracing).lower()
        xray = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
        assert (xray <= _actions(synth, props["Role"]["Fn::GetAtt"][0])) is tracing


def test_platform_log_lines_are_dropped_and_the_handlers_lines_kept(default):
    # Given the stack as cdk.json configures it: JSON logs, Lambda's START/REPORT lines (about 350 bytes
    # per invocation) filtered out, every handler line at INFO and above kept (errors, the send's outcome,
    # the metrics' EMF lines, which carry no level and count as INFO)
    for props in (f["Properties"] for f in litemx_functions(default).values()):
        logging = props["LoggingConfig"]
        assert (logging["LogFormat"], logging["SystemLogLevel"], logging["ApplicationLogLevel"]) == (
            "JSON",
            "WARN",
            "INFO",
        )


@pytest.mark.parametrize(
    ("platform", "level", "application"), [("INFO", "DEBUG", "DEBUG"), ("WARN", "ERROR", "INFO")]
)
def test_log_levels_follow_the_configuration(synth_with, platform, level, application):
    synth = synth_with(platformLogLevel=platform, logLevel=level)
    for props in (f["Properties"] for f in litemx_functions(synth).values()):
        logging = props["LoggingConfig"]
        assert (logging["SystemLogLevel"], logging["ApplicationLogLevel"]) == (platform, application)
        assert props["Environment"]["Variables"]["LOG_LEVEL"] == level


def test_one_code_asset_and_one_layer_for_all(default):
    functions = litemx_functions(default).values()
    assert (
        len(
            {
                f["Properties"]["Code"]["S3Key"]["Fn::Sub"]
                if isinstance(f["Properties"]["Code"]["S3Key"], dict)
                else f["Properties"]["Code"]["S3Key"]
                for f in functions
            }
        )
        == 1
    )
    layers = default.of_type("AWS::Lambda::LayerVersion")
    assert len(layers) == 1
    (layer_id,) = layers
    assert all(f["Properties"]["Layers"] == [{"Ref": layer_id}] for f in functions)


def test_each_function_has_its_own_role_and_log_group_with_retention(default):
    functions = litemx_functions(default).values()
    roles = {f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions}
    log_groups = {f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] for f in functions}
    assert len(roles) == len(log_groups) == len(TABLES)
    for log_group in log_groups:
        assert default.resources[log_group]["Properties"]["RetentionInDays"] == 30
    for role in roles:
        assert "ManagedPolicyArns" not in default.resources[role]["Properties"]


@pytest.mark.parametrize("name", sorted(TABLES))
def test_environment_is_exactly_the_contract(default, name):
    env = litemx_functions(default)[name]["Properties"]["Environment"]["Variables"]
    expected = COMMON_ENV | OTHER_ENV[name] | {table_env_var(role) for role in default.stack.data.tables}
    assert set(env) == expected


@pytest.mark.parametrize("name", sorted(TABLES))
def test_no_table_is_reachable_without_its_environment_variable(default, name):
    function = litemx_functions(default)[name]
    env = function["Properties"]["Environment"]["Variables"]
    statements = function_statements(default, function)
    all_tables = set(default.of_type("AWS::DynamoDB::Table"))
    assert {env[table_env_var(role)]["Ref"] for role in default.stack.data.tables} == all_tables
    named = {env[table_env_var(role)]["Ref"] for role in TABLES[name]}
    for table_id in all_tables - named:
        assert not actions_on(statements, table_id), table_id


def _all_statements(synth: Synth) -> Iterator[dict[str, Any]]:
    for policy in synth.of_type("AWS::IAM::Policy").values():
        yield from policy["Properties"]["PolicyDocument"]["Statement"]
    for role in synth.of_type("AWS::IAM::Role").values():
        for inline in role["Properties"].get("Policies", []):
            yield from inline["PolicyDocument"]["Statement"]


@pytest.mark.parametrize("which", ["default", "variant"])
def test_no_iam_statement_has_a_wildcard_action(request, which):
    synth = request.getfixturevalue(which)
    actions = {a for s in _all_statements(synth) for a in as_list(s["Action"])}
    assert actions
    assert not {a for a in actions if "*" in a}


@pytest.mark.parametrize("which", ["default", "variant"])
def test_resource_star_only_for_actions_iam_cannot_scope(request, which):
    synth = request.getfixturevalue(which)
    for statement in _all_statements(synth):
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) <= UNSCOPABLE, statement


def test_ses_send_is_limited_to_our_identities_and_configuration_set(default):
    sender = litemx_functions(default)["sender"]
    sends = [s for s in function_statements(default, sender) if "ses:SendRawEmail" in as_list(s["Action"])]
    assert len(sends) == 1
    resources = sends[0]["Resource"]
    identities = set(default.of_type("AWS::SES::EmailIdentity"))
    (config_set,) = default.of_type("AWS::SES::ConfigurationSet")
    assert referenced_ids(resources) == identities | {config_set}
    assert "*" not in as_list(resources)
    # No other function may send
    for name, function in litemx_functions(default).items():
        if name != "sender":
            assert not any(
                a.startswith("ses:Send")
                for s in function_statements(default, function)
                for a in as_list(s["Action"])
            )


@pytest.mark.parametrize("name", ["api", "sender"])
def test_smtp_provider_reads_its_secret_and_cannot_send_through_ses(variant, name):
    function = litemx_functions(variant)[name]
    env = function["Properties"]["Environment"]["Variables"]
    assert env["OUTBOUND_PROVIDER"] == "smtp"
    assert env["SMTP_HOST"] == "smtp.example.net"
    assert env["SMTP_PORT"] == "587"
    assert "SMTP_SECRET_ARN" in env
    actions = {a for s in function_statements(variant, function) for a in as_list(s["Action"])}
    assert "secretsmanager:GetSecretValue" in actions
    assert not {a for a in actions if a.startswith("ses:Send")}


def test_inbound_and_feedback_know_nothing_of_the_provider(variant):
    for name in ("inbound", "feedback"):
        function = litemx_functions(variant)[name]
        env = function["Properties"]["Environment"]["Variables"]
        assert not {"SMTP_SECRET_ARN", "SMTP_HOST", "OUTBOUND_PROVIDER"} & set(env)
        actions = {a for s in function_statements(variant, function) for a in as_list(s["Action"])}
        assert not {a for a in actions if a.startswith(("ses:", "secretsmanager:"))}


def key_grants(statements: list[dict[str, Any]], logical_id: str) -> set[tuple[str, str]]:
    """(key pattern, action) for every object-level right the statements give on the bucket."""
    grants: set[tuple[str, str]] = set()
    for statement in statements:
        if statement["Effect"] != "Allow" or logical_id not in referenced_ids(statement["Resource"]):
            continue
        for resource in as_list(statement["Resource"]):
            parts = resource.get("Fn::Join", ["", []])[1] if isinstance(resource, dict) else [resource]
            suffix = "".join(p for p in parts if isinstance(p, str)).lstrip("/")
            if suffix:
                grants |= {(suffix, action) for action in as_list(statement["Action"])}
    return grants


def test_buckets_are_reached_object_by_object(default):
    functions = litemx_functions(default)
    raw = default.logical_id(default.stack.inbound.bucket)
    outbound = default.logical_id(default.stack.outbound.bucket)
    assert actions_on(function_statements(default, functions["inbound"]), raw) == {"s3:GetObject"}
    assert actions_on(function_statements(default, functions["sender"]), outbound) == {"s3:GetObject"}
    assert actions_on(function_statements(default, functions["api"]), outbound) == {
        "s3:PutObject",
        "s3:GetObject",
    }
    # Each right on the outbound bucket is bound to its key prefix: the sender reads composed MIME; the api
    # writes it, and signs, checks (HeadObject is s3:GetObject) and reads attachments under uploads/ only.
    assert key_grants(function_statements(default, functions["sender"]), outbound) == {
        ("outbound/*", "s3:GetObject")
    }
    assert key_grants(function_statements(default, functions["api"]), outbound) == {
        ("outbound/*", "s3:PutObject"),
        ("uploads/*", "s3:PutObject"),
        ("uploads/*", "s3:GetObject"),
    }
    # The read API only signs URLs to received messages: it reads raw mail, never writes it.
    assert actions_on(function_statements(default, functions["api"]), raw) == {"s3:GetObject"}
    for name in ("sender", "feedback"):
        assert not actions_on(function_statements(default, functions[name]), raw)


def test_tenant_actions_are_read_only_and_scoped_to_litemx_tenants(default):
    # Issue 15: the functions read tenants; every lifecycle change is an operator's CLI action
    tenant_statements = [
        s
        for fn in litemx_functions(default).values()
        for s in function_statements(default, fn)
        if any("Tenant" in a or "Reputation" in a for a in as_list(s["Action"]))
    ]
    tenant_actions = {
        a for s in tenant_statements for a in as_list(s["Action"]) if "Tenant" in a or "Reputation" in a
    }
    assert tenant_actions == {
        "ses:GetTenant",
        "ses:GetReputationEntity",
        "ses:ListTenantResources",
        "ses:ListTenants",
    }
    for statement in tenant_statements:
        if set(as_list(statement["Action"])) & {"ses:GetTenant", "ses:GetReputationEntity"}:
            assert "tenant/litemx-acc-*" in json.dumps(statement["Resource"])
