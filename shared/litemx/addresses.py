"""Mail address syntax and normalisation (RFC 5321/5322 dot-atom local parts, IDN domains).

Two forms of an address are used as keys:
- the canonical address (`normalize_address`): lower-cased, the domain in ASCII under IDNA 2008 with
  UTS #46 mapping (the `idna` package; Python's own `idna` codec is IDNA 2003 and maps `straße` to
  `strasse`, a different domain). It is what is sent to and what caps count.
- the person key (`person_key`): the canonical address without its `+tag`, and for mailbox providers
  that ignore dots in local parts (gmail.com, googlemail.com) without dots and on gmail.com. Every
  variant that reaches the same inbox has the same person key; suppression, correspondents and contact
  marks are keyed by it, so `name+1@` and `n.ame@gmail.com` are the person `name@` suppressed or mailed.
"""

from __future__ import annotations

import re

import idna

# RFC 5322 atext, plus any non-ASCII character (SMTPUTF8 local parts).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
_DOT_ATOM = re.compile(rf"^{_ATEXT}+(\.{_ATEXT}+)*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_MAX_ADDRESS = 254
_MAX_LOCAL = 64
_FORBIDDEN = ("\r", "\n", "\x00")
# Mailbox providers that deliver `n.a.me@` to `name@`; the first is the domain both are keyed under.
DOTLESS_DOMAINS = ("gmail.com", "googlemail.com")


def has_line_break(value: str) -> bool:
    """True when a value could smuggle extra headers or SMTP commands (CR, LF or NUL)."""
    return any(character in value for character in _FORBIDDEN)


def _to_ascii(domain: str) -> str | None:
    if domain.isascii() and "xn--" not in domain:
        return domain  # plain LDH labels: nothing to map (the label check below validates them)
    try:
        return idna.encode(domain, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return None


def ascii_domain(domain: str) -> str | None:
    """The domain in lower-case ASCII (IDNA 2008 / UTS #46 A-labels), or None when it is not a valid
    host name."""
    domain = domain.rstrip(".").lower()
    if not domain or "." not in domain:
        return None
    encoded = _to_ascii(domain)
    if encoded is None:
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


def person_key(canonical: str) -> str:
    """The inbox a canonical address reaches: without `+tag`, and without dots at gmail.com (and its
    alias googlemail.com). A local part that is only a tag (`+x@`) is kept as it is."""
    local, _, domain = canonical.rpartition("@")
    base = local.partition("+")[0] or local
    if domain in DOTLESS_DOMAINS:
        base = base.replace(".", "") or base
        domain = DOTLESS_DOMAINS[0]
    return f"{base}@{domain}"


def person_of(address: str) -> str | None:
    """The person key of any address, or None when it is not a valid address."""
    canonical = normalize_address(address)
    return None if canonical is None else person_key(canonical)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2]
