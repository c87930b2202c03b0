"""The read API on the local AWS: mail received through the real inbound handler, read back through the
real api handler (API Gateway HTTP API v2 events) with `read` tokens."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from litemx.directory import admin
from litemx.directory.models import Scope
from litemx.storage.tables import TableNames
from litemx_local.world import World, build_world
from tests.apigw import HttpAnswer, call, http_event
from tests.events import mime
from tests.events.mailroom import Mailroom, mailroom

pytestmark = pytest.mark.integration
BOX, OTHER = "box0@example.com", "box1@example.com"


class Reader:
    def __init__(self, world: World, room: Mailroom) -> None:
        self.world, self.room = world, room
        self.tokens = {
            box.address: admin.issue_token(
                world.directory,
                world.audit,
                world.clock,
                mailbox=box,
                scopes=frozenset({Scope.READ}),
                actor="operator",
            ).secret
            for box in world.mailboxes
        }

    def get(self, path: str, *, token: str | None = None, **query: str) -> HttpAnswer:
        from functions.api import handler

        return call(handler.handler, http_event("GET", path, token=token, query=query or None))

    def messages(self, box: str = BOX, **query: str) -> HttpAnswer:
        return self.get(f"/v1/mailboxes/{box}/messages", token=self.tokens[box], **query)

    def message(self, message_id: str, box: str = BOX) -> HttpAnswer:
        return self.get(f"/v1/mailboxes/{box}/messages/{message_id}", token=self.tokens[box])


@pytest.fixture
def reader(tables: TableNames, monkeypatch) -> Iterator[Reader]:
    extra = {"POWERTOOLS_SERVICE_NAME": "litemx-api"}
    with mailroom(tables, monkeypatch, **extra) as room:
        from functions.api import handler, mailbox_routes

        if mailbox_routes.router.api_resolver is not handler.app:
            handler.app.include_router(mailbox_routes.router)  # what the api handler does in production
        mailbox_routes.runtime.cache_clear()
        handler._directory.cache_clear()
        yield Reader(build_world(tables, mailboxes=2), room)
        mailbox_routes.runtime.cache_clear()
        handler._directory.cache_clear()


def ids(answer: HttpAnswer) -> list[str]:
    return [m["subject"] for m in answer.body["messages"]]


def test_messages_are_listed_newest_first_with_cursor_pagination(reader):
    # Given five messages received a minute apart
    for minute in range(5):
        raw = mime("no-message-id").replace(b"No Message-ID here", f"Message {minute}".encode())
        at = reader.world.clock.now() - timedelta(minutes=5 - minute)
        reader.room.receive(raw, [BOX], timestamp=at)
    # When they are listed two at a time
    pages, cursor = [], None
    while True:
        answer = reader.messages(limit="2", **({"cursor": cursor} if cursor else {}))
        assert answer.status == 200, answer.body
        pages.append(ids(answer))
        cursor = answer.body["next_cursor"]
        if cursor is None:
            break
    # Then every message appears once, newest first
    listed = [subject for page in pages for subject in page]
    assert listed == [f"Message {m}" for m in (4, 3, 2, 1, 0)]
    assert all(len(page) <= 2 for page in pages)


def test_the_spam_folder_is_separate_and_viruses_are_never_listed(reader):
    reader.room.receive(mime("multipart-alternative"), [BOX])
    reader.room.receive(mime("latin1"), [BOX], spam="FAIL")
    reader.room.receive(mime("attachment"), [BOX], virus="FAIL")
    assert ids(reader.messages()) == ["Lunch on Thursday?"]
    assert ids(reader.messages(folder="spam")) == ["Résumé et café"]
    assert reader.messages(folder="quarantine").status == 400


def test_a_summary_has_the_index_fields(reader):
    reader.room.receive(mime("multipart-alternative"), ["box0+news@example.com"], spf="FAIL")
    (summary,) = reader.messages().body["messages"]
    assert summary["from"] == "Alice Example <Alice@Sender.test>"
    assert summary["from_address"] == "alice@sender.test"
    assert summary["to"] == ["box0+news@example.com"]
    assert summary["cc"] == ["carol@elsewhere.test"]
    assert summary["message_id"] == "lunch-1@sender.test"
    assert summary["verdicts"]["spf"] == "FAIL"
    assert summary["folder"] == "inbox"


def test_a_message_in_full_with_parts_attachments_and_a_working_raw_url(reader):
    # Given a received message with an attachment
    raw = mime("attachment")
    reader.room.receive(raw, [BOX])
    (summary,) = reader.messages().body["messages"]
    # When it is read
    answer = reader.message(summary["id"])
    # Then its parts, attachments and headers are there
    assert answer.status == 200, answer.body
    detail: dict[str, Any] = answer.body
    assert detail["text"] == ["Invoice attached."]
    assert detail["attachments"] == [
        {"filename": "invoice.pdf", "content_type": "application/pdf", "size": 2057}
    ]
    assert {"name": "Subject", "value": "The invoice"} in detail["headers"]
    assert detail["parts_omitted"] is False
    # And the presigned URL serves the raw message byte for byte
    with urllib.request.urlopen(detail["raw_url"], timeout=10) as response:
        assert response.read() == raw


def test_html_and_text_alternatives_are_both_served(reader):
    reader.room.receive(mime("multipart-alternative"), [BOX])
    (summary,) = reader.messages().body["messages"]
    detail = reader.message(summary["id"]).body
    assert detail["text"] == ["Shall we have lunch on Thursday?"]
    assert "<b>lunch</b>" in detail["html"][0]


@pytest.mark.parametrize(
    ("token_of", "status", "code"),
    [
        (OTHER, 403, "token_mailbox_mismatch"),
        ("send-token", 403, "scope_denied"),
        ("none", 401, "token_invalid"),
    ],
)
def test_only_a_read_token_of_that_mailbox_may_read_it(reader, token_of, status, code):
    token = {"send-token": reader.world.secrets[BOX], "none": None}.get(token_of, reader.tokens.get(token_of))
    answer = reader.get(f"/v1/mailboxes/{BOX}/messages", token=token)
    assert (answer.status, answer.body["error"]["code"]) == (status, code)


def test_unknown_quarantined_and_other_mailboxes_messages_are_not_found(reader):
    reader.room.receive(mime("attachment"), [BOX], virus="FAIL")
    reader.room.receive(mime("reply"), [OTHER])
    (other,) = reader.messages(OTHER).body["messages"]
    assert reader.message("20261124T000000000000Z.nosuchid").status == 404
    assert reader.message(other["id"]).status == 404  # box0 asking for box1's message id
    quarantined = reader.messages().body["messages"]
    assert quarantined == []


def test_a_forged_cursor_is_refused(reader):
    answer = reader.messages(cursor="bm90LWEtY3Vyc29y")
    assert (answer.status, answer.body["error"]["code"]) == (400, "invalid_cursor")


# ---- hostile mail is filed and readable (issue 11, items 1-4) ----


def hostile(headers: bytes, body: bytes = b"Hello.\r\n") -> bytes:
    return b"From: Mallory <mallory@sender.test>\r\nTo: box0@example.com\r\nSubject: hostile\r\n" + (
        headers + b"\r\n" + body
    )


def nested_multiparts(depth: int) -> bytes:
    head = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (n, n + 1) for n in range(depth)
    )
    tail = b"".join(b"--b%d--\r\n" % n for n in reversed(range(depth)))
    leaf = b"--b%d\r\nContent-Type: text/plain\r\n\r\ndeep\r\n--b%d--\r\n" % (depth, depth)
    return hostile(b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n", head + leaf + tail)


def read_back(reader: Reader) -> tuple[dict[str, Any], HttpAnswer]:
    listed = reader.messages()
    assert listed.status == 200, listed.body
    (summary,) = listed.body["messages"]
    return summary, reader.message(summary["id"])


def test_a_long_8bit_message_id_is_filed_keyed_by_its_hash_and_readable(reader):
    # Given a Message-ID of 400 bytes of 0xFF (each becomes U+FFFD: three bytes in UTF-8)
    raw = hostile(
        b"Message-ID: <" + b"\xff" * 400 + b"@sender.test>\r\n" + b"Subject: " + b"\xfe" * 3000 + b"\r\n"
    )
    # When it arrives
    reader.room.receive(raw, [BOX])
    # Then it is listed and readable, with every stored header capped in bytes
    summary, detail = read_back(reader)
    assert detail.status == 200, detail.body
    assert len(summary["message_id"].encode("utf-8")) <= 998
    assert len(summary["subject"].encode("utf-8")) <= 2000


@pytest.mark.parametrize("depth", [40, 1000])
def test_deeply_nested_multiparts_are_filed_flagged_malformed_and_readable(reader, depth):
    reader.room.receive(nested_multiparts(depth), [BOX])
    summary, detail = read_back(reader)
    assert "malformed" in summary["flags"]
    assert detail.status == 200, detail.body


@pytest.mark.parametrize("charset", ["idna", "punycode", "x-no-such-charset", "base64", "undefined"])
def test_a_text_part_in_any_charset_is_read_with_a_replacement_decode_and_flagged(reader, charset):
    raw = hostile(f"Content-Type: text/plain; charset={charset}\r\n".encode(), b"caf\xe9 \xff\xfe ok\r\n")
    reader.room.receive(raw, [BOX])
    summary, detail = read_back(reader)
    assert detail.status == 200, detail.body
    assert detail.body["text"][0].endswith("ok\r\n")
    assert "charset_fallback" in detail.body["flags"]
    assert "charset_fallback" in summary["flags"]


@pytest.mark.parametrize(
    "message_id", ["x" * 2000, "20261124T000000000000Z." + "é" * 600, "inbox.x", "a" * 10]
)
def test_any_message_id_in_the_path_is_answered_not_found(reader, message_id):
    # An id longer than the route accepts is refused before the handler (400); any other unknown id is 404
    answer = reader.message(message_id)
    assert (answer.status, answer.body["error"]["code"]) in {
        (404, "message_not_found"),
        (400, "malformed_request"),
    }


def test_a_message_whose_raw_mail_is_gone_is_answered_from_the_index(reader):
    # Given a filed message whose raw object has since disappeared from the bucket
    ses_id = reader.room.receive(mime("attachment"), [BOX])
    reader.room.s3.delete_object(Bucket="litemx-raw-mail-test", Key=f"inbound/{ses_id}")
    # When it is read
    _, detail = read_back(reader)
    # Then the answer is what the index holds, flagged, without parts
    assert detail.status == 200, detail.body
    assert detail.body["subject"] == "The invoice"
    assert detail.body["parts_omitted"] is True
    assert "raw_missing" in detail.body["flags"]
