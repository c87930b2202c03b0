"""The DNS records an operator publishes for a mail domain (pure: no AWS here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DnsRecord:
    type: str
    name: str
    value: str
    purpose: str


def records_for(domain: str, region: str, dkim_tokens: tuple[str, ...]) -> list[DnsRecord]:
    """MX to SES inbound, the Easy DKIM CNAMEs, SPF and DMARC for `domain` in `region`."""
    records = [DnsRecord("MX", domain, f"10 inbound-smtp.{region}.amazonaws.com", "receive mail with SES")]
    records += [
        DnsRecord("CNAME", f"{token}._domainkey.{domain}", f"{token}.dkim.amazonses.com", "Easy DKIM")
        for token in dkim_tokens
    ]
    records += [
        DnsRecord("TXT", domain, '"v=spf1 include:amazonses.com ~all"', "SPF"),
        DnsRecord("TXT", f"_dmarc.{domain}", f'"v=DMARC1; p=quarantine; rua=mailto:dmarc@{domain}"', "DMARC"),
    ]
    return records
