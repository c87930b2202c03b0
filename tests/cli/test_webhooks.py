"""`litemx webhook add|list|remove|deliveries` against the local AWS."""

from __future__ import annotations

import pytest

from litemx.webhooks.models import Delivery, DeliveryStatus
from litemx.webhooks.store import WebhookStore
from litemx_local.testclock import anchored_now
from tests.cli.conftest import Cli
from tests.cli.test_directory import make_account, make_mailbox

pytestmark = pytest.mark.integration


def test_add_shows_the_secret_once_list_never_and_remove_is_audited(cli: Cli) -> None:
    # Given a mailbox
    account = make_account(cli)
    box = make_mailbox(cli, account)
    # When a webhook is added (local mode: http://127.0.0.1 is allowed)
    added = cli.json("webhook", "add", "--mailbox", box, "--url", "http://127.0.0.1:9/hook", "--timeout", "3")
    # Then its secret is shown once, in the Standard Webhooks format
    assert added["secret"].startswith("whsec_")
    assert added["timeout_seconds"] == 3
    assert added["include_spam"] is False
    listed = cli.json("webhook", "list", "--mailbox", box)
    assert [w["id"] for w in listed] == [added["id"]]
    assert "secret" not in listed[0]
    assert "whsec_" not in cli("webhook", "list", "--mailbox", box).output
    # And removing it is audited with the operator
    assert cli("webhook", "remove", added["id"], "--mailbox", box).exit_code == 0
    assert cli.json("webhook", "list", "--mailbox", box) == []
    events = [e["event"] for e in cli.json("audit", account)]
    assert "webhook.add" in events
    assert "webhook.remove" in events


def test_refused_urls_exit_non_zero_with_the_code(cli: Cli) -> None:
    box = make_mailbox(cli, make_account(cli))
    for url, code in (
        ("http://hooks.example.com/x", "webhook_url_invalid"),
        ("https://10.1.2.3/x", "webhook_destination_refused"),
    ):
        result = cli("webhook", "add", "--mailbox", box, "--url", url)
        assert result.exit_code != 0
        assert code in result.output


def test_deliveries_show_status_attempts_last_error_and_what_is_in_the_dlq(cli: Cli) -> None:
    box = make_mailbox(cli, make_account(cli))
    added = cli.json("webhook", "add", "--mailbox", box, "--url", "http://127.0.0.1:9/hook")
    cli.target.activate()
    WebhookStore().record(
        Delivery(
            webhook_id="msg_abc",
            subscription_id=added["id"],
            mailbox=box,
            message_id="20261124T095959123000Z.ses1",
            status=DeliveryStatus.DEAD,
            attempts=17,
            last_error="HTTP 500 (24 h of retries)",
        ),
        now=anchored_now(),
    )
    (shown,) = cli.json("webhook", "deliveries", "--mailbox", box)
    assert shown["status"] == "dead"
    assert shown["in_dlq"] is True
    assert shown["attempts"] == 17
    assert "24 h" in shown["last_error"]
    assert "in DLQ" in cli("webhook", "deliveries", "--mailbox", box).output
