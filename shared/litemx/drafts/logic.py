"""Drafts: written by an agent's `draft` token, approved by a person, sent exactly once.

An approval runs the very send path (litemx.outbound.service.submit: the one policy decision, compose,
store, queue) with the draft's own message id, so that a retried or concurrent approval finds the message
recorded (MessageExistsError, nothing reserved) instead of sending twice. A refused approval leaves the
draft pending with the refusal's code and sentence. The verdict a list shows is the same decision in
PREVIEW mode: the same reads, no write (no reservation, no audit entry).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from litemx.drafts.models import (
    DraftNotPendingError,
    DraftRefusal,
    DraftStatus,
    DraftStore,
    StoredDraft,
    content_json,
    draft_message_id,
    new_draft_id,
)
from litemx.mail.compose import ComposeError, Draft
from litemx.outbound.service import OutboundDeps, OutboundUnavailableError, submit
from litemx.policy.models import (
    OPEN_PROVIDER,
    Decision,
    MessageExistsError,
    Mode,
    OperatorApproval,
    ProviderGate,
)


@dataclass(frozen=True)
class Approver:
    """Who approves: an operator (no secret: the decision runs on the draft token's identity with the
    rights of a `send` token), or a caller presenting a token with a send scope for the draft's mailbox."""

    actor: str  # `operator:<login>`, or the approving token's id
    token_secret: str = ""
    operator: bool = False


@dataclass(frozen=True)
class ApprovalOutcome:
    draft: StoredDraft
    decision: Decision | None = None  # None when nothing was decided (already sent, or not composable)
    refusal: DraftRefusal | None = None
    already_sent: bool = False  # an earlier approval sent it; this one sent nothing

    @property
    def sent(self) -> bool:
        return self.draft.status is DraftStatus.SENT


@dataclass(frozen=True)
class Verdict:
    would_send: bool
    code: str  # `allowed`, or the refusal's stable code
    message: str


def create_draft(
    store: DraftStore,
    *,
    account_id: str,
    mailbox: str,
    token_id: str,
    content: Draft,
    now: datetime,
    reply_of: str | None = None,
) -> StoredDraft:
    """A new pending draft From `mailbox` (the writing token's own); DraftTooLargeError past the limit."""
    content = replace(content, from_address=mailbox)
    content_json(content)  # refuses what is too large before anything is written
    draft_id = new_draft_id(now)
    draft = StoredDraft(
        draft_id=draft_id,
        account_id=account_id,
        mailbox=mailbox,
        token_id=token_id,
        content=content,
        created_at=now,
        updated_at=now,
        message_id=draft_message_id(draft_id),
        reply_of=reply_of,
    )
    store.create(draft)
    return draft


def update_draft(store: DraftStore, draft: StoredDraft, content: Draft, *, now: datetime) -> StoredDraft:
    if draft.status is not DraftStatus.PENDING:
        raise DraftNotPendingError(f"draft {draft.draft_id} was sent; it can no longer change")
    content = replace(content, from_address=draft.mailbox)
    content_json(content)
    return store.replace_content(draft, content, now=now)


def discard_draft(store: DraftStore, draft: StoredDraft) -> None:
    """Deletes the draft (a sent one too: its message stays under /v1/messages)."""
    store.delete(draft)


def _approval(draft: StoredDraft, approver: Approver) -> OperatorApproval | None:
    if not approver.operator:
        return None
    return OperatorApproval(draft.account_id, draft.token_id, approver.actor, draft.draft_id)


def approve(
    draft: StoredDraft,
    approver: Approver,
    *,
    deps: OutboundDeps,
    store: DraftStore,
    request_id: str,
    provider: ProviderGate = OPEN_PROVIDER,
) -> ApprovalOutcome:
    """Decide and, when allowed, send the draft: at most once, however often it is approved."""
    if draft.status is DraftStatus.SENT:
        return ApprovalOutcome(draft, already_sent=True)
    now = deps.clock.now()
    try:
        submission = submit(
            approver.token_secret,
            draft.content,
            deps,
            request_id=request_id,
            provider=provider,
            message_id=draft.message_id,
            approval=_approval(draft, approver),
        )
    except MessageExistsError:
        return ApprovalOutcome(store.mark_sent(draft, approved_by=approver.actor, at=now), already_sent=True)
    except ComposeError as problem:
        return _refused(store, draft, DraftRefusal(problem.code, problem.message, now, approver.actor))
    except OutboundUnavailableError as outage:
        # The attempt's message was settled as failed (nothing sent, quota given back): the next approval
        # takes a fresh message id, and the draft keeps the reason meanwhile.
        refusal = DraftRefusal(outage.code, str(outage), now, approver.actor)
        store.record_refusal(draft, refusal, message_id=draft_message_id(draft.draft_id, _attempt(draft) + 1))
        raise
    decision = submission.decision
    if not decision.allowed:
        refusal = DraftRefusal(decision.code, decision.message, decision.decided_at, approver.actor)
        return replace(_refused(store, draft, refusal), decision=decision)
    sent = store.mark_sent(draft, approved_by=approver.actor, at=decision.decided_at)
    return ApprovalOutcome(sent, decision=decision)


def _attempt(draft: StoredDraft) -> int:
    _, _, suffix = draft.message_id.removeprefix("msg-").partition("-")
    return int(suffix) if suffix.isdigit() else 0


def _refused(store: DraftStore, draft: StoredDraft, refusal: DraftRefusal) -> ApprovalOutcome:
    if store.record_refusal(draft, refusal, message_id=draft.message_id):
        return ApprovalOutcome(replace(draft, refusal=refusal), refusal=refusal)
    # Another approval sent it meanwhile: this one sent nothing and answers with the draft as it now is.
    current = store.find(draft.draft_id)
    return ApprovalOutcome(current, refusal=refusal, already_sent=current.status is DraftStatus.SENT)


def verdict(
    draft: StoredDraft, *, deps: OutboundDeps, request_id: str, provider: ProviderGate = OPEN_PROVIDER
) -> Verdict:
    """What an operator's approval would get now: the same decision in PREVIEW mode (reads only, no
    reservation, no audit entry). A sent draft is answered as such without any read."""
    if draft.status is DraftStatus.SENT:
        return Verdict(False, "draft_not_pending", "This draft was sent.")
    approval = OperatorApproval(draft.account_id, draft.token_id, "preview", draft.draft_id)
    try:
        submission = submit(
            "",
            draft.content,
            deps,
            request_id=request_id,
            provider=provider,
            mode=Mode.PREVIEW,
            approval=approval,
        )
    except ComposeError as problem:
        return Verdict(False, problem.code, problem.message)
    decision = submission.decision
    return Verdict(decision.allowed, decision.code, decision.message)
