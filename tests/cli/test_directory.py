"""Accounts, domains, mailboxes and tokens through `litemx`, against the local AWS."""

from __future__ import annotations

import json
from typing import Any

import pytest

from litemx.clock import SystemClock
from litemx.directory.store import DirectoryStore, account_key
from litemx.directory.tokens import parse_secret
from litemx.ids import new_request_id
from litemx.policy.logic import decide
from litemx.policy.models import SendRequest
from litemx.policy.store import DynamoPolicyStore
from litemx.storage.tables import AccountRecord
from litemx_local.testclock import anchored_now
from tests.cli.conftest import Cli
from tests.integration.outbound import aws_requests

pytestmark = pytest.mark.integration


def make_account(cli: Cli, name: str = "Example Ltd", plan: str = "free") -> str:
    return str(cli.json("account", "create", name, "--plan", plan)["account_id"])


def make_mailbox(cli: Cli, account: str, domain: str = "example.com", local: str = "support") -> str:
    assert cli("domain", "add", domain, "--account", account).exit_code == 0
    assert cli("domain", "status", domain).exit_code == 0  # moto verifies at once
    return str(cli.json("mailbox", "create", f"{local}@{domain}", "--account", account)["address"])


def test_account_create_list_show_set_plan(cli: Cli) -> None:
    # Given
    account = make_account(cli, "Example Ltd", "starter")

    # When
    listed = cli.json("account", "list")
    cli.json("account", "set-plan", account, "scale", "--mailbox-day", "50")
    cli.json("account", "set-plan", account, "scale", "--account-month", "900")
    shown = cli.json("account", "show", account)

    # Then
    assert [(a["account_id"], a["name"], a["plan"]) for a in listed] == [(account, "Example Ltd", "starter")]
    assert shown["plan"] == "scale"
    assert shown["overrides"] == {"mailbox_day": 50, "account_month": 900}  # the first override is kept
    assert shown["limits"] == {
        "mailbox_day": 50,
        "account_day": 1000,
        "account_month": 900,
        "recipients_per_message": 10,
    }
    events = [(e["event"], e["actor"]) for e in cli.json("audit", account, "--oldest-first")]
    assert events == [
        ("account.create", "operator:tester"),
        ("tenant.create", "operator:tester"),  # every account is an SES tenant (docs/tenants.md)
        ("tenant.policy", "operator:tester"),  # (this target names no configuration set to associate)
        ("account.set_plan", "operator:tester"),
        ("account.set_plan", "operator:tester"),
    ]
    assert (shown["tenant"]["name"], shown["tenant"]["reputation_policy"]) == (f"litemx-{account}", "strict")


def test_account_list_queries_its_index_and_never_scans_the_directory(cli: Cli) -> None:
    # Given two accounts, and a mailbox with many correspondents (items of the same table)
    first, second = make_account(cli, "First"), make_account(cli, "Second")
    mailbox = make_mailbox(cli, first)
    directory = DirectoryStore()
    for n in range(30):
        directory.record_correspondent(mailbox, f"someone{n}@outside.test", now=anchored_now())
    # When the accounts are listed
    with aws_requests() as made:
        listed = cli.json("account", "list")
    # Then both are listed, by id, from one Query of the sparse `accounts` index, and nothing was scanned
    assert [a["account_id"] for a in listed if a["account_id"] in (first, second)] == sorted([first, second])
    dynamodb = [(op, params) for service, op, params in made if service == "dynamodb"]
    assert [op for op, _ in dynamodb] == ["Query"]
    assert dynamodb[0][1]["IndexName"] == "accounts"


def test_accounts_written_before_the_index_are_listed_after_one_reindex(cli: Cli) -> None:
    # Given an account item as an older LiteMX wrote it (no `listing` key)
    account = make_account(cli, "Old")
    AccountRecord(*account_key(account)).update(actions=[AccountRecord.listing.remove()])
    assert account not in [a["account_id"] for a in cli.json("account", "list")]
    # When the operator reindexes once after upgrading
    assert cli.json("account", "reindex") == {"indexed": 1}
    # Then it is listed again, and a second run has nothing left to do
    assert account in [a["account_id"] for a in cli.json("account", "list")]
    assert cli.json("account", "reindex") == {"indexed": 0}


def test_clear_overrides_returns_to_the_plan(cli: Cli) -> None:
    account = make_account(cli)
    cli.json("account", "set-plan", account, "free", "--mailbox-day", "5")

    shown = cli.json("account", "set-plan", account, "starter", "--clear-overrides")

    assert shown["overrides"] == {}
    assert shown["limits"]["mailbox_day"] == 300


def test_unknown_account_is_refused_in_one_line(cli: Cli) -> None:
    result = cli("account", "show", "acc-000000000000")

    assert result.exit_code == 1
    assert result.stderr.strip() == "error: account acc-000000000000 does not exist (not_found)"
    assert "Traceback" not in result.output


def test_bad_plan_is_a_usage_error(cli: Cli) -> None:
    result = cli("account", "create", "X", "--plan", "unlimited")

    assert result.exit_code == 2


def test_account_show_fits_80_columns(cli: Cli) -> None:
    account = make_account(cli, "A customer with a rather long name, Incorporated")
    mailbox = make_mailbox(cli, account, "a-long-subdomain.example-customer.com", "customer-support-team")
    cli("token", "create", "--mailbox", mailbox, "--scope", "send", "--scope", "read", "--expires-days", "30")

    result = cli("account", "show", account)

    assert result.exit_code == 0, result.output
    assert mailbox in result.stdout.replace("\n", "") or "customer-support-team" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_domain_add_registers_and_prints_the_dns_records(cli: Cli) -> None:
    # Given
    account = make_account(cli)

    # When
    added = cli.json("domain", "add", "Example.COM", "--account", account)
    status = cli.json("domain", "status", "example.com")

    # Then
    records = {(r["type"], r["name"]): r["value"] for r in added["records"]}
    assert records[("MX", "example.com")] == "10 inbound-smtp.us-east-1.amazonaws.com"
    assert records[("TXT", "example.com")] == '"v=spf1 include:amazonses.com ~all"'
    assert records[("TXT", "_dmarc.example.com")] == (
        '"v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com"'
    )
    assert added["verification"] == "pending"
    assert (status["previous"], status["verification"]) == ("pending", "verified")
    shown = cli.json("account", "show", account)
    assert [(d["name"], d["verification"]) for d in shown["domains"]] == [("example.com", "verified")]
    assert "domain.add" in [e["event"] for e in cli.json("audit", account)]


def test_domain_add_prints_dkim_cnames_from_ses(cli: Cli, monkeypatch) -> None:
    # Given: SES answers with Easy DKIM tokens, as the real service does
    calls: list[tuple[str, dict[str, Any]]] = []

    class FakeSesV2:
        def create_email_identity(self, **request: Any) -> dict[str, Any]:
            calls.append(("create_email_identity", request))
            return {
                "IdentityType": "DOMAIN",
                "VerifiedForSendingStatus": False,
                "DkimAttributes": {"Status": "PENDING", "Tokens": ["tok1", "tok2", "tok3"]},
            }

    monkeypatch.setattr("litemx_cli.session.Session.client", lambda self, service: FakeSesV2())
    account = make_account(cli)

    # When
    result = cli("domain", "add", "example.org", "--account", account)

    # Then
    assert result.exit_code == 0, result.output
    assert calls == [("create_email_identity", {"EmailIdentity": "example.org"})]
    text = result.stdout.replace("\n", " ")
    for token in ("tok1", "tok2", "tok3"):
        assert f"{token}._domainkey.example.org" in text
        assert f"{token}.dkim.amazonses.com" in text
    assert "inbound-smtp.us-east-1.amazonaws.com" in text


def test_domain_add_again_is_idempotent_for_its_owner_only(cli: Cli) -> None:
    owner, other = make_account(cli, "Owner"), make_account(cli, "Other")
    cli.json("domain", "add", "example.com", "--account", owner)

    again = cli("domain", "add", "example.com", "--account", owner)
    stolen = cli("domain", "add", "example.com", "--account", other)

    assert again.exit_code == 0, again.output
    assert stolen.exit_code == 1
    assert "already exists" in stolen.stderr


def test_domain_status_of_an_unknown_domain_is_refused(cli: Cli) -> None:
    result = cli("domain", "status", "nowhere.example")

    assert result.exit_code == 1
    assert "does not exist" in result.stderr


def test_mailboxes_are_created_only_in_the_accounts_domains(cli: Cli) -> None:
    # Given
    account, other = make_account(cli, "A"), make_account(cli, "B")
    mailbox = make_mailbox(cli, account)

    # When
    listed = cli.json("mailbox", "list", "--account", account)
    foreign = cli("mailbox", "create", "intruder@example.com", "--account", other)
    invalid = cli("mailbox", "create", "not an address", "--account", account)

    # Then
    assert [(m["address"], m["status"]) for m in listed] == [(mailbox, "active")]
    assert foreign.exit_code == 1
    assert "does not belong" in foreign.stderr
    assert invalid.exit_code == 1
    assert "not a valid mail address" in invalid.stderr


def test_token_secret_is_shown_once_and_works_until_revoked(cli: Cli) -> None:
    # Given
    account = make_account(cli)
    mailbox = make_mailbox(cli, account)

    # When
    issued = cli.json("token", "create", "--mailbox", mailbox, "--scope", "send", "--scope", "read")
    first = _decide(issued["secret"], mailbox)
    revoked = cli("token", "revoke", issued["token_id"], "--reason", "leaked in a log")
    second = _decide(issued["secret"], mailbox)

    # Then
    claims = parse_secret(issued["secret"])
    assert claims is not None
    assert (claims.account_id, claims.token_id) == (account, issued["token_id"])
    assert issued["scopes"] == ["read", "send"]
    assert issued["mailbox"] == mailbox
    assert first.allowed
    assert revoked.exit_code == 0, revoked.output
    assert second.code == "token_revoked"
    listed = cli.json("token", "list", "--account", account)
    assert [(t["token_id"], t["status"]) for t in listed] == [(issued["token_id"], "revoked")]
    assert "secret" not in json.dumps(listed)
    events = [e["event"] for e in cli.json("audit", account)]
    assert {"token.create", "token.revoke"} <= set(events)


def test_token_text_output_prints_secret_scopes_and_mailbox(cli: Cli) -> None:
    account = make_account(cli)
    mailbox = make_mailbox(cli, account)

    result = cli("token", "create", "--mailbox", mailbox, "--scope", "send:reply", "--expires-days", "7")

    assert result.exit_code == 0, result.output
    secret_lines = [line for line in result.stdout.splitlines() if line.startswith("secret: lmx_")]
    assert len(secret_lines) == 1
    assert mailbox in result.stdout
    assert "send:reply" in result.stdout


def test_token_with_an_unknown_scope_is_a_usage_error(cli: Cli) -> None:
    result = cli("token", "create", "--mailbox", "a@example.com", "--scope", "admin")

    assert result.exit_code == 2


def _decide(secret: str, mailbox: str) -> Any:
    request = SendRequest(token_secret=secret, from_address=mailbox, to=("friend@outside.test",))
    return decide(request, store=DynamoPolicyStore(), clock=SystemClock(), request_id=new_request_id())


def test_first_contact_override_is_set_audited_and_cleared(cli: Cli) -> None:
    # Given a Free account (10 first contacts per mailbox per day) lowered to 2 by the operator
    from litemx.policy.store import AccountPolicyStore

    account = make_account(cli)
    cli.json("account", "set-plan", account, "free", "--first-contacts", "2")

    # Then the override is stored and the change is in the audit trail
    assert AccountPolicyStore().first_contacts(account) == 2
    events = [e["event"] for e in cli.json("audit", account, "--oldest-first")]
    assert events[-2:] == ["account.set_plan", "account.first_contacts"]

    # And clearing the overrides returns the account to the plan's number
    cli.json("account", "set-plan", account, "free", "--clear-overrides")
    assert AccountPolicyStore().first_contacts(account) is None
