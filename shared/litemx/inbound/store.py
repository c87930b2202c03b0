"""Inbound storage: the per-mailbox index in DynamoDB and the raw-mail bucket in S3 (pynamodb and boto3
stay in here)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import PutError

from litemx import expiry
from litemx.clock import Clock
from litemx.inbound.models import (
    Flag,
    Folder,
    InboundMessage,
    Page,
    ParsedHeaders,
    Verdicts,
    id_time,
)
from litemx.inbound.reads import InvalidCursorError, RawMailMissingError
from litemx.storage.tables import InboundMessageRecord

_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
# What the outside world writes is stored capped in UTF-8 bytes (not characters: one character may take
# four bytes), so that no item nears DynamoDB's 400 KB and no key its 1,024 bytes, whatever arrives.
MAX_HEADER_BYTES = 2_000
MAX_ID_BYTES = 998  # RFC 5322's line limit; the policy never looks up ids over 900 bytes
MAX_LISTED = 100  # addresses in To, Cc; Message-IDs in References (mime.MAX_REFERENCES is 50)


def listed_sk(folder: Folder, message_id: str) -> str:
    return f"{folder.value}#{message_id}"


def clip_bytes(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, on a character boundary (a lone surrogate, which no
    UTF-8 can carry, becomes "?")."""
    return text.encode("utf-8", "replace")[:limit].decode("utf-8", "ignore")


def _clipped(values: tuple[str, ...], limit: int) -> list[str]:
    return [clip_bytes(v, limit) for v in values[:MAX_LISTED]]


def _record(message: InboundMessage) -> InboundMessageRecord:
    headers = message.headers
    return InboundMessageRecord(
        message.mailbox,
        listed_sk(message.folder, message.message_id),
        ses_message_id=message.ses_message_id,
        folder=message.folder.value,
        received_at=message.received_at,
        from_address=clip_bytes(headers.from_address, MAX_HEADER_BYTES),
        from_header=clip_bytes(headers.from_header, MAX_HEADER_BYTES),
        to=_clipped(headers.to, MAX_HEADER_BYTES),
        cc=_clipped(headers.cc, MAX_HEADER_BYTES),
        reply_to=_clipped(headers.reply_to, MAX_HEADER_BYTES),
        subject=clip_bytes(headers.subject, MAX_HEADER_BYTES),
        rfc_message_id=clip_bytes(headers.message_id, MAX_ID_BYTES),
        in_reply_to=clip_bytes(headers.in_reply_to, MAX_ID_BYTES),
        references=_clipped(headers.references, MAX_ID_BYTES),
        size=message.size,
        bucket=message.bucket,
        raw_key=message.raw_key,
        verdicts=json.dumps(message.verdicts.as_dict(), sort_keys=True),
        flags={flag.value for flag in message.flags} or None,
    )


def _message(record: InboundMessageRecord) -> InboundMessage:
    flags = frozenset(Flag(f) for f in (record.flags or ()) if f in Flag.__members__.values())
    folder = record.folder if record.folder in Folder.__members__.values() else Folder.QUARANTINE
    return InboundMessage(
        mailbox=record.mailbox,
        message_id=record.sk.partition("#")[2],
        ses_message_id=record.ses_message_id,
        folder=Folder(folder),
        received_at=record.received_at,
        headers=ParsedHeaders(
            from_address=record.from_address,
            from_header=record.from_header,
            to=_strings(record.to),
            cc=_strings(record.cc),
            reply_to=_strings(record.reply_to),
            subject=record.subject,
            message_id=record.rfc_message_id,
            in_reply_to=record.in_reply_to,
            references=_strings(record.references),
            flags=flags,
        ),
        size=int(record.size),
        bucket=record.bucket,
        raw_key=record.raw_key,
        verdicts=_verdicts(record.verdicts),
        flags=flags,
    )


def _verdicts(stored: str) -> Verdicts:
    """The stored verdicts; an entry written by an older or foreign writer still reads (unknown keys are
    dropped, bad JSON reads as all GRAY)."""
    try:
        values = json.loads(stored)
    except ValueError:
        values = {}
    known = {f.name for f in fields(Verdicts)}
    if not isinstance(values, dict):
        return Verdicts()
    return Verdicts(**{k: str(v) for k, v in values.items() if k in known and v is not None})


def _strings(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in (values or ()))


@dataclass(frozen=True)
class IndexRetention:
    """How long an index entry lives: as long as its raw mail (the bucket's lifecycle, counted from the
    receipt), and never less than that from the write (litemx.expiry: a late or replayed receipt is
    never written already expired)."""

    keep: timedelta
    clock: Clock

    def expires_at(self, received_at: datetime) -> int:
        return int(expiry.from_write(received_at, self.keep, self.clock.now()).timestamp())


class DynamoInboundIndex:
    def __init__(self, retention: IndexRetention | None = None) -> None:
        """`retention`: what a writer needs; a reader (the read API) passes none and cannot store."""
        self._retention = retention

    def add(self, message: InboundMessage) -> bool:
        if self._retention is None:
            raise RuntimeError("this index was built for reading: it has no retention to store with")
        record = _record(message)
        record.expires_at = self._retention.expires_at(message.received_at)
        try:
            record.save(condition=InboundMessageRecord.sk.does_not_exist())
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get(self, mailbox: str, message_id: str) -> InboundMessage | None:
        keys = [(mailbox, listed_sk(folder, message_id)) for folder in Folder]
        found = list(InboundMessageRecord.batch_get(keys, consistent_read=True))
        return _message(found[0]) if found else None

    def list(self, mailbox: str, folder: Folder, *, limit: int, cursor: str | None) -> Page:
        prefix = f"{folder.value}#"
        start = _decode_cursor(cursor, mailbox, prefix) if cursor else None
        results = InboundMessageRecord.query(
            mailbox,
            InboundMessageRecord.sk.startswith(prefix),
            scan_index_forward=False,
            limit=limit,
            last_evaluated_key=start,
            consistent_read=True,
        )
        messages = tuple(_message(record) for record in results)
        last: dict[str, Any] | None = results.last_evaluated_key
        return Page(messages=messages, cursor=_encode_cursor(last["sk"]["S"]) if last else None)


def _encode_cursor(sk: str) -> str:
    return base64.urlsafe_b64encode(sk.encode("utf-8")).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str, mailbox: str, prefix: str) -> dict[str, Any]:
    try:
        sk = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursorError("the cursor is not one this API returned") from None
    if not sk.startswith(prefix):
        raise InvalidCursorError("the cursor belongs to another folder")
    return {"mailbox": {"S": mailbox}, "sk": {"S": sk}}


class S3RawMail:
    """The raw-mail bucket; boto3's S3 client is passed in from the handler's edge."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def size(self, key: str) -> int:
        return int(self._client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])

    def read(self, key: str, *, max_bytes: int | None = None) -> bytes:
        extra = {"Range": f"bytes=0-{max_bytes - 1}"} if max_bytes is not None else {}
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=key, **extra)["Body"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING:
                raise RawMailMissingError(f"the raw message {key} is no longer stored") from error
            raise
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return data

    def presign(self, key: str, *, expires_in: timedelta) -> str:
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=int(expires_in.total_seconds()),
        )
        return url


__all__ = ["DynamoInboundIndex", "IndexRetention", "S3RawMail", "id_time", "listed_sk"]
