"""What may stand in a header of an outbound message: the characters that break a header, and which
extra header names a client may add.

One place for these rules: the policy decision refuses with them (`header_injection`,
`header_not_allowed`), and `compose` checks them again so that it can never be handed what the stdlib
would reject.
"""

from __future__ import annotations

import re

from litemx.addresses import has_line_break

_SURROGATE = re.compile("[\ud800-\udfff]")
# An extra header: `X-` and a hyphenated token of letters and digits (no TAB, DEL, spaces or colons).
_EXTRA_NAME = re.compile(r"^X-[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$")
# Names a client may add besides X-*: automatic-reply marking and Outlook's conversation threading.
EXTRA_HEADER_NAMES = frozenset({"auto-submitted", "thread-topic", "thread-index"})
# X-SES-* steer SES itself (configuration set, tags, source ARN): only LiteMX sets them.
_RESERVED_PREFIXES = ("x-ses-",)
MAX_HEADER_NAME = 76
MAX_HEADER_VALUE = 998


def breaks_header(value: str) -> bool:
    """True when `value` could end a header line or smuggle another one (see `has_line_break`)."""
    return has_line_break(value)


def has_lone_surrogate(value: str) -> bool:
    """True for text that cannot be encoded (a JSON `\\ud800` escape without its pair)."""
    return _SURROGATE.search(value) is not None


def extra_header_refusal(name: str) -> str | None:
    """Why `name` may not be added as an extra header, or None when it may."""
    lowered = name.lower()
    if len(name) > MAX_HEADER_NAME or breaks_header(name) or has_lone_surrogate(name):
        return f"Header name {name[:80]!r} is not a valid header name."
    if lowered.startswith(_RESERVED_PREFIXES):
        return f"Header {name} is reserved for the provider; LiteMX sets it."
    if lowered in EXTRA_HEADER_NAMES or _EXTRA_NAME.match(name):
        return None
    return (
        f"Header {name[:80]!r} may not be set through `headers`: only X-* (letters, digits and hyphens), "
        "Auto-Submitted, Thread-Topic and Thread-Index may; addresses, the subject and threading go in "
        "their own fields."
    )
