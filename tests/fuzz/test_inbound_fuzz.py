"""Inbound over generated hostile mail and SES receipt events (mutations of the samples in tests/events,
and generated shapes): the parser and the handler never raise; every message is indexed (with items
DynamoDB accepts) and readable through the read API, or its record is acknowledged with a logged reason."""

from __future__ import annotations

import logging
from typing import Any, cast
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from functions.inbound import handler as inbound_handler
from functions.inbound.settings import inbound_settings
from litemx.clock import FixedClock
from litemx.inbound import mime, store
from litemx.inbound.logic import message_detail
from litemx.inbound.models import LISTED_FOLDERS, InboundMessage, Verdicts
from tests.events import FakeLambdaContext, load
from tests.fakes import T0
from tests.fuzz.hostile import PROPERTY, any_mime, check_item, check_key, json_values, mutated_json, utf8_size
from tests.unit.test_inbound import BOX, LOCATION, FakeIndex, Inbox

RECEIPT_EVENT = load("ses/receipt-lambda-event.json")


class LimitedIndex(FakeIndex):
    """The in-memory index, refusing what DynamoDB would refuse."""

    def add(self, message: InboundMessage) -> bool:
        record = store._record(message)
        check_item(record)
        check_key(str(record.sk), limit=1024)
        return super().add(message)


def _entry(raw: bytes, whole: bool) -> InboundMessage:
    headers = mime.read_headers(
        raw if whole else raw[: mime.HEADER_READ_BYTES], whole=whole, envelope_sender=""
    )
    return InboundMessage(
        mailbox=BOX,
        message_id="20261124T100000000000Z.ses0001",
        ses_message_id="ses0001",
        folder=LISTED_FOLDERS[0],
        received_at=T0,
        headers=headers,
        size=len(raw),
        bucket="raw-mail",
        raw_key="inbound/ses0001",
        verdicts=Verdicts(),
        flags=headers.flags,
    )


@PROPERTY
@given(any_mime)
def test_the_mime_parser_never_raises_and_what_it_keeps_fits_dynamodb(raw: bytes) -> None:
    for whole in (True, False):
        entry = _entry(raw, whole)
        record = store._record(entry)
        check_item(record)
        check_key(str(record.sk), limit=1024)
    parts = mime.read_parts(raw)
    for text in (*parts.text, *parts.html, *(a.filename for a in parts.attachments)):
        utf8_size(text)
    for name, value in mime.header_list(raw):
        utf8_size(name + value)


receipt_events = st.one_of(
    mutated_json(st.just(RECEIPT_EVENT), max_copies=4),
    json_values.map(lambda value: {"Records": [value]}),
    json_values,
)


def _ses_ids(event: Any) -> list[str]:
    """The SES message ids the event's records name (where SES's S3 action would have stored the mail)."""
    records = event.get("Records") if isinstance(event, dict) else None
    found = []
    for record in records if isinstance(records, list) else []:
        ses = record.get("ses") if isinstance(record, dict) else None
        mail = ses.get("mail") if isinstance(ses, dict) else None
        if isinstance(mail, dict) and isinstance(mail.get("messageId"), str):
            found.append(mail["messageId"])
    return found


@PROPERTY
@given(receipt_events, any_mime, st.sampled_from(["10000000", "300"]))
def test_the_handler_files_or_acknowledges_every_receipt_with_a_logged_reason(
    event: Any, raw: bytes, max_parse: str
) -> None:
    # Given the real handler on in-memory stores, the raw message stored where SES's S3 action puts it
    inbox = Inbox()
    inbox.index = LimitedIndex()
    for ses_id in _ses_ids(event):
        inbox.raw.objects[LOCATION.key(ses_id)] = raw
    runtime = inbound_handler.Runtime(
        settings=inbound_settings(
            {
                "RAW_MAIL_BUCKET": LOCATION.bucket,
                "RAW_MAIL_PREFIX": LOCATION.prefix,
                "WEBHOOK_FUNCTION_NAME": "webhooks",
                "INBOUND_MAX_PARSE_BYTES": max_parse,  # also the header-only path of large messages
            }
        ),
        raw=cast(Any, inbox.raw),
        index=cast(Any, inbox.index),
        directory=cast(Any, inbox.directory),
        clock=cast(Any, FixedClock(T0)),
    )
    # When it is invoked with any event
    with mock.patch.object(inbound_handler, "runtime", return_value=runtime), _Captured() as logs:
        answer = inbound_handler.handler(event, FakeLambdaContext())
    # Then it answers; each record was filed, or acknowledged with a logged reason
    assert answer == {"disposition": "CONTINUE"}
    filed = [r for r in logs.records if r.getMessage() == "mail received"]
    unusable = [r for r in logs.records if r.getMessage() == "receipt record acknowledged without action"]
    records = event.get("Records") if isinstance(event, dict) else None
    assert len(filed) + len(unusable) == (len(records) if isinstance(records, list) else 1)
    assert all(getattr(r, "reason", "") for r in unusable)
    # And the read API answers every message it filed
    for entry in inbox.index.entries.values():
        if entry.folder in LISTED_FOLDERS:
            detail = message_detail(
                inbox.index,
                inbox.raw,
                entry.mailbox,
                entry.message_id,
                now=T0,
                max_parse_bytes=int(max_parse),
            )
            assert detail.message == entry


class _Captured(logging.Handler):
    """Collects the records the handler's logger emits while active."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> _Captured:
        logging.getLogger(inbound_handler.logger.service).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger(inbound_handler.logger.service).removeHandler(self)
