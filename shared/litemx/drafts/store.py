"""Drafts in the directory table (pk `DRAFT#<id>`, sk `DRAFT#<mailbox>#<id>`), listed per account on its
by_account index. Every change of a draft is conditional on its status, so that a sent draft never
changes again and a refusal never lands on a draft another approval just sent."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError
from pynamodb.expressions.condition import Condition

from litemx.drafts.models import (
    MAX_LISTED_DRAFTS,
    DraftNotFoundError,
    DraftNotPendingError,
    DraftRefusal,
    DraftStatus,
    StoredDraft,
    content_from_json,
    content_json,
)
from litemx.mail.compose import Draft
from litemx.storage.tables import DirectoryTable, DraftRecord

_CONDITION_FAILED = "ConditionalCheckFailedException"


def draft_key(draft_id: str, mailbox: str) -> tuple[str, str]:
    return f"DRAFT#{draft_id}", f"DRAFT#{mailbox}#{draft_id}"


def _record(draft: StoredDraft) -> DraftRecord:
    pk, sk = draft_key(draft.draft_id, draft.mailbox)
    refusal = draft.refusal
    return DraftRecord(
        pk,
        sk,
        account_id=draft.account_id,
        mailbox=draft.mailbox,
        token_id=draft.token_id,
        status=draft.status.value,
        content=content_json(draft.content),
        reply_of=draft.reply_of,
        message_id=draft.message_id,
        refusal_code=refusal.code if refusal else None,
        refusal_message=refusal.message if refusal else None,
        refused_at=refusal.at if refusal else None,
        refused_by=refusal.by if refusal else None,
        approved_by=draft.approved_by,
        sent_at=draft.sent_at,
        created_at=draft.created_at,
        updated_at=draft.updated_at,
    )


def _draft(record: DraftRecord) -> StoredDraft:
    refusal = None
    if record.refusal_code and record.refused_at is not None:
        refusal = DraftRefusal(
            record.refusal_code, record.refusal_message or "", record.refused_at, record.refused_by or ""
        )
    status = DraftStatus.SENT if record.status == DraftStatus.SENT.value else DraftStatus.PENDING
    return StoredDraft(
        draft_id=record.pk.removeprefix("DRAFT#"),
        account_id=record.account_id or "",
        mailbox=record.mailbox,
        token_id=record.token_id,
        content=content_from_json(record.content),
        created_at=record.created_at,
        updated_at=record.updated_at,
        message_id=record.message_id,
        status=status,
        reply_of=record.reply_of,
        refusal=refusal,
        approved_by=record.approved_by,
        sent_at=record.sent_at,
    )


def _pending() -> Condition:
    return DraftRecord.status == DraftStatus.PENDING.value


class DynamoDraftStore:
    def create(self, draft: StoredDraft) -> None:
        _record(draft).save(condition=DraftRecord.pk.does_not_exist())

    def get(self, mailbox: str, draft_id: str) -> StoredDraft:
        pk, sk = draft_key(draft_id, mailbox)
        try:
            return _draft(DraftRecord.get(pk, sk, consistent_read=True))
        except DoesNotExist:
            raise DraftNotFoundError(f"{mailbox} has no draft {draft_id[:80]}") from None

    def find(self, draft_id: str) -> StoredDraft:
        for record in DraftRecord.query(f"DRAFT#{draft_id}", limit=1, consistent_read=True):
            return _draft(record)
        raise DraftNotFoundError(f"there is no draft {draft_id[:80]}")

    def list(self, account_id: str, mailbox: str | None = None) -> list[StoredDraft]:
        prefix = f"DRAFT#{mailbox}#" if mailbox else "DRAFT#"
        records = DraftRecord.query(
            account_id,
            DraftRecord.sk.startswith(prefix),
            index_name=DirectoryTable.by_account.Meta.index_name,
            scan_index_forward=False,
            limit=MAX_LISTED_DRAFTS,
        )
        return [_draft(r) for r in records]

    def replace_content(self, draft: StoredDraft, content: Draft, *, now: datetime) -> StoredDraft:
        record = _record(draft)
        try:
            record.update(
                actions=[
                    DraftRecord.content.set(content_json(content)),
                    DraftRecord.updated_at.set(now),
                    DraftRecord.refusal_code.remove(),
                    DraftRecord.refusal_message.remove(),
                    DraftRecord.refused_at.remove(),
                    DraftRecord.refused_by.remove(),
                ],
                condition=_pending(),
            )
        except UpdateError as error:
            if error.cause_response_code == _CONDITION_FAILED:
                raise DraftNotPendingError(f"draft {draft.draft_id} was sent or discarded") from error
            raise
        return _draft(record)

    def delete(self, draft: StoredDraft) -> None:
        try:
            _record(draft).delete(condition=DraftRecord.pk.exists())
        except DeleteError as error:
            if error.cause_response_code == _CONDITION_FAILED:
                raise DraftNotFoundError(f"there is no draft {draft.draft_id}") from error
            raise

    def record_refusal(self, draft: StoredDraft, refusal: DraftRefusal, *, message_id: str) -> bool:
        try:
            _record(draft).update(
                actions=[
                    DraftRecord.refusal_code.set(refusal.code),
                    DraftRecord.refusal_message.set(refusal.message[:2000]),
                    DraftRecord.refused_at.set(refusal.at),
                    DraftRecord.refused_by.set(refusal.by),
                    DraftRecord.message_id.set(message_id),
                ],
                condition=_pending(),
            )
        except UpdateError as error:
            if error.cause_response_code == _CONDITION_FAILED:
                return False
            raise
        return True

    def mark_sent(self, draft: StoredDraft, *, approved_by: str, at: datetime) -> StoredDraft:
        record = _record(draft)
        try:
            record.update(
                actions=[
                    DraftRecord.status.set(DraftStatus.SENT.value),
                    DraftRecord.approved_by.set(approved_by),
                    DraftRecord.sent_at.set(at),
                    DraftRecord.updated_at.set(at),
                    DraftRecord.refusal_code.remove(),
                    DraftRecord.refusal_message.remove(),
                    DraftRecord.refused_at.remove(),
                    DraftRecord.refused_by.remove(),
                ],
                condition=_pending(),
            )
        except UpdateError as error:
            if error.cause_response_code == _CONDITION_FAILED:
                return self.find(draft.draft_id)  # sent by another approval (or discarded: not found)
            raise
        return _draft(record)
