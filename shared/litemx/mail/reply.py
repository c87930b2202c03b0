"""Building a reply from a received message: its recipients, subject, threading headers and quote.

Pure and total: whatever the original's headers hold (folded, encoded, missing, thousands of References,
the mailbox itself among the recipients), the answer is a Draft the policy decision and `compose` judge
like any send; nothing here raises. The recipients are the thread's participants only (Reply-To or From,
and with `reply_all` the original's To and Cc), so a `send:reply` token's reply-only rule holds by
construction: the inbound side recorded exactly these people as the message's participants when it
received it with a reply right (litemx.inbound.logic.learn).
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from litemx.addresses import normalize_address
from litemx.mail.compose import Attachment, Draft
from litemx.mail.headers import has_lone_surrogate

# Reply prefixes mail clients write (English, German, Nordic, Dutch, Polish, French, Italian, Spanish,
# Portuguese), with an optional counter (`Re[2]:`, `Re(3):`); `Fwd:` is not a reply prefix and stays.
_PREFIX = re.compile(
    r"^\s*(?:re|aw|sv|vs|antw|odp|ref|r|rif|ri|res)\s*(?:\[\d{1,4}\]|\(\d{1,4}\))?\s*:", re.IGNORECASE
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # as litemx.addresses.has_line_break, and TAB
# A Message-ID kept in References: visible ASCII without angle brackets or blanks, at most this long.
_MSG_ID = re.compile(r"^[\x21-\x3b\x3d\x3f-\x7e]{1,250}$")
MAX_SUBJECT = 900  # the API accepts 998; a reply adds "Re: " and stays well inside
MAX_REFERENCES = 20  # the thread's root and the most recent ones (RFC 5322 3.6.4 allows trimming)
MAX_QUOTE_CHARS = 64 * 1024


@dataclass(frozen=True)
class Original:
    """What a reply needs of the received message (the read API's index entry, and its text if read)."""

    mailbox: str  # the mailbox that received it: never a recipient of its own reply
    from_address: str = ""
    reply_to: tuple[str, ...] = ()
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    subject: str = ""
    message_id: str = ""  # without angle brackets ("" when it had none)
    references: tuple[str, ...] = ()
    in_reply_to: str = ""
    from_header: str = ""
    received_at: datetime | None = None
    text: str = ""  # its first text part, for the quote ("" when not read)


@dataclass(frozen=True)
class ReplyRequest:
    text: str | None = None
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    reply_all: bool = False
    quote: bool = False
    exclude: tuple[str, ...] = ()  # participants to leave out (e.g. one who is suppressed)


def reply_subject(subject: str) -> str:
    """`Re: ` and the original subject without its reply prefixes (however many, in whatever language
    or case), on one line and bounded."""
    flat = " ".join(_CONTROL.sub(" ", _valid(subject)).split())
    while True:
        stripped = _PREFIX.sub("", flat, count=1).strip()
        if stripped == flat:
            break
        flat = stripped
    return f"Re: {flat[:MAX_SUBJECT]}".rstrip()


def _valid(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8") if has_lone_surrogate(text) else text


def _self(address: str, mailbox: str) -> bool:
    """The mailbox itself, also under a +tag (mail routed to `box+tag@` reaches `box@`)."""
    local, _, domain = address.rpartition("@")
    return f"{local.partition('+')[0] or local}@{domain}" == mailbox or address == mailbox


def _addresses(values: Iterable[str], mailbox: str, excluded: set[str]) -> list[str]:
    found: list[str] = []
    for value in values:
        canonical = normalize_address(value) if not has_lone_surrogate(value) else None
        if canonical is None or canonical in excluded or _self(canonical, mailbox) or canonical in found:
            continue
        found.append(canonical)
    return found


def reply_recipients(
    original: Original, *, reply_all: bool, exclude: Sequence[str] = ()
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(To, Cc): Reply-To, else From; with `reply_all` also the original's To and Cc. Never the mailbox
    itself, never an invalid address, never an excluded one, nobody twice. When the original came from
    the mailbox itself (its own message sent back to it), the reply goes to the original's To."""
    mailbox = normalize_address(original.mailbox) or original.mailbox
    excluded = {a for a in (normalize_address(x) for x in exclude if not has_lone_surrogate(x)) if a}
    mailbox_self = original.from_address and _self(normalize_address(original.from_address) or "", mailbox)
    direct = original.reply_to or (() if mailbox_self else (original.from_address,))
    to = _addresses(direct, mailbox, excluded)
    if not to and mailbox_self:
        to = _addresses(original.to, mailbox, excluded)
    if not reply_all:
        return tuple(to), ()
    cc = [a for a in _addresses((*original.to, *original.cc), mailbox, excluded) if a not in to]
    return tuple(to), tuple(cc)


def _message_id(value: str) -> str | None:
    bare = value.strip().removeprefix("<").removesuffix(">").strip()
    return bare if _MSG_ID.match(bare) else None


def reply_threading(original: Original) -> tuple[str | None, tuple[str, ...]]:
    """(In-Reply-To, References), with angle brackets: the original's Message-ID, and its References
    (else its In-Reply-To) followed by its Message-ID, trimmed to the thread's root and the most recent.
    Ids that could not stand in a header are left out."""
    own = _message_id(original.message_id)
    earlier = original.references or ((original.in_reply_to,) if original.in_reply_to else ())
    chain: list[str] = []
    for raw in earlier:
        for part in raw.split():
            bare = _message_id(part)
            if bare is not None and bare not in chain:
                chain.append(bare)
    if own:  # last, even when the References already named it (a loop)
        chain = [*(i for i in chain if i != own), own]
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return (f"<{own}>" if own else None), tuple(f"<{i}>" for i in chain)


def quoted(original: Original) -> str:
    """The original's text as a quote: an attribution line, then each line behind `> `, bounded."""
    body = _valid(original.text)[:MAX_QUOTE_CHARS]
    who = " ".join(_CONTROL.sub(" ", _valid(original.from_header or original.from_address)).split())[:320]
    when = f"On {original.received_at:%a, %d %b %Y %H:%M} UTC, " if original.received_at else ""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    quote = "\n".join(f"> {line}".rstrip() for line in lines)
    return f"{when}{who or 'the sender'} wrote:\n{quote}"


def reply_draft(original: Original, request: ReplyRequest) -> Draft:
    """The Draft of the reply: From the mailbox, to the thread's participants, threaded and, when asked
    and the original's text is at hand, with the original quoted under the text (and the HTML)."""
    to, cc = reply_recipients(original, reply_all=request.reply_all, exclude=request.exclude)
    in_reply_to, references = reply_threading(original)
    text, html = request.text, request.html
    if request.quote and original.text.strip():
        quote = quoted(original)
        if text is not None:
            text = f"{text}\n\n{quote}".lstrip("\n")
        if html is not None:
            html = f"{html}\n<blockquote>{html_lib.escape(quote).replace(chr(10), '<br>')}</blockquote>"
    return Draft(
        from_address=original.mailbox,
        to=to,
        cc=cc,
        subject=reply_subject(original.subject),
        text=text,
        html=html,
        in_reply_to=in_reply_to,
        references=references,
        attachments=request.attachments,
    )
