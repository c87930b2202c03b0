"""`litemx local up` as an operator runs it: a separate process with real ports, driven by the `litemx`
CLI (its --json output and exit codes), an outside sender over SMTP, Ctrl-C, and nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import pytest

from litemx_cli.target import Target
from litemx_local.aws import free_port
from litemx_local.demo import ses_event
from litemx_local.webhook_receiver import Receiver

# `litemx local up` is a subprocess on the real clock: the time-shifted runs skip it (Makefile).
pytestmark = [pytest.mark.integration, pytest.mark.realtime]
LITEMX = str(Path(sys.executable).with_name("litemx"))
BOTO_ENV = {
    "endpoint_url": "AWS_ENDPOINT_URL",
    "region_name": "AWS_REGION",
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
}


def _processes_mentioning(*needles: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(needle in text for needle in needles):
            found.append(text)
    return found


class Operator:
    """Runs `litemx` as a separate process, as a person at a shell would."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [LITEMX, *args], env=self.env, capture_output=True, text=True, timeout=60, check=False
        )

    def json(self, *args: str) -> Any:
        done = self.run(*args, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)


@pytest.fixture
def system(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Target, Operator]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "TABLE_"))}
    env |= {"LITEMX_HOME": str(tmp_path), "USER": "tester"}
    api_port, smtp_port = free_port(), free_port()
    process = subprocess.Popen(
        [LITEMX, "local", "up", "--api-port", str(api_port), "--smtp-port", str(smtp_port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    state = tmp_path / "local.json"
    # A bound on the wait, not a timing assertion: `make test` runs five lanes on two cores, and this
    # start (a JVM, moto, nine tables) has taken over 60 s on a loaded machine.
    deadline = time.monotonic() + 240
    while not state.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    if not state.exists():
        process.kill()
        pytest.fail(f"`litemx local up` wrote no state file within 240 s: {process.communicate()[0]!r}")
    yield process, Target.from_json(state.read_text()), Operator(env)
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An agent's webhook receiver on 127.0.0.1 (what local mode allows), verifying signatures."""
    with Receiver(now=lambda: datetime.now(UTC)) as found:
        yield found


def _get(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _wait_for(probe: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(0.3)
    return probe()


def test_local_up_runs_the_whole_system_and_stops_cleanly(system, receiver, tmp_path: Path) -> None:
    process, target, operator = system

    # Given an operator who sets up an account, a verified domain, a mailbox and a token with the CLI
    account = operator.json("account", "create", "Acme", "--plan", "free")["account_id"]
    assert operator.run("domain", "add", "acme.test", "--account", account).returncode == 0
    assert operator.json("domain", "status", "acme.test")["verification"] == "verified"
    operator.json("mailbox", "create", "support@acme.test", "--account", account)
    token = operator.json(
        "token", "create", "--mailbox", "support@acme.test", "--scope", "send", "--scope", "read"
    )
    secret = token["secret"]
    # And a webhook on the mailbox, for the agent's receiver
    hook = operator.json("webhook", "add", "--mailbox", "support@acme.test", "--url", receiver.url)
    receiver.secret = hook["secret"]

    # When an outside sender mails the mailbox over the system's SMTP port
    host, port = (target.smtp or "").split(":")
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "alice@customer.test", "support@acme.test", "Hello"
    mail.set_content("Is anyone there?")
    with smtplib.SMTP(host, int(port), timeout=10) as smtp:
        assert smtp.send_message(mail) == {}

    # And the mailbox replies through the system's HTTP port with `litemx send`
    sent = operator.json(
        "send",
        "--token",
        secret,
        "--from",
        "support@acme.test",
        "--to",
        "alice@customer.test",
        "--subject",
        "Re: Hello",
        "--text",
        "Yes!",
    )
    refused = operator.run(
        "send",
        "--token",
        secret,
        "--from",
        "support@acme.test",
        "--to",
        "a@b.test",
        "--text",
        "x",
        "--subject",
        "x",
    )
    # And the inbound message is listed by the read API on the system's HTTP port, the address in the path
    # written plainly or percent-encoded (API Gateway delivers both decoded)
    listed = _wait_for(
        lambda: _get(f"{target.api_url}/v1/mailboxes/support@acme.test/messages", secret)["messages"]
    )
    assert [(m["from"], m["subject"]) for m in listed] == [("alice@customer.test", "Hello")]
    encoded = _get(f"{target.api_url}/v1/mailboxes/support%40acme.test/messages", secret)["messages"]
    assert [m["id"] for m in encoded] == [m["id"] for m in listed]
    # And the receiver was told, signed, by the delivery function the inbound function invoked
    (announced,) = _wait_for(lambda: receiver.requests)
    assert announced.valid
    assert json.loads(announced.body)["data"]["message_id"] == listed[0]["id"]
    (delivery,) = operator.json("webhook", "deliveries", "--mailbox", "support@acme.test")
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 1)
    # The webhooks have a DLQ and no work queue for anything to poll
    queues = {q["queue"] for q in operator.json("queue", "status")["queues"]}
    assert "webhooks_dlq" in queues
    assert "webhooks" not in queues
    # Nor has feedback: SNS pushes to its function; only its DLQ is listed
    assert "feedback_dlq" in queues
    assert "feedback" not in queues
    # And SES's bounce of the reply, published to the system's feedback topic, reaches the feedback handler
    # as SNS's push would (no queue: litemx_local.system.SnsPush), and suppresses the recipient
    reply = _wait_for(
        lambda: (m := _get(f"{target.api_url}/v1/messages/{sent['id']}", secret))["status"] == "sent" and m
    )
    sns = boto3.client("sns", **{k: target.env[v] for k, v in BOTO_ENV.items()})
    (topic,) = [t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith("-feedback")]
    bounce = ses_event(
        "Bounce", reply, account, "support@acme.test", "alice@customer.test", target.configuration_set or ""
    )
    sns.publish(TopicArn=topic, Message=bounce)

    def suppressed() -> list[str]:
        entries = operator.json("suppression", "list")
        return [e["reason"] for e in entries if e["address"] == "alice@customer.test"]

    reasons = _wait_for(suppressed)
    assert reasons, "the bounce never reached the feedback handler"
    assert "General" in reasons[0]
    operator.run("disable", "mailbox", "support@acme.test", "--reason", "test")
    after_disable = operator.run(
        "send",
        "--token",
        secret,
        "--from",
        "support@acme.test",
        "--to",
        "alice@customer.test",
        "--text",
        "again",
    )

    # Then a disabled mailbox's token reads nothing either (docs/policy.md, "Disablement")
    with pytest.raises(urllib.error.HTTPError) as refused_read:
        _get(f"{target.api_url}/v1/mailboxes/support@acme.test/messages", secret)
    assert refused_read.value.code == 403
    assert json.load(refused_read.value)["error"]["code"] == "mailbox_disabled"

    # And the reply was queued and delivered by the system's own sender, and refusals exit non-zero
    assert sent["status"] == "queued"
    audit = _wait_for(lambda: [e for e in operator.json("audit", account) if e["event"] == "message.sent"])
    assert audit, operator.json("audit", account)
    assert refused.returncode == 0  # a first contact within the Free plan's 10 is allowed
    assert after_disable.returncode == 1
    assert "mailbox_disabled" in after_disable.stdout + after_disable.stderr
    usage = operator.json("usage", account)
    assert {(c["scope"], c["cap"]): c["used"] for c in usage["caps"]}[
        ("support@acme.test", "mailbox_day")
    ] == 2

    # When the operator presses Ctrl-C
    dynamodb_port = target.env["AWS_ENDPOINT_URL_DYNAMODB"].rpartition(":")[2]
    moto_port = target.env["AWS_ENDPOINT_URL"].rpartition(":")[2]
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)

    # Then it exits cleanly, forgets its state, and leaves no server behind
    assert process.returncode == 0, output
    assert target.api_url in output
    assert target.smtp in output
    assert not (tmp_path / "local.json").exists()
    assert _processes_mentioning(f"-port {dynamodb_port}", f"-p {moto_port}") == []
    gone = operator.run("account", "list")
    assert gone.returncode == 3  # the target is unreachable once the system is down
