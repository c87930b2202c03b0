"""`litemx account repair|retire|set-reputation-policy|pause|resume` and the tenant in `domain add`,
`account show` and `provider status`, against the local AWS and the tenant fake (docs/tenants.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli.conftest import Cli
from tests.cli.test_directory import make_account


def _state(cli: Cli) -> dict[str, dict[str, Any]]:
    path = Path(cli.target.env["SES_TENANTS"].removeprefix("fake:"))
    return dict(json.loads(path.read_text()))


def test_domain_add_associates_the_identity_and_repair_restores_a_lost_association(cli: Cli) -> None:
    # Given an account with a domain
    account = make_account(cli)
    assert cli("domain", "add", "acme.example", "--account", account).exit_code == 0
    tenant = f"litemx-{account}"
    resources = _state(cli)[tenant]["resources"]
    assert any(str(r).endswith(":identity/acme.example") for r in resources)

    # When the association is lost and the operator repairs twice
    path = Path(cli.target.env["SES_TENANTS"].removeprefix("fake:"))
    state = _state(cli)
    state[tenant]["resources"] = [r for r in state[tenant]["resources"] if "identity" not in r]
    path.write_text(json.dumps(state))
    first = cli.json("account", "repair", account)
    second = cli.json("account", "repair", account)

    # Then only the identity is re-associated, once
    assert [s.split()[0] for s in first["steps"]] == ["tenant.associate"]
    assert second["steps"] == []


def test_policy_pause_resume_and_retire(cli: Cli) -> None:
    account = make_account(cli)
    assert cli.json("account", "set-reputation-policy", account, "standard")["steps"]
    assert cli("account", "pause", account, "--reason", "investigating").exit_code == 0
    assert cli.json("account", "show", account)["tenant"]["sending_status"] == "DISABLED"
    assert cli("account", "resume", account, "--reason", "fixed").exit_code == 0
    assert cli.json("account", "show", account)["tenant"]["sending_status"] == "REINSTATED"
    retired = cli.json("account", "retire", account, "--reason", "customer left")
    assert retired["steps"][-1].startswith("tenant.delete")
    assert f"litemx-{account}" not in _state(cli)
    assert cli.json("account", "show", account)["status"] == "disabled"


def test_a_resume_ses_refuses_exits_non_zero(cli: Cli) -> None:
    account = make_account(cli)
    path = Path(cli.target.env["SES_TENANTS"].removeprefix("fake:"))
    state = _state(cli)
    state[f"litemx-{account}"]["ses"] = "DISABLED"
    path.write_text(json.dumps(state))
    result = cli("account", "resume", account, "--reason", "please")
    assert result.exit_code == 1
    assert "tenant_resume_refused" in result.output


def test_provider_status_reports_tenants(cli: Cli) -> None:
    shown = cli.json("provider", "status")
    assert shown["tenants"] == "available"
