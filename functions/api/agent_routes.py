"""Routes for agents (docs/agents.md): replying to a received message, and drafts a person approves.

A Powertools Router included by the api handler. Every send here goes through the one send path
(functions.api.sending → litemx.outbound.service.submit): the same decision, caps and reply-only rule.

The drafts' logic and store and the reply builder load when a route here first runs, not with the api:
most of its cold starts only send (registering these routes needs their models, ids and refusals).
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from functions.api import guard, idempotency, mailbox_routes
from functions.api.answers import COMPOSE_STATUS, Answer, error, refusal, usage_out
from functions.api.docs import MESSAGE_ID, responses
from functions.api.mailbox_routes import ADDRESS
from functions.api.models import (
    DraftAttachmentOut,
    DraftIn,
    DraftListOut,
    DraftOut,
    DraftSentOut,
    QueuedOut,
    RefusalOut,
    ReplyIn,
    VerdictOut,
)
from functions.api.sending import count, send_answer
from functions.wiring import provider_gate, runtime
from litemx.drafts.models import (
    DRAFT_ID_PATTERN,
    DraftNotPendingError,
    DraftStatus,
    DraftTooLargeError,
    StoredDraft,
)
from litemx.ids import new_request_id
from litemx.mail.compose import Draft
from litemx.outbound.service import OutboundUnavailableError, UploadRefs
from litemx.policy.models import Mode

if TYPE_CHECKING:
    from litemx.drafts.logic import Verdict
    from litemx.drafts.store import DynamoDraftStore
    from litemx.mail.reply import ReplyRequest

router = Router()  # type: ignore[no-untyped-call]
DRAFT_ID: dict[str, Any] = {"pattern": DRAFT_ID_PATTERN, "description": "A draft's id (`drf-<32 hex>`)"}


@cache
def _drafts() -> DynamoDraftStore:
    from litemx.drafts.store import DynamoDraftStore

    runtime()  # binds the tables
    return DynamoDraftStore()


def _request_id() -> str:
    context = router.current_event.raw_event.get("requestContext") or {}
    return str(context.get("requestId") or "") or new_request_id()


# ---- reply ----


@router.post(
    "/v1/mailboxes/<address>/messages/<message_id>/reply",
    summary="Reply to a received message: recipients, subject and threading filled in by LiteMX",
    description="To is the original's Reply-To (else its From); with `reply_all` the original's To and Cc "
    "go in Cc (never the mailbox itself, nor an address in `exclude`). The subject is `Re: ` and the "
    "original's without its reply prefixes; In-Reply-To and References thread it. Then the same decision "
    "as POST /v1/messages: a `send:reply` token passes the reply-only rule, as every recipient took part "
    "in the message it answers (received clean, From authenticated). Send `Idempotency-Key` to retry "
    "safely, as for POST /v1/messages: the same key, message and body within 24 h return the first "
    "accepted answer; anything else under that key is a 409.",
    responses=responses(
        (202, "Queued", QueuedOut),
        400, 401, 403, 404, 409, 413, 415,
        (422, "Refused by the sending policy (too many recipients, suppressed, sandbox)"),
        429, 500, 503,
    ),
)  # fmt: skip
def reply_to_message(
    address: Annotated[str, Path(**ADDRESS)],
    message_id: Annotated[str, Path(**MESSAGE_ID)],
    body: ReplyIn,
) -> Response[str]:
    from litemx.inbound.logic import check_owner

    token = guard.verified_token()
    mailbox = check_owner(token.mailbox, address)
    secret = guard.bearer(router.current_event.headers)
    key = router.current_event.headers.get("idempotency-key")
    if not key:
        return _reply(secret, mailbox, message_id, body).response()
    # The route's parameters are part of the remembered body: the same key on another message is a 409.
    request = json.dumps(
        {"mailbox": mailbox, "message_id": message_id, "reply": body.model_dump(mode="json", by_alias=True)},
        sort_keys=True,
        separators=(",", ":"),
    )
    return idempotency.once("reply", key=key, token=token, secret=secret, body=request)


@idempotency.operation("reply")
def _reply_remembered(secret: str, request: str) -> Answer:
    fields = json.loads(request)
    body = ReplyIn.model_validate(fields["reply"])
    return _reply(secret, fields["mailbox"], fields["message_id"], body)


def _reply(secret: str, mailbox: str, message_id: str, body: ReplyIn) -> Answer:
    """The reply built from the original, then the send path's answer (decide, compose, store, queue)."""
    from litemx.mail.reply import ReplyRequest

    token = guard.verified_token()
    draft = _built_reply(
        mailbox,
        message_id,
        ReplyRequest(
            text=body.text,
            html=body.html,
            attachments=body.inline_attachments(),
            reply_all=body.reply_all,
            quote=body.quote,
            exclude=tuple(body.exclude),
        ),
    )
    return send_answer(
        secret,
        draft,
        Mode.SEND,
        request_id=_request_id(),
        uploads=UploadRefs(token.account_id, body.upload_ids()),
    )


def _built_reply(mailbox: str, message_id: str, request: ReplyRequest) -> Draft:
    """The reply to a received message, as the reply route and a reply draft both build it (its text read
    from the raw message only when quoting)."""
    from litemx.inbound.replies import reply_original
    from litemx.mail.reply import reply_draft

    inbox = mailbox_routes.runtime()
    original = reply_original(
        inbox.index, inbox.raw, mailbox, message_id, now=inbox.clock.now(), with_text=request.quote
    )
    return reply_draft(original, request)


# ---- drafts ----


def _verdict(draft: StoredDraft) -> Verdict:
    from litemx.drafts.logic import verdict

    return verdict(draft, deps=runtime().outbound, request_id=_request_id(), provider=provider_gate())


def _out(draft: StoredDraft, judged: Verdict | None = None) -> DraftOut:
    content, refused = draft.content, draft.refusal
    return DraftOut(
        id=draft.draft_id,
        mailbox=draft.mailbox,
        status=draft.status.value,
        reply_of=draft.reply_of,
        to=list(content.to),
        cc=list(content.cc),
        bcc=list(content.bcc),
        subject=content.subject,
        text=content.text,
        html=content.html,
        in_reply_to=content.in_reply_to,
        references=list(content.references),
        attachments=[
            DraftAttachmentOut(filename=a.filename, content_type=a.content_type, size=len(a.data))
            for a in content.attachments
        ],
        created_at=draft.created_at,
        updated_at=draft.updated_at,
        message_id=draft.message_id,
        approved_by=draft.approved_by,
        sent_at=draft.sent_at,
        last_refusal=None
        if refused is None
        else RefusalOut(code=refused.code, message=refused.message, at=refused.at, by=refused.by),
        verdict=None
        if judged is None
        else VerdictOut(
            would_send=judged.would_send,
            code=judged.code,
            message=judged.message,
            summary="would_send" if judged.would_send else f"would be refused: {judged.code}",
        ),
    )


def _content(body: DraftIn, mailbox: str) -> tuple[Draft, str | None]:
    """The draft's message; for a reply draft built from the message it answers, as a reply is."""
    from litemx.mail.reply import ReplyRequest

    if body.reply is None:
        return body.draft(mailbox), None
    request = ReplyRequest(
        text=body.text,
        html=body.html,
        attachments=body.inline_attachments(),
        reply_all=body.reply.reply_all,
        quote=body.reply.quote,
        exclude=tuple(body.reply.exclude),
    )
    return _built_reply(mailbox, body.reply.message_id, request), body.reply.message_id


@router.get(
    "/v1/drafts",
    summary="Your mailbox's drafts, newest first, each with what the policy would say to its approval",
    description="`verdict` is a dry run of the decision an operator's approval would get now (`would_send` "
    "or `would be refused: <code>`): the same reads, nothing reserved, counted or audited.",
    responses=responses((200, "The drafts", DraftListOut), 401, 403, 500),
)
def list_drafts() -> DraftListOut:
    principal = guard.principal()
    drafts = _drafts().list(principal.account_id, principal.mailbox)
    return DraftListOut(
        mailbox=principal.mailbox,
        drafts=[_out(d, _verdict(d) if d.status is DraftStatus.PENDING else None) for d in drafts],
    )


@router.post(
    "/v1/drafts",
    summary="Write a draft (From your mailbox); it is sent only once a person approves it",
    responses=responses((201, "The draft", DraftOut), 400, 401, 403, 404, 413, 415, 500),
)
def create(body: DraftIn) -> Response[str]:
    from litemx.drafts.logic import create_draft

    principal = guard.principal()
    content, reply_of = _content(body, principal.mailbox)
    draft = create_draft(
        _drafts(),
        account_id=principal.account_id,
        mailbox=principal.mailbox,
        token_id=principal.token.token_id,
        content=content,
        now=runtime().outbound.clock.now(),
        reply_of=reply_of,
    )
    out = _out(draft, _verdict(draft)).model_dump(mode="json")
    return Answer(201, out, {"Location": f"/v1/drafts/{draft.draft_id}"}).response()


@router.get(
    "/v1/drafts/<draft_id>",
    summary="One draft, with what the policy would say to its approval",
    responses=responses((200, "The draft", DraftOut), 400, 401, 403, 404, 500),
)
def get_draft(draft_id: Annotated[str, Path(**DRAFT_ID)]) -> DraftOut:
    draft = _drafts().get(guard.principal().mailbox, draft_id)
    return _out(draft, _verdict(draft) if draft.status is DraftStatus.PENDING else None)


@router.put(
    "/v1/drafts/<draft_id>",
    summary="Replace a pending draft's content (its last refusal is cleared)",
    responses=responses(
        (200, "The draft", DraftOut), 400, 401, 403, 404, (409, "The draft was sent"), 413, 415, 500
    ),
)
def put_draft(draft_id: Annotated[str, Path(**DRAFT_ID)], body: DraftIn) -> DraftOut:
    from litemx.drafts.logic import update_draft

    principal = guard.principal()
    store = _drafts()
    draft = store.get(principal.mailbox, draft_id)
    content, _ = _content(body, principal.mailbox)
    updated = update_draft(store, draft, content, now=runtime().outbound.clock.now())
    return _out(updated, _verdict(updated))


@router.delete(
    "/v1/drafts/<draft_id>",
    summary="Discard a draft (a sent one's message stays under /v1/messages)",
    responses=responses((204, "Discarded"), 400, 401, 403, 404, 500),
)
def delete_draft(draft_id: Annotated[str, Path(**DRAFT_ID)]) -> Response[str]:
    from litemx.drafts.logic import discard_draft

    store = _drafts()
    discard_draft(store, store.get(guard.principal().mailbox, draft_id))
    return Response(204, None, "")


@router.post(
    "/v1/drafts/<draft_id>/send",
    summary="Approve a draft and send it (a token with a send scope for the draft's mailbox)",
    description="The decision runs now, with the approving token's rights (a `send:reply` token: the "
    "reply-only rule). Refused: the draft stays pending and keeps the code and sentence (`last_refusal`). "
    "A draft is sent at most once: approving it again answers 200 with the same message id.",
    responses=responses(
        (202, "Approved and queued", DraftSentOut),
        (200, "Already sent by an earlier approval", DraftSentOut),
        400, 401, 403, 404, 413,
        (422, "Refused by the sending policy"),
        429, 500, 503,
    ),
)  # fmt: skip
def send_draft(draft_id: Annotated[str, Path(**DRAFT_ID)]) -> Response[str]:
    from litemx.drafts.logic import Approver, approve

    token = guard.verified_token()
    store = _drafts()
    draft = store.get(token.mailbox, draft_id)
    approver = Approver(
        actor=f"token:{token.token_id}", token_secret=guard.bearer(router.current_event.headers)
    )
    try:
        outcome = approve(
            draft,
            approver,
            deps=runtime().outbound,
            store=store,
            request_id=_request_id(),
            provider=provider_gate(),
        )
    except OutboundUnavailableError as outage:
        return error(503, outage.code, str(outage), {"Retry-After": "5"}).response()
    if outcome.decision is not None:
        count(outcome.decision)
    if outcome.sent:
        fresh = outcome.decision is not None and not outcome.already_sent
        usage = usage_out(outcome.decision.usage) if fresh and outcome.decision is not None else []
        out = DraftSentOut(
            id=outcome.draft.message_id,
            status="queued" if fresh else "sent",
            draft=draft.draft_id,
            already_sent=not fresh,
            usage=[],
        ).model_dump(mode="json") | {"usage": usage}
        return Answer(
            202 if fresh else 200, out, {"Location": f"/v1/messages/{outcome.draft.message_id}"}
        ).response()
    if outcome.decision is not None and not outcome.decision.allowed:
        return refusal(outcome.decision).response()
    assert outcome.refusal is not None
    found = outcome.refusal
    return error(COMPOSE_STATUS.get(found.code, 400), found.code, found.message).response()


@router.exception_handler(DraftNotPendingError)  # type: ignore[untyped-decorator]
def _not_pending(problem: DraftNotPendingError) -> Response[str]:
    return error(409, problem.code, str(problem)).response()


@router.exception_handler(DraftTooLargeError)  # type: ignore[untyped-decorator]
def _too_large(problem: DraftTooLargeError) -> Response[str]:
    return error(413, problem.code, str(problem)).response()
