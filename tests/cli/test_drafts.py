"""`litemx draft list|show|approve|discard`: a person reviews and approves what an agent drafted."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from litemx.clock import FixedClock
from litemx.directory import admin
from litemx.directory.models import Scope
from litemx.drafts.logic import create_draft
from litemx.drafts.models import StoredDraft
from litemx.drafts.store import DynamoDraftStore
from litemx.mail.compose import Draft
from litemx.plans import Plan
from litemx.storage.tables import UsageCounter
from litemx_cli.target import write_local_state
from litemx_local.world import World, build_world
from tests.cli.conftest import Cli

pytestmark = pytest.mark.integration
BOX = "box0@example.com"


@pytest.fixture
def sending(cli: Cli) -> Any:
    """An outbound bucket and a send queue on moto, named by the target as `litemx local up` does."""
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    s3.create_bucket(Bucket="litemx-outbound-cli")
    url = sqs.create_queue(QueueName=f"{cli.target.tables.messages}-send")["QueueUrl"]
    cli.target = replace(cli.target, buckets={"outbound": "litemx-outbound-cli"}, queues={"send": url})
    write_local_state(cli.target)
    return sqs, url


@pytest.fixture
def world(cli: Cli) -> World:
    return build_world(cli.target.tables, plan=Plan.FREE, clock=FixedClock(datetime.now(UTC)))


def drafted(world: World, *to: str, text: str = "Hello.") -> StoredDraft:
    """A draft written by a `draft` token of box0 (as POST /v1/drafts writes it)."""
    box, scopes = world.mailboxes[0], frozenset({Scope.DRAFT})
    issued = admin.issue_token(
        world.directory, world.audit, world.clock, mailbox=box, scopes=scopes, actor="op"
    )
    return create_draft(
        DynamoDraftStore(),
        account_id=world.account.account_id,
        mailbox=BOX,
        token_id=issued.token.token_id,
        content=Draft(from_address=BOX, to=to, subject="Hi", text=text),
        now=world.clock.now(),
    )


def queued(sending: Any) -> int:
    sqs, url = sending
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def used() -> dict[str, int]:
    return {str(c.key): int(c.used) for c in UsageCounter.scan()}


def test_list_shows_the_verdict_and_approve_sends_once_audited_with_the_operator(cli, world, sending):
    # Given an agent's draft
    draft = drafted(world, "friend@outside.test")
    # When the operator lists it
    before = used()
    listed = cli.json("draft", "list", "--mailbox", BOX)
    # Then it shows the dry-run verdict, and listing counted nothing
    assert [(d["id"], d["verdict"]["summary"]) for d in listed] == [(draft.draft_id, "would_send")]
    assert used() == before
    # When the operator approves it, twice
    first = cli.json("draft", "approve", draft.draft_id)
    again = cli.json("draft", "approve", draft.draft_id)
    # Then it is queued once, with the draft's message id
    assert first == {
        "draft": draft.draft_id, "sent": True, "already_sent": False, "message_id": draft.message_id,
        "refusal": None,
    }  # fmt: skip
    assert again["already_sent"] is True
    assert again["message_id"] == draft.message_id
    assert queued(sending) == 1
    assert sum(used().values()) > sum(before.values())
    # And the decision and the approvals are audited with the operator
    entries = cli.json("audit", world.account.account_id, "--oldest-first")
    decision = next(e for e in entries if e["event"] == "policy.send" and e["outcome"] == "allow")
    assert decision["actor"] == "operator:tester"
    approvals = [e for e in entries if e["event"] == "draft.approve"]
    assert [(e["actor"], e["details"]["sent"]) for e in approvals] == [("operator:tester", "true")] * 2
    shown = cli.json("draft", "show", draft.draft_id)
    assert (shown["status"], shown["approved_by"], shown["verdict"]) == ("sent", "operator:tester", None)


def test_a_refused_approval_keeps_the_draft_with_the_reason(cli, world, sending):
    # Given a draft to a suppressed address
    draft = drafted(world, "gone@outside.test")
    assert cli("suppression", "add", "gone@outside.test", "--reason", "hard bounce").exit_code == 0
    assert cli.json("draft", "show", draft.draft_id)["verdict"]["summary"] == (
        "would be refused: recipient_suppressed"
    )
    # When the operator approves it
    refused = cli("draft", "approve", draft.draft_id)
    # Then nothing is sent, and the draft stays pending with the code and sentence
    assert refused.exit_code == 1, refused.output
    assert "recipient_suppressed" in refused.stdout
    shown = cli.json("draft", "show", draft.draft_id)
    assert shown["status"] == "pending"
    assert shown["last_refusal"]["code"] == "recipient_suppressed"
    assert "suppressed" in shown["last_refusal"]["message"]
    assert shown["last_refusal"]["by"] == "operator:tester"
    assert queued(sending) == 0


def test_an_approval_needs_the_drafting_token_still_live(cli, world, sending):
    draft = drafted(world, "friend@outside.test")
    assert cli("disable", "token", draft.token_id, "--reason", "agent misbehaved").exit_code == 0
    refused = cli("draft", "approve", draft.draft_id, "--json")
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["refusal"]["code"] == "token_disabled"
    assert queued(sending) == 0  # the kill switch of the agent's token stops its drafts too


def test_discard_and_unknown_drafts(cli, world, sending):
    draft = drafted(world, "friend@outside.test")
    assert cli("draft", "discard", draft.draft_id, "--reason", "not needed").exit_code == 0
    missing = cli("draft", "show", draft.draft_id)
    assert missing.exit_code == 1
    assert "draft_not_found" in missing.stderr
    assert cli.json("draft", "list", "--account", world.account.account_id) == []
    events = [e["event"] for e in cli.json("audit", world.account.account_id)]
    assert "draft.discard" in events


def test_a_draft_token_cannot_hold_a_send_scope(cli, world):
    refused = cli("token", "create", "--mailbox", BOX, "--scope", "draft", "--scope", "send:reply")
    assert refused.exit_code == 1
    assert "draft scope stands alone" in refused.stderr
