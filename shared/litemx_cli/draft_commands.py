"""`litemx draft list|show|approve|discard`: a person reviews what agents drafted (docs/agents.md).

An approval here runs the same send path as the API (litemx.drafts.logic.approve → submit: the one
decision, compose, store, queue) on the draft token's identity, with the rights of a `send` token and
the operator named in the decision's audit entry; approving and discarding are audited as admin actions
too. The verdict `list` and `show` print is the decision in PREVIEW mode: nothing reserved or audited.
"""

from __future__ import annotations

from typing import Any

import typer

from litemx.directory.admin import record_action
from litemx.drafts.logic import ApprovalOutcome, Approver, Verdict, approve, discard_draft, verdict
from litemx.drafts.models import DraftStatus, StoredDraft
from litemx.drafts.store import DynamoDraftStore
from litemx.ids import new_request_id
from litemx.messages.store import MessageStore
from litemx.outbound.aws import S3BlobStore, SqsSendQueue
from litemx.outbound.service import OutboundDeps
from litemx.policy.store import DynamoPolicyStore
from litemx.providers.base import PROVIDER_MAX_MESSAGE_BYTES
from litemx_cli.output import EXIT_REFUSED, EXIT_UNAVAILABLE, emit_json, fail, fields_table, show, table, when
from litemx_cli.session import Session, session

draft_app = typer.Typer(help="Drafts agents wrote: review, approve (send), discard.", no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Machine-readable JSON on stdout.")


def _store(s: Session) -> DynamoDraftStore:
    _ = s.target  # binds the tables
    return DynamoDraftStore()


def _deps(s: Session, *, sending: bool) -> OutboundDeps:
    """The send path's dependencies on the target; a preview touches none of the queue or bucket."""
    target = s.target
    if sending and not (target.buckets.get("outbound") and target.queues.get("send")):
        fail(f"target {target.name} names no outbound bucket or send queue", EXIT_UNAVAILABLE)
    return OutboundDeps(
        policy=DynamoPolicyStore(),
        messages=MessageStore(),
        blobs=S3BlobStore(s.client("s3"), target.buckets.get("outbound", "")),
        queue=SqsSendQueue(s.client("sqs"), target.queues.get("send", "")),
        quotas=s.quotas,
        audit=s.audit,
        clock=s.clock,
        max_message_bytes=PROVIDER_MAX_MESSAGE_BYTES,
    )


def _verdict(s: Session, draft: StoredDraft) -> Verdict | None:
    if draft.status is not DraftStatus.PENDING:
        return None
    return verdict(draft, deps=_deps(s, sending=False), request_id=new_request_id())


def _summary(judged: Verdict | None) -> str:
    if judged is None:
        return "-"
    return "would_send" if judged.would_send else f"would be refused: {judged.code}"


def _json(draft: StoredDraft, judged: Verdict | None) -> dict[str, Any]:
    content = draft.content
    refusal = draft.refusal
    return {
        "id": draft.draft_id,
        "account": draft.account_id,
        "mailbox": draft.mailbox,
        "token": draft.token_id,
        "status": draft.status.value,
        "reply_of": draft.reply_of,
        "to": list(content.to),
        "cc": list(content.cc),
        "bcc": list(content.bcc),
        "subject": content.subject,
        "text": content.text,
        "html": content.html,
        "in_reply_to": content.in_reply_to,
        "references": list(content.references),
        "attachments": [a.filename for a in content.attachments],
        "message_id": draft.message_id,
        "created_at": draft.created_at,
        "approved_by": draft.approved_by,
        "sent_at": draft.sent_at,
        "last_refusal": None
        if refusal is None
        else {"code": refusal.code, "message": refusal.message, "at": refusal.at, "by": refusal.by},
        "verdict": None
        if judged is None
        else {"would_send": judged.would_send, "code": judged.code, "summary": _summary(judged)},
    }


@draft_app.command("list")
def draft_list(
    ctx: typer.Context,
    account_id: str | None = typer.Option(None, "--account", help="All mailboxes of this account."),
    mailbox: str | None = typer.Option(None, "--mailbox", help="One mailbox's drafts."),
    as_json: bool = JSON,
) -> None:
    """Drafts newest first (50 at most), each with what the policy would say to its approval now."""
    s = session(ctx)
    if mailbox:
        found = s.directory.get_mailbox(mailbox)
        account_id, mailbox = found.account_id, found.address
    elif not account_id:
        fail("name --account or --mailbox")
    drafts = _store(s).list(account_id, mailbox)
    judged = [(d, _verdict(s, d)) for d in drafts]
    if as_json:
        emit_json([_json(d, v) for d, v in judged])
        return
    rows = [
        (
            d.draft_id,
            d.mailbox,
            d.status.value,
            ", ".join((*d.content.to, *d.content.cc)),
            d.content.subject,
            _summary(v),
        )
        for d, v in judged
    ]
    show(table("Drafts", ["ID", "MAILBOX", "STATUS", "TO", "SUBJECT", "VERDICT"], rows))


@draft_app.command("show")
def draft_show(
    ctx: typer.Context, draft_id: str = typer.Argument(..., metavar="ID"), as_json: bool = JSON
) -> None:
    """One draft in full, with its verdict and its last refusal."""
    s = session(ctx)
    draft = _store(s).find(draft_id)
    judged = _verdict(s, draft)
    if as_json:
        emit_json(_json(draft, judged))
        return
    data = _json(draft, judged)
    refusal = draft.refusal
    pairs = [
        ("id", draft.draft_id),
        ("mailbox", draft.mailbox),
        ("status", draft.status.value),
        ("to", ", ".join(draft.content.to)),
        ("cc", ", ".join(draft.content.cc) or "-"),
        ("subject", draft.content.subject),
        ("reply of", draft.reply_of or "-"),
        ("verdict", _summary(judged)),
        ("last refusal", "-" if refusal is None else f"{refusal.code}: {refusal.message} ({refusal.by})"),
        ("message", draft.message_id),
        ("created", when(draft.created_at)),
        ("sent", when(draft.sent_at)),
        ("text", data["text"] or "-"),
    ]
    show(fields_table(pairs))


def _outcome_json(outcome: ApprovalOutcome) -> dict[str, Any]:
    refusal = outcome.refusal
    return {
        "draft": outcome.draft.draft_id,
        "sent": outcome.sent,
        "already_sent": outcome.already_sent,
        "message_id": outcome.draft.message_id if outcome.sent else None,
        "refusal": None if refusal is None else {"code": refusal.code, "message": refusal.message},
    }


def approve_draft(s: Session, draft_id: str) -> ApprovalOutcome:
    """The operator's approval of one draft, audited (`draft.approve`, with the outcome)."""
    store = _store(s)
    draft = store.find(draft_id)
    outcome = approve(
        draft,
        Approver(actor=s.actor, operator=True),
        deps=_deps(s, sending=True),
        store=store,
        request_id=new_request_id(),
    )
    details = {"draft": draft.draft_id, "mailbox": draft.mailbox, "sent": str(outcome.sent).lower()}
    if outcome.refusal is not None and not outcome.sent:
        details["code"] = outcome.refusal.code
    if outcome.sent:
        details["message_id"] = outcome.draft.message_id
    record_action(s.audit, draft.account_id, s.clock.now(), "draft.approve", s.actor, details)
    return outcome


@draft_app.command("approve")
def draft_approve(
    ctx: typer.Context, draft_id: str = typer.Argument(..., metavar="ID"), as_json: bool = JSON
) -> None:
    """Approve a draft: the policy decides now, and an allowed draft is sent (at most once). A refusal
    leaves the draft pending with the reason (exit 1)."""
    outcome = approve_draft(session(ctx), draft_id)
    draft = outcome.draft
    result = _outcome_json(outcome)
    if as_json:
        emit_json(result)
    if not outcome.sent:
        assert outcome.refusal is not None
        if not as_json:
            show(f"draft {draft.draft_id} refused ({outcome.refusal.code}): {outcome.refusal.message}")
        raise typer.Exit(EXIT_REFUSED)
    if not as_json:
        again = " (already sent earlier; nothing sent now)" if outcome.already_sent else ""
        show(f"draft {draft.draft_id} approved: message {outcome.draft.message_id} queued{again}")


@draft_app.command("discard")
def draft_discard(
    ctx: typer.Context,
    draft_id: str = typer.Argument(..., metavar="ID"),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit trail)."),
) -> None:
    """Delete a draft (audited)."""
    s = session(ctx)
    store = _store(s)
    draft = store.find(draft_id)
    discard_draft(store, draft)
    details = {"draft": draft.draft_id, "mailbox": draft.mailbox, "reason": reason}
    record_action(s.audit, draft.account_id, s.clock.now(), "draft.discard", s.actor, details)
    show(f"draft {draft.draft_id} discarded")
