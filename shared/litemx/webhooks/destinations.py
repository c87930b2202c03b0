"""Which URLs LiteMX POSTs webhooks to (SSRF): https only, and only to public addresses.

A URL is checked twice: when it is subscribed and before every attempt. Both times its host name is
resolved and *every* address it resolves to must be public (not private, loopback, link-local, multicast,
reserved, unspecified, shared CGNAT space, or an IPv6 form that embeds such an IPv4 address); the attempt
then connects to the address that was checked, sending the name for TLS (SNI, certificate check) and in
Host, so a DNS answer that changes between the check and the connection (rebinding) is never used.
Numeric host spellings (`2130706433`, `0x7f.1`) need no special case: they resolve to what they mean.

Local mode (`litemx local up`, the tests) may allow `http://127.0.0.1:<port>/...` explicitly; nothing
else changes there.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from litemx.addresses import ascii_domain, has_line_break
from litemx.webhooks.models import DestinationRefusedError, UnresolvableError, WebhookUrlError

MAX_URL_LENGTH = 2048
LOCAL_HOST = "127.0.0.1"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# IANA's IPv4 special-purpose registry, explicitly (Python's is_global has changed between releases and
# lets some through, e.g. 192.0.0.8): none of it hosts a webhook receiver.
_SPECIAL_V4 = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


@dataclass(frozen=True)
class WebhookUrl:
    """A parsed, syntactically acceptable URL: scheme, ASCII host (name or IP literal), port, path."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, at least "/"

    @property
    def local(self) -> bool:
        return self.scheme == "http"


@dataclass(frozen=True)
class Target:
    """A URL with the one address it was vetted for: the attempt connects there and nowhere else."""

    url: WebhookUrl
    address: str


class Resolver(Protocol):
    def resolve(self, host: str, port: int) -> list[str]:
        """Every address `host` resolves to; UnresolvableError when it resolves to none."""
        ...


class SocketResolver:
    """The system resolver (getaddrinfo), TCP addresses only."""

    def resolve(self, host: str, port: int) -> list[str]:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            raise UnresolvableError(f"{host} does not resolve: {error}") from None
        found: list[str] = []
        for info in infos:
            address = str(info[4][0]).partition("%")[0]  # drop an IPv6 zone id
            if address not in found:
                found.append(address)
        if not found:
            raise UnresolvableError(f"{host} resolves to no address")
        return found


def parse_url(url: str, *, allow_local_http: bool = False) -> WebhookUrl:
    """The URL, or WebhookUrlError saying why LiteMX will not call it (never another exception)."""
    if not url or len(url) > MAX_URL_LENGTH or has_line_break(url) or any(c.isspace() for c in url):
        raise WebhookUrlError("a webhook URL is one line of at most 2048 characters without spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
        hostname = parts.hostname or ""
    except ValueError:
        raise WebhookUrlError("the webhook URL is malformed") from None
    scheme = parts.scheme.lower()
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise WebhookUrlError("a webhook URL may not carry a user name or password")
    if parts.fragment:
        raise WebhookUrlError("a webhook URL may not have a #fragment")
    local = allow_local_http and scheme == "http" and hostname == LOCAL_HOST
    if scheme != "https" and not local:
        raise WebhookUrlError("a webhook URL must be https://")
    host = _host(hostname)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return WebhookUrl(scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80), path=path)


def _host(hostname: str) -> str:
    try:
        return str(ipaddress.ip_address(hostname))
    except ValueError:
        pass
    host = ascii_domain(hostname)
    if host is None:
        raise WebhookUrlError(f"{hostname[:100]!r} is not a host name")
    return host


def refusal(address: IPAddress) -> str | None:
    """Why LiteMX never connects to `address` (None: a public unicast address)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = refusal(embedded)
            return f"IPv6 form of {embedded}: {inner}" if inner else None
        if address in _NAT64_LOCAL or address.teredo is not None:
            return "a translated IPv6 address"
    checks = (
        (address.is_loopback, "loopback"),
        (address.is_private, "private"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_reserved, "reserved"),
        (address.is_unspecified, "unspecified"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "shared (CGNAT)"),
        (
            isinstance(address, ipaddress.IPv4Address) and any(address in n for n in _SPECIAL_V4),
            "special-purpose",
        ),
        (isinstance(address, ipaddress.IPv6Address) and address.is_site_local, "site-local"),
        (not address.is_global, "not globally routable"),
    )
    for refused, reason in checks:
        if refused:
            return reason
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64
    (64:ff9b::a.b.c.d) or 6to4 (2002:aabb:ccdd::)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    packed = address.packed
    if address in _NAT64 or (packed[:12] == bytes(12) and int(address) > 1):
        return ipaddress.IPv4Address(packed[12:])
    return None


def check_address(text: str, url: WebhookUrl, *, allow_local_http: bool) -> None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise DestinationRefusedError(f"{url.host} resolves to {text[:60]!r}, not an address") from None
    if allow_local_http and url.local and str(address) == LOCAL_HOST:
        return
    reason = refusal(address)
    if reason is not None:
        raise DestinationRefusedError(f"{url.host} resolves to {address}, a {reason} address")


def vet(url: WebhookUrl, resolver: Resolver, *, allow_local_http: bool = False) -> Target:
    """Resolve the host and check every address it has; the target connects to the first one."""
    if url.local and not allow_local_http:
        raise WebhookUrlError("a webhook URL must be https://")
    addresses = resolver.resolve(url.host, url.port)
    for address in addresses:
        check_address(address, url, allow_local_http=allow_local_http)
    return Target(url=url, address=addresses[0])


def vet_url(url: str, resolver: Resolver, *, allow_local_http: bool = False) -> Target:
    return vet(parse_url(url, allow_local_http=allow_local_http), resolver, allow_local_http=allow_local_http)
