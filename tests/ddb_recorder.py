"""A pytest plugin (`-p tests.ddb_recorder`) that records which DynamoDB actions each Lambda handler's code
performs on which table, while the integration tests drive the real handlers against DynamoDB Local.

`make ddb-actions` runs it and writes build/ddb-actions.json; the table in tests/infra/test_least_privilege.py
is what that run printed, and infra grants exactly that table (IAM actions, so a transaction's items count
as PutItem/UpdateItem/DeleteItem/ConditionCheckItem on their own tables, as IAM authorizes them).
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from botocore.client import BaseClient

FUNCTIONS = {"api", "sender", "inbound", "feedback", "webhooks"}
_TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
_recorded: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
_original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private to botocore, untyped


def _role(table: str) -> str:
    return table.rsplit("-", 1)[-1]


def _calling_function(frame: FrameType | None) -> str | None:
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        parts = module.split(".")
        if len(parts) > 1 and parts[0] == "functions" and parts[1] in FUNCTIONS:
            return parts[1]
        frame = frame.f_back
    return None


def _actions(operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return [
            (item[kind]["TableName"], _TRANSACT_ITEM_ACTIONS[kind])
            for item in params.get("TransactItems", [])
            for kind in item
        ]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(table, operation) for table in params.get("RequestItems", {})]
    if "TableName" in params:
        return [(params["TableName"], operation)]
    return []


def _recording(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
    if self.meta.service_model.service_name == "dynamodb":
        function = _calling_function(sys._getframe(1))
        if function is not None:
            for table, action in _actions(operation_name, api_params):
                _recorded[function][_role(table)].add(f"dynamodb:{action}")
    return _original(self, operation_name, api_params)


def pytest_configure(config: pytest.Config) -> None:
    setattr(BaseClient, "_make_api_call", _recording)  # noqa: B010


def pytest_unconfigure(config: pytest.Config) -> None:
    setattr(BaseClient, "_make_api_call", _original)  # noqa: B010
    out = Path(os.environ.get("LITEMX_DDB_ACTIONS", "build/ddb-actions.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    table = {f: {t: sorted(a) for t, a in sorted(tables.items())} for f, tables in sorted(_recorded.items())}
    out.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n", encoding="utf-8")
