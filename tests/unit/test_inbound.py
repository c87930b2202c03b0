"""Inbound: routing, verdicts, correspondents, idempotency, and the MIME corpus read tolerantly."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from litemx.clock import FixedClock
from litemx.directory.models import Mailbox
from litemx.inbound import mime, store
from litemx.inbound.events import SesReceiptEvent, receipts
from litemx.inbound.logic import (
    RawLocation,
    check_owner,
    message_detail,
    receive,
    route,
)
from litemx.inbound.models import (
    Flag,
    Folder,
    InboundMessage,
    Page,
    Receipt,
)
from litemx.inbound.reads import MailboxMismatchError, MessageNotFoundError
from tests.events import mime as corpus
from tests.events import receipt_event
from tests.fakes import ACCOUNT_ID, T0, FakeDirectory

BOX = "box0@example.com"
LOCATION = RawLocation(bucket="raw-mail", prefix="inbound/")


@dataclass
class FakeRawMail:
    objects: dict[str, bytes] = field(default_factory=dict)
    reads: list[tuple[str, int | None]] = field(default_factory=list)

    def size(self, key: str) -> int:
        return len(self.objects[key])

    def read(self, key: str, *, max_bytes: int | None = None) -> bytes:
        self.reads.append((key, max_bytes))
        data = self.objects[key]
        return data if max_bytes is None else data[:max_bytes]

    def presign(self, key: str, *, expires_in: timedelta) -> str:
        return f"https://raw-mail.example/{key}?expires={int(expires_in.total_seconds())}"


@dataclass
class FakeIndex:
    entries: dict[tuple[str, str], InboundMessage] = field(default_factory=dict)

    def add(self, message: InboundMessage) -> bool:
        key = (message.mailbox, message.message_id)
        if key in self.entries:
            return False
        self.entries[key] = message
        return True

    def get(self, mailbox: str, message_id: str) -> InboundMessage | None:
        return self.entries.get((mailbox, message_id))

    def list(self, mailbox: str, folder: Folder, *, limit: int, cursor: str | None) -> Page:
        found = sorted(
            (m for (box, _), m in self.entries.items() if box == mailbox and m.folder is folder),
            key=lambda m: m.message_id,
            reverse=True,
        )
        return Page(messages=tuple(found[:limit]), cursor=None)


class Inbox:
    def __init__(self, *boxes: str) -> None:
        self.raw = FakeRawMail()
        self.index = FakeIndex()
        self.directory = FakeDirectory()
        for box in boxes or (BOX,):
            self.directory.mailboxes[box] = Mailbox(address=box, account_id=ACCOUNT_ID, domain="example.com")

    def deliver(
        self, raw: bytes, recipients: list[str], *, ses_id: str = "ses0001", max_parse=10_000_000, **kw
    ):
        self.raw.objects[LOCATION.key(ses_id)] = raw
        (receipt,) = receipts(SesReceiptEvent.model_validate(receipt_event(ses_id, recipients, **kw)))
        return receive(
            receipt,
            raw=self.raw,
            location=LOCATION,
            index=self.index,
            directory=self.directory,
            clock=FixedClock(T0),
            max_parse_bytes=max_parse,
        )

    def only(self) -> InboundMessage:
        (entry,) = self.index.entries.values()
        return entry


# ---- routing ----


@pytest.mark.parametrize(
    ("recipient", "mailbox"),
    [
        ("box0@example.com", BOX),
        ("Box0@EXAMPLE.com", BOX),
        ("box0+news@example.com", BOX),
        ("BOX0+Some.Tag@Example.COM", BOX),
        ("not an address", None),
    ],
)
def test_recipients_route_case_insensitively_without_their_plus_tag(recipient, mailbox):
    assert route(recipient) == mailbox


def test_a_message_is_indexed_once_per_mailbox_and_unknown_recipients_are_reported():
    # Given two mailboxes
    inbox = Inbox(BOX, "box1@example.com")
    # When a message names both (one twice, with a tag) and a stranger
    outcome = inbox.deliver(
        corpus("multipart-alternative"),
        ["box0+news@example.com", "BOX0@example.com", "box1@example.com", "nobody@example.com"],
    )
    # Then each mailbox gets one entry, and the stranger is reported, not stored
    assert outcome.stored == (BOX, "box1@example.com")
    assert outcome.unknown_recipients == ("nobody@example.com",)
    assert {box for box, _ in inbox.index.entries} == {BOX, "box1@example.com"}


def test_the_index_entry_carries_the_headers_size_key_and_verdicts():
    inbox = Inbox()
    raw = corpus("multipart-alternative")
    inbox.deliver(raw, [BOX])
    entry = inbox.only()
    assert entry.folder is Folder.INBOX
    assert entry.headers.from_address == "alice@sender.test"
    assert entry.headers.to == ("box0+news@example.com",)
    assert entry.headers.cc == ("carol@elsewhere.test",)
    assert entry.headers.subject == "Lunch on Thursday?"
    assert entry.headers.message_id == "lunch-1@sender.test"
    assert entry.size == len(raw)
    assert entry.raw_key == "inbound/ses0001"
    assert entry.verdicts.as_dict() == {
        "spam": "PASS",
        "virus": "PASS",
        "spf": "PASS",
        "dkim": "PASS",
        "dmarc": "PASS",
    }
    assert entry.message_id == "20261124T095959123000Z.ses0001"


def test_a_redelivered_event_stores_nothing_twice():
    inbox = Inbox()
    first = inbox.deliver(corpus("multipart-alternative"), [BOX])
    second = inbox.deliver(corpus("multipart-alternative"), [BOX])
    assert first.stored == (BOX,)
    assert second.stored == ()
    assert second.duplicates == (BOX,)
    assert inbox.directory.correspondents == {(BOX, "alice@sender.test"): 1}


# ---- verdicts and correspondents ----


@pytest.mark.parametrize(
    ("verdicts", "folder", "learned"),
    [
        ({}, Folder.INBOX, True),
        ({"virus": "FAIL"}, Folder.QUARANTINE, False),
        ({"spam": "FAIL"}, Folder.SPAM, False),
        ({"dmarc": "FAIL", "dmarc_policy": "reject"}, Folder.SPAM, False),
        ({"dmarc": "FAIL", "dmarc_policy": "none"}, Folder.INBOX, False),  # spoof suspect: not learned
        ({"spf": "FAIL", "dkim": "GRAY"}, Folder.INBOX, True),  # recorded, not judged
    ],
)
def test_verdicts_choose_the_folder_and_whether_the_sender_becomes_a_correspondent(verdicts, folder, learned):
    inbox = Inbox()
    outcome = inbox.deliver(corpus("multipart-alternative"), [BOX], **verdicts)
    assert outcome.folder is folder
    assert inbox.only().folder is folder
    assert ((BOX, "alice@sender.test") in inbox.directory.correspondents) is learned


@pytest.mark.parametrize(
    ("name", "source", "flag"),
    [
        ("auto-reply", "vacation@sender.test", Flag.AUTO_GENERATED),
        ("bounce", "", Flag.BOUNCE),
        ("multipart-alternative", "", Flag.AUTO_GENERATED),  # null envelope sender
        ("multipart-alternative", "MAILER-DAEMON@sender.test", Flag.AUTO_GENERATED),
    ],
)
def test_auto_generated_mail_and_bounces_make_no_correspondent(name, source, flag):
    inbox = Inbox()
    outcome = inbox.deliver(corpus(name), [BOX], source=source)
    assert outcome.stored == (BOX,)
    assert flag in outcome.flags
    assert inbox.directory.correspondents == {}


# ---- the MIME corpus ----


def test_multipart_alternative_gives_text_and_html():
    parts = mime.read_parts(corpus("multipart-alternative"))
    assert parts.text == ("Shall we have lunch on Thursday?",)
    assert "<b>lunch</b>" in parts.html[0]
    assert parts.attachments == ()
    assert parts.flags == frozenset()


def test_attachments_are_listed_with_name_type_and_size():
    inbox = Inbox()
    outcome = inbox.deliver(corpus("attachment"), [BOX])
    assert Flag.HAS_ATTACHMENTS in outcome.flags
    attachments = mime.read_parts(corpus("attachment")).attachments
    assert [(a.filename, a.content_type, a.size) for a in attachments] == [
        ("invoice.pdf", "application/pdf", 9 + 256 * 8)
    ]


def test_non_utf8_charsets_and_encoded_words_are_decoded():
    latin = mime.read_headers(corpus("latin1"), whole=True, envelope_sender="andre@sender.test")
    assert latin.subject == "Résumé et café"
    assert latin.from_header == "André Müller <andre@sender.test>"
    assert mime.read_parts(corpus("latin1")).text == ("Voilà mon résumé, merci pour le café.\r\n",)
    japanese = mime.read_headers(corpus("encoded-words"), whole=True, envelope_sender="taro@sender.test")
    assert japanese.subject == "会議の議事録 (réunion)"
    assert japanese.from_address == "taro@sender.test"
    assert mime.read_parts(corpus("encoded-words")).text == ("会議の議事録です。",)


def test_an_unknown_charset_is_read_with_replacement_characters():
    parts = mime.read_parts(corpus("unknown-charset"))
    (text,) = parts.text
    assert text.startswith("Bytes ")
    assert "\ufffd" in text
    assert Flag.CHARSET_FALLBACK in parts.flags


def test_broken_headers_are_stored_flagged_with_what_could_be_parsed():
    inbox = Inbox()
    outcome = inbox.deliver(corpus("broken-headers"), [BOX])
    entry = inbox.only()
    assert outcome.stored == (BOX,)
    assert Flag.MALFORMED in entry.flags
    assert entry.headers.message_id == "broken-1@sender.test"
    assert entry.headers.to == ("box0@example.com",)
    assert mime.read_parts(corpus("broken-headers")).text[0].startswith("Part one")


def test_a_missing_message_id_is_flagged():
    inbox = Inbox()
    outcome = inbox.deliver(corpus("no-message-id"), [BOX])
    assert Flag.MISSING_MESSAGE_ID in outcome.flags
    assert inbox.only().headers.message_id == ""


def test_in_reply_to_and_references_are_kept_without_angle_brackets():
    headers = mime.read_headers(corpus("reply"), whole=True, envelope_sender="alice@sender.test")
    assert headers.in_reply_to == "0100018f-order-1@email.amazonses.com"
    assert headers.references == ("thread-0@sender.test", "0100018f-order-1@email.amazonses.com")


def test_a_message_over_the_parse_limit_is_indexed_from_a_ranged_read_of_its_headers():
    # Given a message larger than the function may parse whole
    inbox = Inbox()
    big = corpus("attachment") + b"x" * 2_000_000
    # When it arrives
    outcome = inbox.deliver(big, [BOX], max_parse=1_000_000)
    # Then only its header block was read, and it is indexed with the full size, flagged headers-only
    assert inbox.raw.reads == [("inbound/ses0001", mime.HEADER_READ_BYTES)]
    entry = inbox.only()
    assert entry.size == len(big)
    assert entry.headers.subject == "The invoice"
    assert Flag.HEADERS_ONLY in outcome.flags


def test_a_header_block_that_never_ends_is_flagged_truncated():
    headers = mime.read_headers(b"Subject: " + b"a" * 300_000, whole=False)
    assert Flag.HEADERS_TRUNCATED in headers.flags


# ---- reading ----


def test_a_token_reads_only_its_own_mailbox():
    assert check_owner(BOX, "Box0@Example.com") == BOX
    with pytest.raises(MailboxMismatchError):
        check_owner(BOX, "box1@example.com")


def test_message_detail_has_parts_attachments_and_a_short_lived_raw_url():
    inbox = Inbox()
    inbox.deliver(corpus("attachment"), [BOX])
    entry = inbox.only()
    detail = message_detail(inbox.index, inbox.raw, BOX, entry.message_id, now=T0)
    assert detail.text == ("Invoice attached.",)
    assert [a.filename for a in detail.attachments] == ["invoice.pdf"]
    assert detail.raw_url == "https://raw-mail.example/inbound/ses0001?expires=300"
    assert detail.raw_url_expires_at == T0 + timedelta(minutes=5)
    assert ("Subject", "The invoice") in detail.headers


def test_a_quarantined_message_is_never_served():
    inbox = Inbox()
    inbox.deliver(corpus("attachment"), [BOX], virus="FAIL")
    with pytest.raises(MessageNotFoundError):
        message_detail(inbox.index, inbox.raw, BOX, inbox.only().message_id, now=T0)


def test_receipt_events_tolerate_missing_headers_and_keep_dkim_and_dmarc_policy():
    event = receipt_event("abc123", [BOX], dkim="FAIL", dmarc="FAIL", dmarc_policy="reject")
    del event["Records"][0]["ses"]["mail"]["commonHeaders"]
    (receipt,) = receipts(SesReceiptEvent.model_validate(event))
    assert isinstance(receipt, Receipt)
    assert (receipt.verdicts.dkim, receipt.verdicts.dmarc_policy) == ("FAIL", "reject")


# ---- hostile mail (issue 11) ----


def _hostile(headers: bytes, body: bytes = b"Hello.\r\n") -> bytes:
    return b"From: Mallory <mallory@sender.test>\r\nTo: box0@example.com\r\n" + headers + b"\r\n" + body


def _nested(depth: int) -> bytes:
    head = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (n, n + 1) for n in range(depth)
    )
    leaf = b"--b%d\r\nContent-Type: text/plain\r\n\r\ndeep\r\n--b%d--\r\n" % (depth, depth)
    tail = b"".join(b"--b%d--\r\n" % n for n in reversed(range(depth)))
    return _hostile(b"Content-Type: multipart/mixed; boundary=b0\r\n", head + leaf + tail)


def _stored_size(record) -> int:
    return len(json.dumps(record.serialize(), ensure_ascii=False).encode("utf-8"))


def test_every_stored_header_of_8bit_bytes_is_capped_in_bytes():
    # Given headers of 8-bit bytes: each becomes U+FFFD, three bytes in UTF-8
    raw = _hostile(
        b"Message-ID: <" + b"\xff" * 400 + b"@x>\r\nSubject: " + b"\xfe" * 3000 + b"\r\n"
        b"References: " + b" ".join(b"<" + b"\xfd" * 900 + b"%d@x>" % n for n in range(80)) + b"\r\n"
    )
    inbox = Inbox()
    inbox.deliver(raw, [BOX])
    entry = inbox.only()
    # When the store builds its item
    record = store._record(entry)
    # Then every header fits its byte cap
    assert len(str(record.rfc_message_id).encode("utf-8")) <= store.MAX_ID_BYTES
    assert len(str(record.subject).encode("utf-8")) <= store.MAX_HEADER_BYTES
    assert all(len(str(r).encode("utf-8")) <= store.MAX_ID_BYTES for r in record.references)
    assert _stored_size(record) < 200_000


@pytest.mark.parametrize("depth", [mime.MAX_MIME_DEPTH + 5, 1000, 5000])
def test_deep_nesting_is_indexed_flagged_malformed_and_read_without_raising(depth):
    raw = _nested(depth)
    headers = mime.read_headers(raw, whole=True, envelope_sender="mallory@sender.test")
    assert Flag.MALFORMED in headers.flags
    assert headers.from_address == "mallory@sender.test"
    assert Flag.MALFORMED in mime.read_parts(raw).flags


def test_nesting_within_the_bound_is_read_in_full():
    parts = mime.read_parts(_nested(mime.MAX_MIME_DEPTH - 2))
    assert parts.text == ("deep",)
    assert Flag.MALFORMED not in parts.flags


@pytest.mark.parametrize("charset", ["idna", "punycode", "x-unknown", "base64", "undefined"])
def test_any_codec_failure_falls_back_to_a_replacement_decode_and_a_flag(charset):
    raw = _hostile(f"Content-Type: text/plain; charset={charset}\r\n".encode(), b"caf\xe9 \xff ok")
    parts = mime.read_parts(raw)
    assert parts.text[0].endswith(" ok")
    assert Flag.CHARSET_FALLBACK in parts.flags
    assert Flag.CHARSET_FALLBACK in mime.read_headers(raw, whole=True).flags


def test_deeply_nested_comments_in_address_headers_do_not_raise():
    raw = _hostile(b"Cc: " + b"(" * 3000 + b"x@y.test\r\nReply-To: " + b"(" * 3000 + b"\r\n")
    raw = raw.replace(b"From: Mallory <mallory@sender.test>", b"From: " + b"(" * 1900 + b"a@b.test")
    headers = mime.read_headers(raw, whole=True)
    assert headers.from_address == ""


def test_message_detail_answers_an_id_of_any_shape_not_found():
    inbox = Inbox()
    for message_id in ("x" * 5000, "inbox#1", "", "20261124T000000000000Z." + "é" * 100):
        with pytest.raises(MessageNotFoundError):
            message_detail(inbox.index, inbox.raw, BOX, message_id, now=T0)


def test_a_date_header_with_absurd_numbers_does_not_raise():
    # Found by tests/fuzz: the stdlib's Date parser raises OverflowError
    raw = _hostile(b"Date: Tue, 24 Nov 2026 09:5555555558:00 +0000\r\nSubject: late\r\n")
    headers = mime.read_headers(raw, whole=True)
    assert headers.subject == "late"
    assert ("Date", "Tue, 24 Nov 2026 09:5555555558:00 +0000") in mime.header_list(raw)
    assert mime.read_parts(raw).text == ("Hello.\r\n",)
