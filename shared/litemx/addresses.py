"""Mail address syntax and normalisation (RFC 5321/5322 dot-atom local parts, IDN domains)."""

from __future__ import annotations

import re

# RFC 5322 atext, plus any non-ASCII character (SMTPUTF8 local parts).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
_DOT_ATOM = re.compile(rf"^{_ATEXT}+(\.{_ATEXT}+)*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_MAX_ADDRESS = 254
_MAX_LOCAL = 64
_FORBIDDEN = ("\r", "\n", "\x00")


def has_line_break(value: str) -> bool:
    """True when a value could smuggle extra headers or SMTP commands (CR, LF or NUL)."""
    return any(character in value for character in _FORBIDDEN)


def ascii_domain(domain: str) -> str | None:
    """The domain in lower-case ASCII (IDNA/punycode), or None when it is not a valid host name."""
    domain = domain.rstrip(".").lower()
    if not domain or "." not in domain:
        return None
    try:
        encoded = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = encoded.split(".")
    if len(encoded) > 253 or not all(_LABEL.match(label) for label in labels):
        return None
    if labels[-1].isdigit():
        return None
    return encoded


def normalize_address(address: str) -> str | None:
    """The canonical form used as a key (lower-cased, ASCII domain), or None when invalid."""
    address = address.strip()
    if has_line_break(address) or address.count("@") != 1:
        return None
    local, _, domain = address.rpartition("@")
    if not local or len(local) > _MAX_LOCAL or not _DOT_ATOM.match(local):
        return None
    host = ascii_domain(domain)
    if host is None:
        return None
    canonical = f"{local.lower()}@{host}"
    if len(canonical) > _MAX_ADDRESS:
        return None
    return canonical


def domain_of(address: str) -> str:
    return address.rpartition("@")[2]
