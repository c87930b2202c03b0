"""Tables: key schemas equal the pynamodb models', PITR, encryption, TTL, retention."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from infra.constructs.data import UNMODELLED_TABLES
from infra.constructs.function import table_env_var
from litemx.storage.tables import ALL_TABLE_MODELS, TTL_ATTRIBUTES
from tests.infra.conftest import Synth
from tests.infra.helpers import litemx_functions

ALL_ROLES = sorted(ALL_TABLE_MODELS.keys() | UNMODELLED_TABLES.keys())


def _table(synth: Synth, role: str) -> dict[str, Any]:
    return synth.properties(synth.stack.data.table(role).table)


def _key_set(key_schema: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    return {(k["AttributeName"], k["KeyType"]) for k in key_schema}


@pytest.mark.parametrize("role", sorted(ALL_TABLE_MODELS))
def test_key_schema_equals_the_pynamodb_model(default, role):
    # Given the model the domain code reads and writes through
    schema = ALL_TABLE_MODELS[role]._get_schema()
    # When the deployed table is synthesized
    table = _table(default, role)
    # Then keys, key types and secondary indexes are the same
    assert _key_set(table["KeySchema"]) == _key_set(schema["key_schema"])
    assert {(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]} == {
        (a["AttributeName"], a["AttributeType"]) for a in schema["attribute_definitions"]
    }
    deployed_indexes = {
        i["IndexName"]: (_key_set(i["KeySchema"]), i["Projection"]["ProjectionType"])
        for i in table.get("GlobalSecondaryIndexes", [])
    }
    model_indexes = {
        i["index_name"]: (_key_set(i["key_schema"]), i["projection"]["ProjectionType"])
        for i in schema["global_secondary_indexes"]
    }
    assert deployed_indexes == model_indexes


def test_every_table_is_deployed_once(default):
    assert len(default.of_type("AWS::DynamoDB::Table")) == len(ALL_ROLES)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_tables_are_on_demand_encrypted_and_recoverable(default, role):
    table = _table(default, role)
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


@pytest.mark.parametrize("role", ALL_ROLES)
def test_ttl_only_where_records_expire(default, role):
    ttl = _table(default, role).get("TimeToLiveSpecification")
    expected = TTL_ATTRIBUTES.get(role)
    if expected is None:
        assert ttl is None
    else:
        assert ttl == {"AttributeName": expected, "Enabled": True}


def test_accounts_are_listed_from_a_sparse_index_no_function_may_query(default):
    # `litemx account list` reads the `accounts` index (only account items carry its key `listing`)
    indexes = {i["IndexName"]: i for i in _table(default, "directory")["GlobalSecondaryIndexes"]}
    assert _key_set(indexes["accounts"]["KeySchema"]) == {("listing", "HASH"), ("account_id", "RANGE")}
    # and no function may Scan any table (the index is for the operator's CLI)
    policies = [
        statement
        for resource in default.of_type("AWS::IAM::Policy").values()
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {a for s in policies for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert "dynamodb:Scan" not in actions


@pytest.mark.parametrize("role", ["audit", "inbound"])
def test_the_audit_trail_and_the_inbound_index_expire(default, role):
    # Nothing grows without bound: both tables carry a TTL on `expires_at`
    assert _table(default, role)["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }


@pytest.mark.parametrize(("overrides", "audit_days", "raw_days"), [({}, "400", "365"), (None, "730", "90")])
def test_retention_reaches_every_function_that_writes_those_items(
    synth_with, default, overrides, audit_days, raw_days
):
    # Given the shipped cdk.json, or a deployment keeping its audit trail two years and raw mail 90 days
    synth = default if overrides is not None else synth_with(auditRetentionDays=730, rawMailExpirationDays=90)
    functions = litemx_functions(synth)
    env = {name: f["Properties"]["Environment"]["Variables"] for name, f in functions.items()}
    # Then every function writes audit entries with that retention, and inbound index entries live as long
    # as the raw mail the bucket keeps
    assert {name: e["AUDIT_RETENTION_DAYS"] for name, e in env.items()} == dict.fromkeys(env, audit_days)
    assert env["inbound"]["RAW_MAIL_RETENTION_DAYS"] == raw_days
    rule = next(
        r
        for r in synth.properties(synth.stack.inbound.bucket)["LifecycleConfiguration"]["Rules"]
        if r["Id"] == "raw-mail-expiration"
    )
    assert str(rule["ExpirationInDays"]) == raw_days


def test_data_tables_survive_stack_deletion(default):
    policies = {
        role: default.resources[default.logical_id(default.stack.data.table(role).table)]["DeletionPolicy"]
        for role in ALL_ROLES
    }
    assert policies.pop("idempotency") == "Delete"
    assert set(policies.values()) == {"Retain"}
    assert all(_table(default, role)["DeletionProtectionEnabled"] for role in policies)


def test_table_names_are_stack_outputs(default):
    outputs = default.template.to_json()["Outputs"]
    for role in ALL_ROLES:
        assert outputs[f"Table{role.capitalize()}"]["Value"] == {
            "Ref": default.logical_id(default.stack.data.table(role).table)
        }
        assert table_env_var(role) == f"TABLE_{role.upper()}"
