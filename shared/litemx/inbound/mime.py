"""Reading received mail with the stdlib email package (policy.default), tolerantly.

Mail from the internet is often broken: undecodable charsets, bad encoded words, unterminated multiparts,
headers that make the header parser raise. Whatever can be read is kept and the message is flagged
`malformed`; nothing here raises on bad input. Messages larger than `max_parse_bytes` are indexed from
their header block alone (read with a ranged GET), so their size never matters.
"""

from __future__ import annotations

from email import policy
from email.errors import HeaderParseError, MessageError
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from typing import Any

from litemx.addresses import normalize_address
from litemx.inbound.models import Attachment, Flag, ParsedHeaders

HEADER_READ_BYTES = 256 * 1024
BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
DAEMON_LOCALS = frozenset({"mailer-daemon", "postmaster"})
MAX_REFERENCES = 50
MAX_HEADER_CHARS = 2_000
# What the header and content machinery of policy.default raises on hostile input.
_PARSE_ERRORS = (
    HeaderParseError,
    MessageError,
    ValueError,
    IndexError,
    TypeError,
    AttributeError,
    LookupError,
)


def header_block(raw: bytes) -> tuple[bytes, bool]:
    """The header block of a raw message (up to and including the blank line), and whether it ended."""
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    if not ends:
        return raw, False
    end = min(ends)
    return raw[: end + (4 if raw[end : end + 4] == b"\r\n\r\n" else 2)], True


def parse_message(raw: bytes, *, headers_only: bool = False) -> EmailMessage:
    parser = BytesParser(_class=EmailMessage, policy=policy.default)
    message = parser.parsebytes(raw, headersonly=headers_only)
    assert isinstance(message, EmailMessage)
    return message


def read_headers(raw: bytes, *, whole: bool, envelope_sender: str = "") -> ParsedHeaders:
    """The index fields of a message: `raw` is the whole message, or (whole=False) its first bytes."""
    flags: set[Flag] = set()
    if whole:
        message = parse_message(raw)
    else:
        block, complete = header_block(raw)
        message = parse_message(block, headers_only=True)
        flags.add(Flag.HEADERS_ONLY)
        if not complete:
            flags.add(Flag.HEADERS_TRUNCATED)
    if _has_defects(message, whole=whole):
        flags.add(Flag.MALFORMED)
    from_header = _header(message, "From")
    message_id = _angle_id(_header(message, "Message-ID"))
    if not message_id:
        flags.add(Flag.MISSING_MESSAGE_ID)
    if whole and any(_is_attachment(part) for part in _leaves(message)):
        flags.add(Flag.HAS_ATTACHMENTS)
    auto = _auto_generated(message, envelope_sender, from_header)
    bounce = _is_bounce(message)
    flags |= {Flag.AUTO_GENERATED} if auto else set()
    flags |= {Flag.BOUNCE} if bounce else set()
    return ParsedHeaders(
        from_address=normalize_address(parseaddr(from_header)[1]) or "",
        from_header=from_header,
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        reply_to=_addresses(message, "Reply-To"),
        subject=_header(message, "Subject"),
        message_id=message_id,
        in_reply_to=_angle_id(_header(message, "In-Reply-To")),
        references=tuple(_angle_id(r) for r in _header(message, "References").split())[:MAX_REFERENCES],
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
    return " ".join(text.split())[:MAX_HEADER_CHARS]


def _addresses(message: Message, name: str) -> tuple[str, ...]:
    found: list[str] = []
    for _, address in getaddresses([_header(message, name)]):
        canonical = normalize_address(address)
        if canonical and canonical not in found:
            found.append(canonical)
    return tuple(found)


def _angle_id(value: str) -> str:
    return value.strip().removeprefix("<").removesuffix(">").strip()


def _leaves(message: Message) -> list[Message]:
    try:
        return [part for part in message.walk() if not part.is_multipart()]
    except _PARSE_ERRORS:
        return []


def _has_defects(message: Message, *, whole: bool) -> bool:
    try:
        parts = list(message.walk()) if whole else [message]
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
    if parseaddr(from_header)[1].lower().partition("@")[0] in DAEMON_LOCALS:
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


def _text(part: Message) -> str:
    """A text part decoded with its declared charset; undecodable bytes are replaced, never fatal."""
    payload = _payload_bytes(part)
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return payload.decode("utf-8", errors="replace")


def read_parts(raw: bytes) -> tuple[tuple[str, ...], tuple[str, ...], tuple[Attachment, ...]]:
    """The text and HTML bodies and the attachment list of a whole message."""
    message = parse_message(raw)
    text: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    for part in _leaves(message):
        content_type = part.get_content_type()
        if _is_attachment(part) or not content_type.startswith("text/"):
            filename = ""
            try:
                filename = part.get_filename() or ""
            except _PARSE_ERRORS:
                filename = ""
            attachments.append(Attachment(filename, content_type, len(_payload_bytes(part))))
        elif content_type == "text/html":
            html.append(_text(part))
        else:
            text.append(_text(part))
    return tuple(text), tuple(html), tuple(attachments)


def header_list(raw: bytes) -> tuple[tuple[str, str], ...]:
    message = parse_message(header_block(raw)[0], headers_only=True)
    return tuple((name, _header(message, name)) for name in dict.fromkeys(message.keys()))
