"""The SES receipt-rule Lambda event, parsed tolerantly into `Receipt`s.

Powertools' SesModel requires fields real mail may lack (a Message-ID, a To header) and ignores the DKIM
verdict and the DMARC policy, so LiteMX declares the parts it uses; anything else SES sends is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from litemx.inbound.models import MAX_SES_MESSAGE_ID, Receipt, Verdicts


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SesVerdict(_Tolerant):
    status: str = Field(default="GRAY", max_length=64)


class SesReceiptInfo(_Tolerant):
    timestamp: datetime | None = None
    recipients: list[str]
    spamVerdict: SesVerdict = Field(default_factory=SesVerdict)
    virusVerdict: SesVerdict = Field(default_factory=SesVerdict)
    spfVerdict: SesVerdict = Field(default_factory=SesVerdict)
    dkimVerdict: SesVerdict = Field(default_factory=SesVerdict)
    dmarcVerdict: SesVerdict = Field(default_factory=SesVerdict)
    dmarcPolicy: str | None = Field(default=None, max_length=64)


class SesReceivedMail(_Tolerant):
    timestamp: datetime
    messageId: str = Field(min_length=1, max_length=MAX_SES_MESSAGE_ID, pattern=r"^[A-Za-z0-9._-]+$")
    source: str = ""
    destination: list[str] = Field(default_factory=list)


class SesReceiptMessage(_Tolerant):
    mail: SesReceivedMail
    receipt: SesReceiptInfo


class SesReceiptRecord(_Tolerant):
    eventSource: str = "aws:ses"
    ses: SesReceiptMessage


class SesReceiptEvent(_Tolerant):
    Records: list[SesReceiptRecord]


@dataclass(frozen=True)
class ParsedEvent:
    """The receipts an invocation carries, and why each record that carries none was set aside."""

    receipts: tuple[Receipt, ...] = ()
    unusable: tuple[str, ...] = ()


def parse_event(event: object) -> ParsedEvent:
    """Any invocation payload -> its receipts; never raises (each record is validated on its own)."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        return ParsedEvent(unusable=("the event has no Records list",))
    found: list[Receipt] = []
    unusable: list[str] = []
    for n, record in enumerate(records):
        try:
            found.extend(receipts(SesReceiptEvent(Records=[SesReceiptRecord.model_validate(record)])))
        except ValidationError as invalid:
            fields = ",".join(sorted({".".join(str(p) for p in e["loc"]) for e in invalid.errors()}))
            unusable.append(f"record {n} is not an SES receipt ({fields[:500]})")
    return ParsedEvent(tuple(found), tuple(unusable))


def receipts(event: SesReceiptEvent) -> list[Receipt]:
    found = []
    for record in event.Records:
        mail, receipt = record.ses.mail, record.ses.receipt
        found.append(
            Receipt(
                ses_message_id=mail.messageId,
                received_at=mail.timestamp,
                recipients=tuple(receipt.recipients),
                envelope_sender=mail.source,
                verdicts=Verdicts(
                    spam=receipt.spamVerdict.status,
                    virus=receipt.virusVerdict.status,
                    spf=receipt.spfVerdict.status,
                    dkim=receipt.dkimVerdict.status,
                    dmarc=receipt.dmarcVerdict.status,
                    dmarc_policy=receipt.dmarcPolicy,
                ),
            )
        )
    return found
