"""Kill switches, suppression, usage, audit, provider status and send through `litemx`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from litemx.clock import FixedClock
from litemx.plans import Plan
from litemx_local.world import World, build_world
from tests.cli.conftest import Cli

pytestmark = pytest.mark.integration


@pytest.fixture
def world(cli: Cli) -> World:
    """A verified domain with two mailboxes and send tokens, deciding at the real current time (usage
    reads today's counters)."""
    return build_world(cli.target.tables, plan=Plan.FREE, mailboxes=2, clock=FixedClock(datetime.now(UTC)))


def test_disable_and_enable_take_effect_on_the_next_decision(cli: Cli, world: World) -> None:
    # Given
    mailbox = world.mailboxes[0].address

    # When
    disabled = cli("disable", "mailbox", mailbox, "--reason", "customer asked")
    refused = world.send(["friend@outside.test"])
    enabled = cli("enable", "mailbox", mailbox, "--reason", "resolved")
    allowed = world.send(["friend@outside.test"])

    # Then
    assert disabled.exit_code == 0, disabled.output
    assert refused.code == "mailbox_disabled"
    assert enabled.exit_code == 0, enabled.output
    assert allowed.allowed
    operator = [
        (e["event"], e["details"]["reason"])
        for e in cli.json("audit", world.account.account_id, "--oldest-first")
        if e["actor"] == "operator:tester"
    ]
    assert operator == [("mailbox.disable", "customer asked"), ("mailbox.enable", "resolved")]


@pytest.mark.parametrize(
    ("kind", "code"),
    [("account", "account_disabled"), ("domain", "domain_disabled"), ("token", "token_disabled")],
)
def test_every_kind_can_be_disabled(cli: Cli, world: World, kind: str, code: str) -> None:
    entity = {
        "account": world.account.account_id,
        "domain": "example.com",
        "token": world.directory.list_tokens(world.account.account_id)[0].token_id,
    }[kind]
    mailbox = world.directory.list_tokens(world.account.account_id)[0].mailbox

    result = cli("disable", kind, entity, "--reason", "abuse report")

    assert result.exit_code == 0, result.output
    assert world.send(["friend@outside.test"], mailbox=mailbox).code == code


def test_disabling_something_unknown_is_refused(cli: Cli) -> None:
    result = cli("disable", "mailbox", "ghost@example.com", "--reason", "x")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: mailbox ghost@example.com does not exist")


def test_a_revoked_token_cannot_be_enabled(cli: Cli, world: World) -> None:
    token = world.directory.list_tokens(world.account.account_id)[0].token_id
    cli("token", "revoke", token, "--reason", "leaked")

    result = cli("enable", "token", token, "--reason", "oops")

    assert result.exit_code == 1
    assert "revoked for good" in result.stderr


def test_suppression_add_list_remove(cli: Cli, world: World) -> None:
    # Given
    account = world.account.account_id

    # When
    added_global = cli("suppression", "add", "Bounced@Outside.test", "--reason", "hard bounce by hand")
    added_account = cli("suppression", "add", "angry@outside.test", "--account", account, "--reason", "asked")
    global_list = cli.json("suppression", "list")
    account_list = cli.json("suppression", "list", "--account", account)
    refused = world.send(["angry@outside.test"])
    removed = cli("suppression", "remove", "angry@outside.test", "--account", account, "--reason", "made up")
    allowed = world.send(["angry@outside.test"])
    missing = cli("suppression", "remove", "angry@outside.test", "--account", account, "--reason", "again")

    # Then
    assert added_global.exit_code == 0, added_global.output
    assert added_account.exit_code == 0, added_account.output
    assert [(e["address"], e["scope"], e["source"]) for e in global_list] == [
        ("bounced@outside.test", "global", "operator:tester")
    ]
    assert [e["address"] for e in account_list] == ["angry@outside.test"]
    assert refused.code == "recipient_suppressed"
    assert removed.exit_code == 0, removed.output
    assert allowed.allowed
    assert missing.exit_code == 1
    assert "not suppressed" in missing.stderr
    events = [e["event"] for e in cli.json("audit", account, "--oldest-first")]
    assert events[-2:] == ["suppression.add", "suppression.remove"] or (
        "suppression.add" in events and "suppression.remove" in events
    )
    assert [e["event"] for e in cli.json("audit", "global")] == ["suppression.add"]


def test_suppression_list_takes_one_scope(cli: Cli) -> None:
    result = cli("suppression", "list", "--global", "--account", "acc-000000000000")

    assert result.exit_code == 2


def test_usage_counts_recipients_per_mailbox_and_account(cli: Cli, world: World) -> None:
    # Given: 3 + 2 recipients from the first mailbox, 4 from the second, one refusal that reserves nothing
    first, second = (m.address for m in world.mailboxes)
    assert world.send(["a@outside.test", "b@outside.test", "c@outside.test"]).allowed
    assert world.send(["d@outside.test", "e@outside.test"]).allowed
    assert world.send([f"p{i}@outside.test" for i in range(4)], mailbox=second).allowed
    assert not world.send([f"q{i}@outside.test" for i in range(11)]).allowed

    # When
    usage = cli.json("usage", world.account.account_id)
    text = cli("usage", world.account.account_id)

    # Then
    caps = {(c["scope"], c["cap"]): (c["used"], c["limit"], c["remaining"]) for c in usage["caps"]}
    account = world.account.account_id
    assert caps == {
        (account, "account_day"): (9, 100, 91),
        (account, "account_month"): (9, 500, 491),
        (first, "mailbox_day"): (5, 100, 95),
        (second, "mailbox_day"): (4, 100, 96),
        # every recipient was new to its mailbox (the test world lifts the first-contact cap)
        (first, "first_contact"): (5, 1_000_000, 999_995),
        (second, "first_contact"): (4, 1_000_000, 999_996),
    }
    assert all(c["resets_at"].endswith("+00:00") for c in usage["caps"])
    assert text.exit_code == 0
    assert max(len(line) for line in text.stdout.splitlines()) <= 80


def test_usage_follows_operator_overrides(cli: Cli, world: World) -> None:
    cli.json(
        "account", "set-plan", world.account.account_id, "free", "--mailbox-day", "7", "--first-contacts", "3"
    )

    usage = cli.json("usage", world.account.account_id)

    limits = {c["cap"]: c["limit"] for c in usage["caps"]}
    assert limits == {"mailbox_day": 7, "account_day": 100, "account_month": 500, "first_contact": 3}


def test_audit_lists_decisions_newest_first_with_since_and_limit(cli: Cli, world: World) -> None:
    # Given: two decisions a second apart
    world.send(["a@outside.test"])
    world.clock.set(world.clock.now() + timedelta(seconds=1))
    world.send([f"q{i}@outside.test" for i in range(11)])
    account = world.account.account_id

    # When
    newest = cli.json("audit", account, "--limit", "2")
    everything = cli.json("audit", account, "--limit", "100")
    later = cli.json("audit", account, "--since", "2999-01-01")
    table = cli("audit", account)

    # Then
    assert len(newest) == 2
    assert (newest[0]["event"], newest[0]["reason_code"]) == ("policy.send", "too_many_recipients")
    decisions = [(e["outcome"], e["recipients_count"]) for e in everything if e["event"] == "policy.send"]
    assert decisions == [("deny", 11), ("allow", 1)]
    assert {"account.create", "token.create"} <= {e["event"] for e in everything}
    assert later == []
    assert table.exit_code == 0
    assert "too_many_recipients" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80


def test_audit_since_must_be_a_time(cli: Cli) -> None:
    result = cli("audit", "acc-000000000000", "--since", "last tuesday")

    assert result.exit_code == 2


def test_provider_status_when_ses_cannot_tell(cli: Cli) -> None:
    # moto does not implement SESv2 GetAccount: the status is unknown, not an error
    status = cli.json("provider", "status")
    text = cli("provider", "status")

    assert status["provider"] == "ses"
    assert status["sandboxed"] is None
    assert status["sending_enabled"] is None
    assert "GetAccount unavailable" in status["detail"]
    assert text.exit_code == 0
    assert "unknown" in text.stdout


class _FakeApi(BaseHTTPRequestHandler):
    answers: ClassVar[list[tuple[int, dict[str, Any]]]] = []
    requests: ClassVar[list[tuple[str, dict[str, str], dict[str, Any]]]] = []
    url: ClassVar[str] = ""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append((self.path, dict(self.headers), body))
        status, answer = self.answers.pop(0)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake_api(local_aws) -> Iterator[type[_FakeApi]]:
    _FakeApi.answers, _FakeApi.requests = [], []
    server = HTTPServer(("127.0.0.1", 0), _FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeApi.url = f"http://127.0.0.1:{server.server_port}"
    yield _FakeApi
    server.shutdown()
    server.server_close()


def test_send_posts_to_the_api_and_prints_id_and_status(cli: Cli, fake_api) -> None:
    # Given
    fake_api.answers.append((202, {"id": "msg-1", "status": "queued", "usage": []}))

    # When
    result = cli(
        "send", "--api-url", fake_api.url, "--token", "lmx_secret", "--from", "a@example.com",
        "--to", "b@outside.test", "--cc", "c@outside.test", "--subject", "Hi", "--text", "Hello",
        "--idempotency-key", "k-1",
    )  # fmt: skip

    # Then
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "message msg-1 queued"
    path, headers, body = fake_api.requests[0]
    assert path == "/v1/messages"
    assert headers["Authorization"] == "Bearer lmx_secret"
    assert headers["Idempotency-Key"] == "k-1"
    assert body == {
        "from": "a@example.com",
        "to": ["b@outside.test"],
        "cc": ["c@outside.test"],
        "subject": "Hi",
        "text": "Hello",
    }


def test_send_refused_prints_code_and_exits_non_zero(cli: Cli, fake_api) -> None:
    refusal = {"error": {"code": "quota_exceeded.mailbox_day", "message": "resets at 00:00 UTC"}}
    fake_api.answers += [(429, refusal), (429, refusal)]
    args = ["send", "--api-url", fake_api.url, "--token", "t", "--from", "a@example.com", "--to", "b@x.test"]

    text = cli(*args)
    as_json = cli(*args, "--json")

    assert text.exit_code == 1
    assert text.stderr.strip() == "error: refused (429 quota_exceeded.mailbox_day): resets at 00:00 UTC"
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout) == {"http_status": 429, **refusal}


def test_send_to_an_unreachable_api_fails_cleanly(cli: Cli) -> None:
    # The target's API URL points at a port where nothing listens
    result = cli("send", "--token", "t", "--from", "a@example.com", "--to", "b@outside.test", "--text", "x")

    assert result.exit_code == 3
    assert result.stderr.startswith(f"error: cannot reach the API at {cli.target.api_url}/v1/messages")
    assert "Traceback" not in result.output


def test_without_a_running_local_system_commands_say_how_to_start_it(litemx_home) -> None:
    result = Cli(target=None)("account", "list")  # type: ignore[arg-type]

    assert result.exit_code == 3
    assert "litemx local up" in result.stderr


def test_help_needs_no_target(litemx_home) -> None:
    result = Cli(target=None)("--help")  # type: ignore[arg-type]

    assert result.exit_code == 0
    assert "suppression" in result.stdout


def test_the_console_script_reports_in_one_line(tmp_path) -> None:
    # Given: the installed `litemx` script, with no local system running
    script = Path(sys.executable).with_name("litemx")
    env = {**os.environ, "LITEMX_HOME": str(tmp_path), "USER": "tester"}

    # When
    missing = subprocess.run([script, "usage", "acc-000000000000"], capture_output=True, text=True, env=env)
    usage_error = subprocess.run([script, "disable", "planet", "x"], capture_output=True, text=True, env=env)

    # Then
    assert missing.returncode == 3
    assert missing.stderr.splitlines() == [
        "error: LiteMX is not running locally: start it with `litemx local up`, or pass --stack NAME"
    ]
    assert missing.stdout == ""
    assert usage_error.returncode == 2
