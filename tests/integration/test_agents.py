"""Agents on the local AWS (docs/agents.md): replies and drafts through the real api handler, mail
received through the real inbound handler, decisions by the real policy store on DynamoDB Local."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from functions.api import agent_routes, mailbox_routes
from litemx.directory import admin
from litemx.directory.models import Scope
from litemx.drafts.store import DynamoDraftStore
from litemx.inbound.models import id_time
from litemx.storage.tables import AuditEntry, TableNames, UsageCounter
from litemx_local.testclock import anchored_now
from tests.apigw import HttpAnswer
from tests.events.mailroom import Mailroom, mailroom
from tests.integration.outbound import Pipeline, make_pipeline

pytestmark = pytest.mark.integration
BOX = "box0@example.com"


def raw_mail(headers: str, body: str = "Can you answer this?\r\nThanks.\r\n") -> bytes:
    return (headers.strip().replace("\n", "\r\n") + "\r\n\r\n" + body).encode()


QUESTION = raw_mail(
    """
From: Sam Stranger <sam@far.test>
To: Box Zero <box0@example.com>, dana@elsewhere.test
Cc: Eve <eve@third.test>, box0+copy@example.com
Subject: RE: Aw: Re: Your offer
Message-ID: <question-1@far.test>
References: <root@far.test> <middle@far.test>
Date: Tue, 24 Nov 2026 09:58:00 +0000
"""
)


@dataclass
class Agents:
    pipeline: Pipeline
    room: Mailroom
    tokens: dict[str, str]

    def api(self, method: str, path: str, scope: str, body: Any = None) -> HttpAnswer:
        return self.pipeline.api(method, path, body=body, token=self.tokens[scope])

    def receive(self, raw: bytes = QUESTION, folder: str = "inbox", **event: Any) -> str:
        """The read API id of the received message."""
        ses_id = self.room.receive(raw, [BOX], **event)
        listed = self.pipeline.api(
            "GET", f"/v1/mailboxes/{BOX}/messages", token=self.tokens["read"], query={"folder": folder}
        ).body["messages"]
        return str(next(m["id"] for m in listed if m["id"].endswith(ses_id)))

    def sent(self) -> list[email.message.EmailMessage]:
        """The messages the sender handed to (moto's) SES, parsed."""
        batch = self.pipeline.receive()
        if batch:
            self.pipeline.run_sender(batch)
        return [
            email.message_from_string(m["raw_data"], policy=email.policy.default)
            for m in self.pipeline.sent_raw()
        ]


@pytest.fixture
def agents(tables: TableNames, local_aws, monkeypatch) -> Iterator[Agents]:
    with mailroom(tables, monkeypatch, POWERTOOLS_SERVICE_NAME="litemx-api") as room:
        pipeline = make_pipeline(tables, local_aws, monkeypatch)
        mailbox_routes.runtime.cache_clear()
        agent_routes._drafts.cache_clear()
        world = pipeline.world
        box = world.mailboxes[0]
        tokens = {"send": world.secrets[BOX]}
        for scope in (Scope.READ, Scope.SEND_REPLY, Scope.DRAFT):
            issued = admin.issue_token(
                world.directory,
                world.audit,
                world.clock,
                mailbox=box,
                scopes=frozenset({scope}),
                actor="operator",
            )
            tokens[scope.value] = issued.secret
        yield Agents(pipeline, room, tokens)
        mailbox_routes.runtime.cache_clear()
        agent_routes._drafts.cache_clear()


def counters() -> dict[str, int]:
    return {str(c.key): int(c.used) for c in UsageCounter.scan()}


def audit_entries() -> int:
    return sum(1 for _ in AuditEntry.scan())


# ---- the reply endpoint ----


def test_a_reply_only_token_answers_a_stranger_threaded_and_quoted(agents):
    # Given a stranger's message received clean, and a send:reply token
    message_id = agents.receive()
    # When the agent replies through the reply endpoint, quoting it
    answer = agents.api(
        "POST",
        f"/v1/mailboxes/{BOX}/messages/{message_id}/reply",
        "send:reply",
        {"text": "Yes.", "quote": True},
    )
    # Then it is queued, and leaves to the stranger, threaded, with one Re: and the quote
    assert answer.status == 202, answer.body
    [sent] = agents.sent()
    assert sent["To"] == "sam@far.test"
    assert sent["Cc"] is None
    assert sent["Subject"] == "Re: Your offer"
    assert sent["In-Reply-To"] == "<question-1@far.test>"
    assert sent["References"].split() == ["<root@far.test>", "<middle@far.test>", "<question-1@far.test>"]
    body = sent.get_body(("plain",)).get_content()
    assert body.startswith("Yes.")
    assert "> Can you answer this?" in body


def test_a_retried_reply_with_an_idempotency_key_leaves_once(agents):
    # Given a received message, and an agent that retries its reply (a timeout) under one key
    message_id = agents.receive()
    path = f"/v1/mailboxes/{BOX}/messages/{message_id}/reply"
    token, body = agents.tokens["send:reply"], {"text": "Yes."}
    headers = {"Idempotency-Key": "reply-1"}
    first = agents.pipeline.api("POST", path, body=body, token=token, headers=headers)
    # When it sends the same reply again, then another body, then the same key for another message
    again = agents.pipeline.api("POST", path, body=body, token=token, headers=headers)
    changed = agents.pipeline.api("POST", path, body={"text": "No."}, token=token, headers=headers)
    other = agents.receive(QUESTION.replace(b"question-1@far.test", b"question-2@far.test"))
    elsewhere = agents.pipeline.api(
        "POST", f"/v1/mailboxes/{BOX}/messages/{other}/reply", body=body, token=token, headers=headers
    )
    # Then the retry answers the first answer and one reply leaves; anything else under the key is a 409
    assert first.status == 202, first.body
    assert (again.status, again.body) == (202, first.body)
    assert changed.status == elsewhere.status == 409
    assert changed.body["error"]["code"] == elsewhere.body["error"]["code"] == "idempotency_key_reused"
    assert len(agents.sent()) == 1


def test_reply_all_copies_the_participants_but_never_the_mailbox_itself(agents):
    message_id = agents.receive()
    answer = agents.api(
        "POST",
        f"/v1/mailboxes/{BOX}/messages/{message_id}/reply",
        "send:reply",
        {"text": "To all of you.", "reply_all": True},
    )
    assert answer.status == 202, answer.body
    [sent] = agents.sent()
    assert sent["To"] == "sam@far.test"
    # Dana (To) and Eve (Cc) never wrote to the mailbox; they took part in the message it answers
    assert sent["Cc"].split(", ") == ["dana@elsewhere.test", "eve@third.test"]


def test_reply_all_with_an_excluded_participant_leaves_them_out(agents):
    message_id = agents.receive()
    body = {"text": "Hi.", "reply_all": True, "exclude": ["Eve@Third.test"]}
    answer = agents.api("POST", f"/v1/mailboxes/{BOX}/messages/{message_id}/reply", "send:reply", body)
    assert answer.status == 202, answer.body
    [sent] = agents.sent()
    assert sent["Cc"] == "dana@elsewhere.test"


def test_a_reply_only_token_cannot_reply_to_a_message_received_without_a_reply_right(agents):
    # Given a message that failed DMARC (spam folder): its From is not proven, it gives no reply right
    message_id = agents.receive(folder="spam", dmarc="FAIL", spam="FAIL")
    answer = agents.api(
        "POST",
        f"/v1/mailboxes/{BOX}/messages/{message_id}/reply",
        "send:reply",
        {"text": "Hi.", "reply_all": True},
    )
    # Then the same reply-only rule as any send refuses it
    assert answer.status == 403
    assert answer.body["error"]["code"] == "not_a_reply"


def test_reply_refusals_are_the_send_paths(agents):
    message_id = agents.receive()
    path = f"/v1/mailboxes/{BOX}/messages/{message_id}/reply"
    # A draft or read token has no send scope
    for scope in ("draft", "read"):
        answer = agents.api("POST", path, scope, {"text": "Hi."})
        assert (answer.status, answer.body["error"]["code"]) == (403, "scope_denied")
    # Another mailbox's messages, or an unknown message
    other = agents.api(
        "POST", f"/v1/mailboxes/box1@example.com/messages/{message_id}/reply", "send", {"text": "x"}
    )
    assert (other.status, other.body["error"]["code"]) == (403, "token_mailbox_mismatch")
    unknown = f"{id_time(anchored_now())}.nosuchmessage"
    missing = agents.api("POST", f"/v1/mailboxes/{BOX}/messages/{unknown}/reply", "send", {"text": "x"})
    assert (missing.status, missing.body["error"]["code"]) == (404, "message_not_found")
    # No body at all
    empty = agents.api("POST", path, "send", {})
    assert (empty.status, empty.body["error"]["code"]) == (400, "body_missing")


# ---- drafts and approval ----


def draft_reply(agents: Agents, message_id: str, **reply: Any) -> dict[str, Any]:
    answer = agents.api(
        "POST", "/v1/drafts", "draft", {"text": "Draft answer.", "reply": {"message_id": message_id, **reply}}
    )
    assert answer.status == 201, answer.body
    return dict(answer.body)


def test_a_draft_token_drafts_a_reply_the_list_shows_the_verdict_and_an_approval_sends_it_once(agents):
    # Given a received message, and a draft token's reply draft
    message_id = agents.receive()
    draft = draft_reply(agents, message_id, reply_all=True)
    assert draft["to"] == ["sam@far.test"]
    assert draft["cc"] == ["dana@elsewhere.test", "eve@third.test"]
    assert draft["subject"] == "Re: Your offer"
    assert draft["verdict"]["summary"] == "would_send"
    # When the list is read, nothing is counted
    before = counters()
    listed = agents.api("GET", "/v1/drafts", "draft").body["drafts"]
    assert [(d["id"], d["verdict"]["summary"]) for d in listed] == [(draft["id"], "would_send")]
    assert counters() == before
    # And the draft token can never send it
    refused = agents.api("POST", f"/v1/drafts/{draft['id']}/send", "draft")
    assert (refused.status, refused.body["error"]["code"]) == (403, "scope_denied")
    refused = agents.api("POST", "/v1/messages", "draft", {"from": BOX, "to": ["sam@far.test"], "text": "x"})
    assert (refused.status, refused.body["error"]["code"]) == (403, "scope_denied")
    # Then a send:reply token approves it: queued once; approving again sends nothing more
    first = agents.api("POST", f"/v1/drafts/{draft['id']}/send", "send:reply")
    assert first.status == 202, first.body
    again = agents.api("POST", f"/v1/drafts/{draft['id']}/send", "send:reply")
    assert again.status == 200
    assert again.body["id"] == first.body["id"] == draft["message_id"]
    assert again.body["already_sent"] is True
    [sent] = agents.sent()
    assert sent["In-Reply-To"] == "<question-1@far.test>"
    shown = agents.api("GET", f"/v1/drafts/{draft['id']}", "draft").body
    assert shown["status"] == "sent"
    assert shown["approved_by"].startswith("token:")
    # And a sent draft no longer changes
    changed = agents.api("PUT", f"/v1/drafts/{draft['id']}", "draft", {"to": ["x@far.test"], "text": "y"})
    assert (changed.status, changed.body["error"]["code"]) == (409, "draft_not_pending")


def test_a_refused_approval_keeps_the_draft_and_its_reason(agents):
    # Given a new-message draft to a stranger (not a reply)
    created = agents.api(
        "POST", "/v1/drafts", "draft", {"to": ["stranger@far.test"], "subject": "Hi", "text": "x"}
    )
    assert created.status == 201, created.body
    draft_id = created.body["id"]
    # When a reply-only token approves it
    refused = agents.api("POST", f"/v1/drafts/{draft_id}/send", "send:reply")
    # Then it is refused with the policy's code, and the draft stays pending with the reason
    assert (refused.status, refused.body["error"]["code"]) == (403, "not_a_reply")
    shown = agents.api("GET", f"/v1/drafts/{draft_id}", "draft").body
    assert shown["status"] == "pending"
    assert shown["last_refusal"]["code"] == "not_a_reply"
    assert agents.sent() == []
    # And a send token may approve it then
    assert agents.api("POST", f"/v1/drafts/{draft_id}/send", "send").status == 202
    assert len(agents.sent()) == 1


def test_the_dry_run_shows_a_first_contact_refusal_and_moves_no_counter(agents, tables):
    # Given the account's first-contact cap lowered to 1, and one new person written to already
    from litemx.policy.overrides import set_first_contact_limit
    from litemx.policy.store import AccountPolicyStore

    world = agents.pipeline.world
    set_first_contact_limit(
        AccountPolicyStore(), world.audit, world.clock, account_id=world.account.account_id, limit=1,
        actor="operator", reason="test",
    )  # fmt: skip
    assert agents.pipeline.send({"to": ["first@far.test"], "text": "x"}).status == 202
    created = agents.api("POST", "/v1/drafts", "draft", {"to": ["second@far.test"], "text": "x"}).body
    # When the drafts are listed (twice)
    before, audited = counters(), audit_entries()
    for _ in range(2):
        [listed] = agents.api("GET", "/v1/drafts", "draft").body["drafts"]
        assert listed["verdict"]["summary"] == "would be refused: first_contact_limit"
    # Then no counter moved, and no audit entry was written for the previews
    assert counters() == before
    assert audit_entries() == audited
    assert created["verdict"]["code"] == "first_contact_limit"


def test_draft_crud_and_scopes(agents):
    created = agents.api("POST", "/v1/drafts", "draft", {"to": ["a@far.test"], "text": "x"}).body
    path = f"/v1/drafts/{created['id']}"
    assert agents.api("PUT", path, "draft", {"to": ["b@far.test"], "text": "y"}).body["to"] == ["b@far.test"]
    # Readers with a send scope may look; only the draft token writes; a read token has no business here
    assert agents.api("GET", path, "send").status == 200
    assert agents.api("POST", "/v1/drafts", "send", {"to": ["a@far.test"], "text": "x"}).status == 403
    assert agents.api("GET", "/v1/drafts", "read").status == 403
    assert agents.api("DELETE", path, "draft").status == 204
    gone = agents.api("GET", path, "draft")
    assert (gone.status, gone.body["error"]["code"]) == (404, "draft_not_found")
    # A reply draft names no recipients itself
    bad = agents.api("POST", "/v1/drafts", "draft", {"to": ["a@far.test"], "reply": {"message_id": "x"}})
    assert bad.status == 400


def test_a_draft_store_lists_newest_first(agents):
    ids = [
        agents.api("POST", "/v1/drafts", "draft", {"to": ["a@far.test"], "text": str(i)}).body["id"]
        for i in range(3)
    ]
    listed = [d.draft_id for d in DynamoDraftStore().list(agents.pipeline.world.account.account_id, BOX)]
    assert listed == list(reversed(ids))
