"""Content fingerprints for fan-out detection: the same text to many first contacts is a campaign.

A body is normalised (quoted lines, the salutation line and signatures dropped; URLs, addresses and
numbers replaced by placeholders; case, accents' compatibility forms and punctuation folded), cut into
word 2-grams, and hashed with MinHash (BANDS x ROWS independent keyed hashes, the minimum over the
shingles each). The fingerprint is BANDS band values, each a hash of ROWS minima: two bodies whose
shingle sets have Jaccard similarity J share a given band with probability J**ROWS, so personalised
copies of one template ("Hi Bob" / "Hi Ann", a ticket number, a company name) share most bands, and two
unrelated replies almost never share one. Each band value is one counter per account and UTC day
(litemx.quotas.models.fanout_slots); the decision counts a message's first contacts against all of its
bands. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import unicodedata
from html.parser import HTMLParser

BANDS = 4
ROWS = 2
MIN_TOKENS = 4  # below this, a body has no fingerprint ("Thanks!" is not a campaign)
MAX_CHARS = 200_000  # only the start of a very long body is fingerprinted

_QUOTE_HEADER = re.compile(r"^\s*(on\b.{0,200}\bwrote:|-{2,}\s*original message\s*-{2,})\s*$", re.I)
_SALUTATION = re.compile(
    r"^\s*(hi|hello|hey|dear|greetings|good (morning|afternoon|evening))\b[^\n]{0,60}$", re.I
)
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.I)
_EMAIL = re.compile(r"\S+@\S+")
_NUMBER = re.compile(r"\d[\d.,:/-]*")
_WORD = re.compile(r"\w+")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "li", "tr", "blockquote"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_text(html: str) -> str:
    parser = _Text()
    try:
        parser.feed(html[:MAX_CHARS])
        parser.close()
    except (AssertionError, ValueError):  # HTMLParser on hostile input
        return ""
    return "".join(parser.parts)


def tokens(text: str) -> list[str]:
    """The words a fingerprint is built from."""
    lines = unicodedata.normalize("NFKC", text[:MAX_CHARS]).replace("\r", "").split("\n")
    kept: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped in ("--", "-- ") or _QUOTE_HEADER.match(stripped):
            break  # a signature or the quoted original starts here
        if stripped.startswith(">"):
            continue
        if not kept and not stripped:
            continue
        if not kept and _SALUTATION.match(stripped):
            kept.append("")  # the salutation names the recipient: not content
            continue
        kept.append(stripped)
    body = " ".join(kept).casefold()
    body = _NUMBER.sub(" 0 ", _EMAIL.sub(" email ", _URL.sub(" url ", body)))
    return _WORD.findall(body)


def _shingles(words: list[str]) -> set[bytes]:
    if len(words) < 2:
        return {w.encode() for w in words}
    return {f"{a} {b}".encode() for a, b in itertools.pairwise(words)}


def _minimum(shingles: set[bytes], seed: int) -> int:
    key = seed.to_bytes(8, "big")
    return min(int.from_bytes(hashlib.blake2b(s, digest_size=8, key=key).digest(), "big") for s in shingles)


def fingerprint(text: str) -> tuple[str, ...]:
    """BANDS band values (hex, prefixed with the band number), or () for a body too short to judge."""
    words = tokens(text)
    if len(words) < MIN_TOKENS:
        return ()
    shingles = _shingles(words)
    minima = [_minimum(shingles, seed) for seed in range(BANDS * ROWS)]
    bands = []
    for band in range(BANDS):
        rows = minima[band * ROWS : (band + 1) * ROWS]
        digest = hashlib.blake2b(b"".join(m.to_bytes(8, "big") for m in rows), digest_size=8).hexdigest()
        bands.append(f"{band}-{digest}")
    return tuple(bands)


def body_text(text: str | None, html: str | None) -> str:
    """What is fingerprinted: the text part, else the text of the HTML part."""
    if text:
        return text
    return html_text(html) if html else ""
