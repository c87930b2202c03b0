"""The audit entry of an outbound message's transition (sent, failed, cancelled, …).

Its own module, not the send path's (litemx.outbound.service, which re-exports it): the sender writes these
entries, and loading the policy, MIME and upload modules of accepting a send only to build them would cost
its cold start for nothing.
"""

from __future__ import annotations

from datetime import datetime

from litemx.audit.models import AuditRecord
from litemx.messages.models import OutboundMessage


def message_audit(message: OutboundMessage, event: str, at: datetime, **details: str) -> AuditRecord:
    return AuditRecord(
        account_id=message.account_id,
        at=at,
        request_id=f"{message.message_id}:{event}:{message.attempts}",
        event=event,
        actor=message.token_id,
        outcome=message.status.value,
        reason_code=message.reason_code,
        message=message.reason or "",
        mailbox=message.mailbox,
        recipients_count=len(message.recipients),
        details={"message_id": message.message_id, **details},
    )
