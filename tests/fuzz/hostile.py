"""Strategies for hostile input: mutations of the valid samples in tests/events, plus generated shapes;
and the DynamoDB limits a stored item must respect, checked by the fakes the properties run against."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pynamodb.models import Model

from tests.events import EVENTS

# The inbound and feedback properties: 10,000 cases each under `make fuzz` (HYPOTHESIS_PROFILE=fuzz), a
# bounded sample derived from the test's name (so repeatable) under `make test`.
FUZZING = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
FUZZ_CASES, BOUNDED_CASES = 10_000, 50
PROPERTY = settings(
    max_examples=FUZZ_CASES if FUZZING else BOUNDED_CASES,
    deadline=None,
    derandomize=not FUZZING,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

MAX_ITEM_BYTES = 400 * 1024
MAX_HASH_KEY_BYTES = 2048
MAX_RANGE_KEY_BYTES = 1024

# ---- DynamoDB limits ----


def utf8_size(value: str) -> int:
    return len(value.encode("utf-8"))  # raises on a lone surrogate, which DynamoDB would refuse too


def check_key(value: str, *, limit: int) -> None:
    assert value, "a key attribute may not be empty"
    assert utf8_size(value) <= limit, f"key of {utf8_size(value)} bytes exceeds {limit}"


def check_item(item: Model) -> None:
    """The item's keys and size are within DynamoDB's limits (an approximation from above of its size)."""
    attributes = item.get_attributes()
    for name, attribute in attributes.items():
        value = getattr(item, name)
        if attribute.is_hash_key:
            check_key(str(value), limit=MAX_HASH_KEY_BYTES)
        if attribute.is_range_key:
            check_key(str(value), limit=MAX_RANGE_KEY_BYTES)
    size = len(json.dumps(item.serialize(), ensure_ascii=False).encode("utf-8"))
    assert size <= MAX_ITEM_BYTES, f"item of {size} bytes"


# ---- bytes: MIME ----

CORPUS = tuple(path.read_bytes() for path in sorted((EVENTS / "mime").glob("*.eml")))
CHARSETS = (
    "utf-8", "us-ascii", "iso-8859-1", "idna", "punycode", "x-unknown", "base64", "undefined", "utf-7",
    "utf-16", "shift_jis", "rot13", "zlib", '"', "", "utf-8''x", "hex",
)  # fmt: skip
TRANSFER_ENCODINGS = ("7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "binary", "garbage")
CONTENT_TYPES = (
    "text/plain", "text/html", "application/octet-stream", "message/rfc822", "message/delivery-status",
    "multipart/mixed", "multipart/digest", "multipart/report; report-type=delivery-status", "text", "/",
)  # fmt: skip
HEADER_NAMES = (
    "From", "To", "Cc", "Subject", "Message-ID", "In-Reply-To", "References", "Content-Type",
    "Content-Transfer-Encoding", "Content-Disposition", "Auto-Submitted", "Precedence", "List-Id",
    "MIME-Version", "Date", "Reply-To", "Sender", "X-Junk",
)  # fmt: skip
TOKENS = (
    b"\r\n", b"\n", b"\r\n\r\n", b"\r", b"--", b"--b\r\n", b"--b--\r\n", b"boundary=b", b'boundary="b"',
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n", b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Type: text/plain; charset=idna\r\n\r\n", b"charset=punycode", b"=?idna?q?x?=",
    b"=?utf-8?b?////?=", b"=?x-unknown?q?=FF?=", b"\xff" * 64, b"\xfe\xff", b"(" * 300, b"<" * 50, b">",
    b"\x00", b"Message-ID: <", b"Content-Transfer-Encoding: base64\r\n", b"\"", b"\\", b":", b";", b"@",
    b"=\r\n", b"=FF", b"\t", b" ", b"*0*=utf-8''%FF", b"filename*=", b"name=",
)  # fmt: skip

header_text = st.one_of(
    st.binary(max_size=120),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=120).map(lambda t: t.encode("utf-8")),
    st.sampled_from(TOKENS),
    st.sampled_from(CHARSETS).map(lambda c: f"text/plain; charset={c}".encode()),
    st.builds(lambda n: b"<" + b"\xff" * n + b"@x>", st.integers(0, 1200)),
)


def header_lines() -> st.SearchStrategy[bytes]:
    line = st.tuples(st.sampled_from(HEADER_NAMES), header_text).map(lambda h: h[0].encode() + b": " + h[1])
    return st.lists(line, max_size=12).map(lambda lines: b"".join(x + b"\r\n" for x in lines))


@st.composite
def leaf_part(draw: st.DrawFn) -> bytes:
    content_type = draw(st.sampled_from(CONTENT_TYPES[:5] + CONTENT_TYPES[8:]))
    charset = draw(st.sampled_from(CHARSETS))
    encoding = draw(st.sampled_from(TRANSFER_ENCODINGS))
    headers = f"Content-Type: {content_type}; charset={charset}\r\nContent-Transfer-Encoding: {encoding}\r\n"
    if draw(st.booleans()):
        headers += 'Content-Disposition: attachment; filename="a.bin"\r\n'
    return headers.encode() + draw(header_lines()) + b"\r\n" + draw(st.binary(max_size=300))


def multipart(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        boundary = draw(st.sampled_from([b"b", b"B", b"==x==", b"a b", b"", b"b" * 80]))
        subtype = draw(st.sampled_from([b"mixed", b"alternative", b"digest", b"related", b"report"]))
        parts = draw(st.lists(children, max_size=4))
        closed = draw(st.booleans())
        body = b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts)
        body += b"--" + boundary + b"--\r\n" if closed else b""
        head = b"Content-Type: multipart/" + subtype + b'; boundary="' + boundary + b'"\r\n'
        return head + b"\r\n" + draw(st.binary(max_size=20)) + b"\r\n" + body

    return build()


def nested(depth: int, kinds: list[bytes]) -> bytes:
    """`depth` levels of multiparts and attached messages, each inside the previous."""
    head, tail = b"", b""
    for n in range(depth):
        kind = kinds[n % len(kinds)]
        if kind == b"message/rfc822":
            head += b"Content-Type: message/rfc822\r\n\r\n"
        else:
            head += b"Content-Type: " + kind + b"; boundary=b%d\r\n\r\n--b%d\r\n" % (n, n)
            tail = b"\r\n--b%d--\r\n" % n + tail
    return head + b"Content-Type: text/plain\r\n\r\ndeep" + tail


deep_mime = st.builds(
    nested,
    st.integers(0, 3000),
    st.lists(st.sampled_from([b"multipart/mixed", b"message/rfc822", b"multipart/digest"]), min_size=1),
)


@st.composite
def mutated(draw: st.DrawFn, sources: st.SearchStrategy[bytes]) -> bytes:
    """A source with a few random edits: inserts of hostile tokens, deletions, duplications, truncation."""
    raw = bytearray(draw(sources))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["insert", "delete", "duplicate", "truncate", "flip"]))
        at = draw(st.integers(0, len(raw)))
        if op == "insert":
            raw[at:at] = draw(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=40)))
        elif op == "delete":
            del raw[at : at + draw(st.integers(1, 80))]
        elif op == "duplicate":
            raw[at:at] = raw[at : at + draw(st.integers(1, 60))] * draw(st.integers(1, 40))
        elif op == "truncate":
            del raw[at:]
        elif at < len(raw):
            raw[at] ^= draw(st.integers(1, 255))
    return bytes(raw)


def message(body: bytes, headers: bytes) -> bytes:
    return headers + body


generated_mime = st.builds(
    message,
    st.recursive(leaf_part(), multipart, max_leaves=8),
    header_lines(),
)
any_mime = st.one_of(
    mutated(st.sampled_from(CORPUS)),
    generated_mime,
    mutated(generated_mime),
    deep_mime,
    st.binary(max_size=2000),
)

# ---- JSON documents ----

STRINGS = (
    "", " ", "x" * 3000, "\x00", "é" * 400, "<>", "@", "a@b", "@@", "o'brien@example.com",
    "Recipient@Outside.test", "recipient@outside.test", "good@outside.test", "x" * 300 + "@outside.test",
    "2026-11-24T10:00:00.000Z", "2026-11-24T10:00:00", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
    "1e400", "Permanent", "Transient", "Undetermined", "General", "NoEmail", "Suppressed", "MailboxFull",
    "OnAccountSuppressionList", "UnsubscribedRecipient", "MessageTooLarge", "abuse", "not-spam",
    "Bounce", "Complaint", "Delivery", "Send", "Reject", "DeliveryDelay", "Open", "Notification",
    "SubscriptionConfirmation", "123456789012", "999999999999", "litemx-test-feedback",
    "arn:aws:ses:us-east-1:123456789012:identity/example.com", "arn:aws:ses:us-east-1:123456789012:identity/",
    "msg-0001", "0100018f1a2b3c4d-5e6f7a8b-1111-2222-3333-444455556666-000000", "[" * 50,
)  # fmt: skip

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(STRINGS),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(STRINGS) | st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=12,
)


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _paths(value, (*prefix, index))


@st.composite
def mutated_json(draw: st.DrawFn, sources: st.SearchStrategy[Any], max_copies: int = 150) -> Any:
    """A valid document with a few random edits: values replaced (by hostile ones or other shapes), keys
    removed, lists emptied or stuffed."""
    document = copy.deepcopy(draw(sources))
    for _ in range(draw(st.integers(0, 5))):
        path = draw(st.sampled_from(list(_paths(document))))
        if not path:
            continue
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        op = draw(st.sampled_from(["set", "set", "delete", "stuff"]))
        if op == "set":
            parent[path[-1]] = draw(json_values)
        elif op == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif op == "stuff" and isinstance(parent[path[-1]], list):
            parent[path[-1]] = parent[path[-1]] * draw(st.integers(0, max_copies))
    return document


deep_json = st.builds(
    lambda n, open_, close: open_ * n + close * n, st.integers(1, 200_000), st.just("["), st.just("]")
)
