"""Inbound end to end on the local AWS: raw messages in real S3 objects (moto), the real inbound handler,
the index and correspondents read back from DynamoDB Local. The MIME corpus includes a 20 MB message."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from datetime import timedelta

import boto3
import pytest

from litemx.inbound.models import Flag, Folder, InboundMessage
from litemx.inbound.store import DynamoInboundIndex
from litemx.storage.tables import TableNames
from litemx_local.world import World, build_world
from tests.events import mime
from tests.events.mailroom import Mailroom, mailroom

pytestmark = pytest.mark.integration
BOX = "box0@example.com"


@pytest.fixture
def room(tables: TableNames, monkeypatch) -> Iterator[Mailroom]:
    with mailroom(tables, monkeypatch) as room:
        yield room


@pytest.fixture
def world(tables: TableNames) -> World:
    return build_world(tables, mailboxes=2)


def inbox(mailbox: str = BOX, folder: Folder = Folder.INBOX) -> list[InboundMessage]:
    return list(DynamoInboundIndex().list(mailbox, folder, limit=100, cursor=None).messages)


CORPUS = [
    "multipart-alternative",
    "attachment",
    "latin1",
    "encoded-words",
    "unknown-charset",
    "broken-headers",
    "no-message-id",
    "reply",
]


@pytest.mark.parametrize("name", CORPUS)
def test_every_shape_of_the_corpus_is_filed(room, world, name):
    # When a message of this shape arrives for a mailbox
    room.receive(mime(name), [BOX])
    # Then it is indexed once, with its size and raw key
    (entry,) = inbox()
    assert entry.size == len(mime(name))
    assert entry.raw_key.startswith("inbound/sesid")


def test_the_index_entry_holds_the_headers_and_verdicts(room, world):
    ses_id = room.receive(mime("encoded-words"), ["BOX0+jp@Example.com"], spf="FAIL", dkim="GRAY")
    (entry,) = inbox()
    assert entry.ses_message_id == ses_id
    assert entry.headers.subject == "会議の議事録 (réunion)"
    assert entry.headers.from_address == "taro@sender.test"
    assert entry.headers.message_id == "jp-1@sender.test"
    assert (entry.verdicts.spf, entry.verdicts.dkim, entry.verdicts.dmarc) == ("FAIL", "GRAY", "PASS")


def test_malformed_mime_is_stored_flagged_and_a_missing_message_id_too(room, world):
    room.receive(mime("broken-headers"), [BOX])
    room.receive(mime("no-message-id"), [BOX])
    flags = {entry.headers.subject: entry.flags for entry in inbox()}
    assert Flag.MALFORMED in flags[next(s for s in flags if "invalid" in s or "bogus" in s)]
    assert Flag.MISSING_MESSAGE_ID in flags["No Message-ID here"]


def test_a_20_mb_message_is_indexed_from_its_headers_without_being_loaded(room, world):
    # Given a 20 MB message (a large attachment) in the raw-mail bucket
    attachment = base64.encodebytes(os.urandom(15 * 1024 * 1024))
    raw = (
        b"From: Big Sender <big@sender.test>\r\nTo: box0@example.com\r\nSubject: Scans, all of them\r\n"
        b"Message-ID: <big-1@sender.test>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        b'--b\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename="scans.zip"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + b"\r\n--b--\r\n"
    )
    assert len(raw) > 20 * 1024 * 1024
    # When it arrives
    room.receive(raw, [BOX])
    # Then it is indexed with its full size from its header block, flagged headers-only
    (entry,) = inbox()
    assert entry.size == len(raw)
    assert entry.headers.subject == "Scans, all of them"
    assert entry.headers.message_id == "big-1@sender.test"
    assert Flag.HEADERS_ONLY in entry.flags
    # And its sender became a correspondent like any other
    assert world.directory.correspondents_of(BOX, ["big@sender.test"]) == {"big@sender.test"}


def test_each_mailbox_gets_the_message_and_unknown_recipients_are_not_stored(room, world):
    room.receive(mime("multipart-alternative"), [BOX, "Box1@example.com", "nobody@example.com"])
    assert len(inbox(BOX)) == 1
    assert len(inbox("box1@example.com")) == 1
    assert inbox("nobody@example.com") == []


def test_a_received_message_writes_one_item_to_the_inbound_table(room, world, tables):
    # Given a clean message with a Message-ID
    room.receive(mime("multipart-alternative"), [BOX])
    # When the mailbox's partition is read whole
    client = boto3.client("dynamodb")
    items = client.query(
        TableName=tables.inbound,
        KeyConditionExpression="mailbox = :m",
        ExpressionAttributeValues={":m": {"S": BOX}},
        ConsistentRead=True,
    )["Items"]
    # Then it holds the index entry and nothing else (no per-Message-ID marker that nothing reads)
    assert [item["sk"]["S"].partition("#")[0] for item in items] == [Folder.INBOX.value]
    # And the entry expires with its raw mail: the bucket's 365 days (RAW_MAIL_RETENTION_DAYS's default),
    # counted from the receipt, or from the write where that came a moment later
    (entry,) = inbox()
    expected = (entry.received_at + timedelta(days=365)).timestamp()
    assert 0 <= int(items[0]["expires_at"]["N"]) - int(expected) < 60


def test_a_late_receipt_is_never_indexed_already_expired(room, world, tables):
    # Given a receipt whose timestamp lies further back than the raw mail's retention (a replayed event)
    old = world.clock.now() - timedelta(days=400)
    room.receive(mime("multipart-alternative"), [BOX], timestamp=old)
    # Then its entry lives the retention from the write, not from the receipt
    client = boto3.client("dynamodb")
    items = client.query(
        TableName=tables.inbound,
        KeyConditionExpression="mailbox = :m",
        ExpressionAttributeValues={":m": {"S": BOX}},
        ConsistentRead=True,
    )["Items"]
    assert [int(i["expires_at"]["N"]) for i in items] >= [int(world.clock.now().timestamp()) + 364 * 86_400]


def test_a_redelivered_receipt_stores_nothing_twice(room, world):
    # A Lambda retry hands the handler the same event again, timestamp included
    at = world.clock.now()
    ses_id = room.receive(mime("multipart-alternative"), [BOX], timestamp=at)
    room.receive(mime("multipart-alternative"), [BOX], ses_id=ses_id, timestamp=at)
    assert len(inbox()) == 1


def test_verdicts_file_spam_and_quarantine_viruses(room, world):
    room.receive(mime("latin1"), [BOX], spam="FAIL")
    room.receive(mime("reply"), [BOX], dmarc="FAIL", dmarc_policy="reject")
    room.receive(mime("attachment"), [BOX], virus="FAIL")
    assert inbox() == []
    assert sorted(m.headers.subject for m in inbox(folder=Folder.SPAM)) == [
        "Re: Your order",
        "Résumé et café",
    ]
    (quarantined,) = inbox(folder=Folder.QUARANTINE)
    assert quarantined.headers.subject == "The invoice"


def test_senders_of_clean_human_mail_become_correspondents(room, world):
    # When a person, a virus, a spammer, an auto-responder and a bounce write to the mailbox
    room.receive(mime("multipart-alternative"), [BOX])  # alice@sender.test
    room.receive(mime("attachment"), [BOX], virus="FAIL")  # bob@sender.test
    room.receive(mime("latin1"), [BOX], spam="FAIL")  # andre@sender.test
    room.receive(mime("auto-reply"), [BOX], source="vacation@sender.test")
    room.receive(mime("bounce"), [BOX], source="")
    # Then only the person is a correspondent
    candidates = [
        "alice@sender.test",
        "bob@sender.test",
        "andre@sender.test",
        "vacation@sender.test",
        "mailer-daemon@sender.test",
    ]
    assert world.directory.correspondents_of(BOX, candidates) == {"alice@sender.test"}
