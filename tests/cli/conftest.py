"""CLI fixtures: the real `litemx` app, driven in-process, against a Target state file that points at the
session's local AWS (DynamoDB Local and moto server) and this test's fresh tables."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from litemx.storage.tables import TableNames
from litemx_cli.main import app
from litemx_cli.target import Target, write_local_state
from litemx_local.aws import REGION

UNREACHABLE_API = "http://127.0.0.1:9"  # the discard port: nothing listens there


@dataclass
class Cli:
    target: Target

    def __call__(self, *args: str) -> Result:
        # A fresh runner per call, as a shell would run the script again.
        return CliRunner().invoke(app, list(args), env={"COLUMNS": "80"})

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def litemx_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LITEMX_HOME", str(tmp_path / "litemx-home"))
    monkeypatch.setenv("USER", "tester")


@pytest.fixture
def cli(local_aws, tables: TableNames, litemx_home, tmp_path) -> Cli:
    """What `litemx local up` would have written, pointing at this test's tables (and, as there, SES
    tenants through the in-process fake: docs/tenants.md)."""
    target = Target(
        name="local",
        region=REGION,
        api_url=UNREACHABLE_API,
        tables=tables,
        env=local_aws.environment()
        | {"SES_TENANTS": f"fake:{tmp_path / 'tenants.json'}", "SES_SENDING_ACCOUNT_ID": "123456789012"},
        pid=os.getpid(),
    )
    write_local_state(target)
    return Cli(target)
