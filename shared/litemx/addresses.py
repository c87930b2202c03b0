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
from dataclasses import dataclass

# RFC 5322 atext, plus non-ASCII characters (SMTPUTF8 local parts) other than C1 controls, line and
# paragraph separators and surrogates: written as what it excludes (ASCII controls, space and specials,
# DEL and C1, U+2028/U+2029, surrogates), the same set as `[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u00a0-\u2027
# \u202a-\ud7ff\ue000-\U0010ffff]` but compiled in 1 ms instead of 8 at every cold start.
_ATEXT = r"[^\x00-\x20\"(),.:;<>@\[\\\]\x7f-\x9f\u2028\u2029\ud800-\udfff]"
_DOT_ATOM = re.compile(rf"^{_ATEXT}+(\.{_ATEXT}+)*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_MAX_ADDRESS = 254
_MAX_LOCAL = 64
# Characters that end a header line for some reader: CR, LF, NUL, VT, FF, the C1 NEL (U+0085), the
# Unicode line and paragraph separators; the other C0 controls, DEL and C1 controls with them. TAB is
# folding white space.
_BREAKERS = re.compile("[\x00-\x08\x0a-\x1f\x7f\x80-\x9f\u2028\u2029]")
# Mailbox providers that deliver `n.a.me@` to `name@`; the first is the domain both are keyed under.
DOTLESS_DOMAINS = ("gmail.com", "googlemail.com")


def has_line_break(value: str) -> bool:
    """True when a value could smuggle extra headers or SMTP commands (CR, LF, NUL, VT, FF, NEL,
    U+2028/U+2029 or another control character)."""
    return _BREAKERS.search(value) is not None


def _to_ascii(domain: str) -> str | None:
    if domain.isascii() and "xn--" not in domain:
        return domain  # plain LDH labels: nothing to map (the label check below validates them)
    import idna  # only an internationalized domain needs it: a cold start imports it on first use

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
    if has_line_break(address):  # before strip(), which would drop a trailing LF, NEL or U+2028
        return None
    address = address.strip()
    if address.count("@") != 1:
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


@dataclass(frozen=True)
class RecipientSet:
    """to, cc and bcc normalised and deduplicated across all three (an address keeps its first place:
    to before cc before bcc), and the entries that are not addresses at all, as given."""

    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[str, ...]:
        return self.to + self.cc + self.bcc


def recipient_set(to: tuple[str, ...], cc: tuple[str, ...], bcc: tuple[str, ...]) -> RecipientSet:
    """The one recipient set that feeds the caps, the To/Cc headers and the provider's destinations."""
    seen: set[str] = set()
    fields: list[list[str]] = [[], [], []]
    invalid: list[str] = []
    for place, addresses in enumerate((to, cc, bcc)):
        for raw in addresses:
            canonical = normalize_address(raw)
            if canonical is None:
                invalid.append(raw)
            elif canonical not in seen:
                seen.add(canonical)
                fields[place].append(canonical)
    return RecipientSet(tuple(fields[0]), tuple(fields[1]), tuple(fields[2]), tuple(invalid))
