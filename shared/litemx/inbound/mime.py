"""Reading received mail with the stdlib email package (policy.default), tolerantly.

Mail from the internet is often broken: undecodable charsets, bad encoded words, unterminated multiparts,
headers that make the header parser raise. Whatever can be read is kept and the message is flagged
`malformed`; nothing here raises on bad input (nesting is bounded, RecursionError included), and a text
part whose charset cannot be decoded is read as UTF-8 with replacement characters, flagged
`charset_fallback`. Messages larger than `max_parse_bytes` are indexed from
their header block alone (read with a ranged GET), so their size never matters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.errors import HeaderParseError, MessageError
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from typing import Any

from litemx.addresses import normalize_address
from litemx.inbound.models import Attachment, Flag, ParsedHeaders, normalize_message_id

HEADER_READ_BYTES = 256 * 1024
BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
DAEMON_LOCALS = frozenset({"mailer-daemon", "postmaster"})
MAX_REFERENCES = 50
MAX_ADDRESSES = 100
MAX_HEADER_CHARS = 2_000
# Nesting deeper than this (multipart in multipart, or attached messages) is not read: the message is
# indexed from what lies above and flagged `malformed`. Real mail nests a handful of levels.
MAX_MIME_DEPTH = 32
MAX_PARTS = 1_000
# What the header and content machinery of policy.default raises on hostile input (UnicodeError is a
# ValueError; RecursionError comes from nested comments, encoded words or parts; OverflowError from a Date
# header with absurd numbers, found by tests/fuzz).
_PARSE_ERRORS = (
    HeaderParseError,
    MessageError,
    ValueError,
    IndexError,
    TypeError,
    AttributeError,
    LookupError,
    RecursionError,
    ArithmeticError,
)
# What a codec may raise when asked to decode with `errors="replace"` (idna and punycode refuse it with
# UnicodeError, unknown or non-text codecs raise LookupError).
_CODEC_ERRORS = (LookupError, ValueError, TypeError)


@dataclass(frozen=True)
class Parts:
    """The readable content of a whole message."""

    text: tuple[str, ...] = ()
    html: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    flags: frozenset[Flag] = frozenset()


def header_block(raw: bytes) -> tuple[bytes, bool]:
    """The header block of a raw message (up to and including the blank line), and whether it ended."""
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    if not ends:
        return raw, False
    end = min(ends)
    return raw[: end + (4 if raw[end : end + 4] == b"\r\n\r\n" else 2)], True


def parse_message(raw: bytes, *, headers_only: bool = False) -> tuple[EmailMessage, bool]:
    """The parsed message, and False when it was read from its header block alone: nested deeper than
    MAX_MIME_DEPTH (the stdlib parser recurses once per level, and its time grows with depth times size),
    or a body the parser gave up on."""
    if headers_only or not too_deep(raw):
        try:
            return _parse(raw, headers_only=headers_only), True
        except _PARSE_ERRORS:
            pass
    try:
        return _parse(header_block(raw)[0], headers_only=True), False
    except _PARSE_ERRORS:
        return EmailMessage(policy=policy.default), False


_BOUNDARY = re.compile(rb'boundary\s*=\s*(?:"([^"\r\n]*)"|([^\s;"]+))', re.IGNORECASE)


def too_deep(raw: bytes, limit: int = MAX_MIME_DEPTH) -> bool:
    """Whether parts nest deeper than `limit`, found by one linear scan that follows the boundaries the way
    the stdlib parser does (multiparts, and message/* parts whose body is a message again)."""
    lowered = raw.lower()
    if lowered.count(b"boundary") + lowered.count(b"message/") + lowered.count(b"digest") <= limit:
        return False  # the quick answer for nearly all mail: not enough nesting markers to go that deep
    scan = _NestingScan()
    return any(scan.feed(line) > limit for line in raw.splitlines())


class _NestingScan:
    """A small state machine over the lines of a message: the stack of open multipart boundaries and
    message/* parts, as deep as the parser would recurse."""

    def __init__(self) -> None:
        self.stack: list[tuple[bytes | None, bool]] = []  # (boundary or None for message/*, is digest)
        self.in_headers = True
        self.content_type = b""
        self.in_content_type = False

    def feed(self, line: bytes) -> int:
        if self.in_headers:
            self._header_line(line)
        elif line.startswith(b"--"):
            self._boundary_line(line.rstrip())
        return len(self.stack)

    def _header_line(self, line: bytes) -> None:
        if not line.strip():
            self._end_of_headers()
        elif line[:1] in (b" ", b"\t"):
            if self.in_content_type:
                self.content_type += line
        else:
            self.in_content_type = line.lower().startswith(b"content-type:")
            if self.in_content_type:
                self.content_type = line[len(b"content-type:") :]

    def _end_of_headers(self) -> None:
        value = self.content_type
        content_type = value.strip().lower()
        digest = bool(self.stack) and self.stack[-1][1]
        self.in_headers, self.content_type, self.in_content_type = False, b"", False
        if content_type.startswith(b"multipart/"):
            found = _BOUNDARY.search(value)
            if found:
                boundary = found.group(1) if found.group(1) is not None else found.group(2)
                self.stack.append((b"--" + boundary.strip(), content_type.startswith(b"multipart/digest")))
        elif content_type.startswith(b"message/") or (not content_type and digest):
            self.stack.append((None, False))
            self.in_headers = True

    def _boundary_line(self, line: bytes) -> None:
        for depth in range(len(self.stack) - 1, -1, -1):
            boundary = self.stack[depth][0]
            if boundary is None:
                continue
            if line == boundary + b"--":
                del self.stack[depth:]
                return
            if line == boundary:
                del self.stack[depth + 1 :]
                self.in_headers = True
                return


def _parse(raw: bytes, *, headers_only: bool) -> EmailMessage:
    parser = BytesParser(_class=EmailMessage, policy=policy.default)
    message = parser.parsebytes(raw, headersonly=headers_only)
    assert isinstance(message, EmailMessage)
    return message


def walk(message: Message) -> tuple[list[Message], bool]:
    """Every part down to MAX_MIME_DEPTH (at most MAX_PARTS), without recursion; True when some were left
    out."""
    found: list[Message] = []
    pending: list[tuple[Message, int]] = [(message, 0)]
    cut = False
    while pending:
        part, depth = pending.pop()
        if len(found) >= MAX_PARTS:
            return found, True
        found.append(part)
        children = _children(part)
        if children and depth >= MAX_MIME_DEPTH:
            cut = True
            continue
        pending.extend((child, depth + 1) for child in reversed(children))
    return found, cut


def _children(part: Message) -> list[Message]:
    try:
        payload = part.get_payload() if part.is_multipart() else None
    except _PARSE_ERRORS:
        return []
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _leaves(parts: list[Message]) -> list[Message]:
    leaves = []
    for part in parts:
        try:
            if not part.is_multipart():
                leaves.append(part)
        except _PARSE_ERRORS:
            continue
    return leaves


def read_headers(raw: bytes, *, whole: bool, envelope_sender: str = "") -> ParsedHeaders:
    """The index fields of a message: `raw` is the whole message, or (whole=False) its first bytes."""
    flags: set[Flag] = set()
    if whole:
        message, complete = parse_message(raw)
    else:
        block, ended = header_block(raw)
        message, complete = parse_message(block, headers_only=True)
        flags.add(Flag.HEADERS_ONLY)
        if not ended:
            flags.add(Flag.HEADERS_TRUNCATED)
    parts, cut = walk(message) if whole else (list[Message]([message]), False)
    if cut or not complete or _has_defects(message, parts):
        flags.add(Flag.MALFORMED)
    from_header = _header(message, "From")
    message_id = normalize_message_id(_header(message, "Message-ID"))
    if not message_id:
        flags.add(Flag.MISSING_MESSAGE_ID)
    leaves = _leaves(parts) if whole else []
    if any(_is_attachment(part) for part in leaves):
        flags.add(Flag.HAS_ATTACHMENTS)
    if any(_decode_text(part)[1] for part in leaves if _is_text(part)):
        flags.add(Flag.CHARSET_FALLBACK)
    auto = _auto_generated(message, envelope_sender, from_header)
    bounce = _is_bounce(message)
    flags |= {Flag.AUTO_GENERATED} if auto else set()
    flags |= {Flag.BOUNCE} if bounce else set()
    return ParsedHeaders(
        from_address=_address(_parseaddr(from_header)),
        from_header=from_header,
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        reply_to=_addresses(message, "Reply-To"),
        subject=_header(message, "Subject"),
        message_id=message_id,
        in_reply_to=normalize_message_id(_header(message, "In-Reply-To")),
        references=tuple(
            normalize_message_id(r) for r in _header(message, "References").split()[:MAX_REFERENCES]
        ),
        auto_generated=auto,
        bounce=bounce,
        flags=frozenset(flags),
    )


def _header(message: Message, name: str) -> str:
    """A header's decoded value; the raw value when decoding fails; "" when absent."""
    try:
        value = message.get(name)
        text = "" if value is None else str(value)
    except _PARSE_ERRORS:
        text = next((str(v) for k, v in message.raw_items() if k.lower() == name.lower()), "")
    return clean_text(" ".join(text.split())[:MAX_HEADER_CHARS])


def clean_text(text: str) -> str:
    """Valid Unicode only: undecodable bytes the parser kept as surrogates are read as UTF-8, or become
    U+FFFD (a lone surrogate cannot be stored or sent as JSON)."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _parseaddr(value: str) -> str:
    """The address part of a header value ("" when unreadable: nested comments recurse in the stdlib)."""
    try:
        return parseaddr(value)[1]
    except _PARSE_ERRORS:
        return ""


def _address(value: str) -> str:
    try:
        return normalize_address(value) or ""
    except _PARSE_ERRORS:
        return ""


def _addresses(message: Message, name: str) -> tuple[str, ...]:
    found: list[str] = []
    try:
        pairs = getaddresses([_header(message, name)])
    except _PARSE_ERRORS:
        pairs = []
    for _, address in pairs:
        canonical = _address(address)
        if canonical and canonical not in found:
            found.append(canonical)
        if len(found) >= MAX_ADDRESSES:
            break
    return tuple(found)


def _has_defects(message: Message, parts: list[Message]) -> bool:
    try:
        if any(part.defects for part in parts):
            return True
        for _, value in message.items():
            if getattr(value, "defects", ()):
                return True
    except _PARSE_ERRORS:
        return True
    return False


def _auto_generated(message: Message, envelope_sender: str, from_header: str) -> bool:
    auto_submitted = _header(message, "Auto-Submitted").lower()
    if auto_submitted and auto_submitted != "no":
        return True
    sender = envelope_sender.strip().strip("<>").lower()
    if not sender or sender.partition("@")[0] in DAEMON_LOCALS:
        return True
    if _parseaddr(from_header).lower().partition("@")[0] in DAEMON_LOCALS:
        return True
    precedence = _header(message, "Precedence").lower()
    return bool(_header(message, "List-Id")) or precedence in BULK_PRECEDENCE


def _is_bounce(message: Message) -> bool:
    try:
        if message.get_content_type() == "multipart/report":
            return str(message.get_param("report-type", "")).lower() == "delivery-status"
    except _PARSE_ERRORS:
        return False
    return False


def _is_attachment(part: Message) -> bool:
    try:
        disposition = part.get_content_disposition()
        return disposition == "attachment" or bool(part.get_filename())
    except _PARSE_ERRORS:
        return False


def _payload_bytes(part: Message) -> bytes:
    try:
        payload: Any = part.get_payload(decode=True)
    except _PARSE_ERRORS:
        payload = None
    return payload if isinstance(payload, bytes) else b""


def _is_text(part: Message) -> bool:
    try:
        return part.get_content_maintype() == "text" and not _is_attachment(part)
    except _PARSE_ERRORS:
        return False


def _decode_text(part: Message) -> tuple[str, bool]:
    """A text part decoded with its declared charset, and True when that failed and it was read as UTF-8
    with replacement characters instead (any codec failure: unknown, idna, punycode, non-text codecs)."""
    payload = _payload_bytes(part)
    try:
        charset = part.get_content_charset() or "utf-8"
    except _PARSE_ERRORS:
        charset = "?"
    try:
        return payload.decode(charset, errors="replace"), False
    except _CODEC_ERRORS:
        return payload.decode("utf-8", errors="replace"), True


def read_parts(raw: bytes) -> Parts:
    """The text and HTML bodies and the attachment list of a whole message."""
    message, complete = parse_message(raw)
    parts, cut = walk(message)
    text: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    flags: set[Flag] = set() if complete and not cut else {Flag.MALFORMED}
    for part in _leaves(parts):
        content_type = _content_type(part)
        if not _is_text(part):
            attachments.append(Attachment(_filename(part), content_type, len(_payload_bytes(part))))
            continue
        body, fell_back = _decode_text(part)
        if fell_back:
            flags.add(Flag.CHARSET_FALLBACK)
        (html if content_type == "text/html" else text).append(body)
    return Parts(tuple(text), tuple(html), tuple(attachments), frozenset(flags))


def _content_type(part: Message) -> str:
    try:
        return clean_text(part.get_content_type())[:MAX_HEADER_CHARS]
    except _PARSE_ERRORS:
        return "application/octet-stream"


def _filename(part: Message) -> str:
    try:
        return clean_text(part.get_filename() or "")[:MAX_HEADER_CHARS]
    except _PARSE_ERRORS:
        return ""


def header_list(raw: bytes) -> tuple[tuple[str, str], ...]:
    message, _ = parse_message(header_block(raw)[0], headers_only=True)
    try:
        names = list(dict.fromkeys(message.keys()))
    except _PARSE_ERRORS:
        return ()
    return tuple((clean_text(name)[:MAX_HEADER_CHARS], _header(message, name)) for name in names)
