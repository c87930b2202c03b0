"""Reading a synthesized template: which logical ids a value refers to, and each function's policy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tests.infra.conftest import Synth


def referenced_ids(value: Any) -> set[str]:
    """Logical ids named by Ref / Fn::GetAtt anywhere inside `value`."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str) and not value["Ref"].startswith("AWS::"):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        for item in value.values():
            found |= referenced_ids(item)
    elif isinstance(value, list):
        for item in value:
            found |= referenced_ids(item)
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def litemx_functions(synth: Synth) -> dict[str, dict[str, Any]]:
    """LiteMX handler functions by name (api, sender, ...), leaving out CDK's own helper functions."""
    functions = {}
    for logical_id, resource in synth.of_type("AWS::Lambda::Function").items():
        env = resource["Properties"].get("Environment", {}).get("Variables", {})
        service = env.get("POWERTOOLS_SERVICE_NAME", "")
        if service.startswith("litemx-"):
            functions[service.removeprefix("litemx-")] = resource | {"LogicalId": logical_id}
    return functions


def statements_of_role(synth: Synth, role_id: str) -> Iterator[dict[str, Any]]:
    for policy in synth.of_type("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"].get("Roles", []):
            yield from policy["Properties"]["PolicyDocument"]["Statement"]
    role = synth.resources[role_id]
    for inline in role["Properties"].get("Policies", []):
        yield from inline["PolicyDocument"]["Statement"]


def function_statements(synth: Synth, function: dict[str, Any]) -> list[dict[str, Any]]:
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return list(statements_of_role(synth, role_id))


def actions_on(statements: list[dict[str, Any]], logical_id: str) -> set[str]:
    """Every action the statements allow on a resource whose ARN comes from `logical_id`."""
    actions: set[str] = set()
    for statement in statements:
        if statement["Effect"] == "Allow" and logical_id in referenced_ids(statement["Resource"]):
            actions |= set(as_list(statement["Action"]))
    return actions
