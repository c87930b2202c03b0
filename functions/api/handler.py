"""The LiteMX HTTP API (API Gateway HTTP API → this Lambda): send, message status, usage, dry-run policy
check, provider status, OpenAPI. Thin: validate, call one domain function, map the result."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import ready
from functions.api import agent_routes, guard, idempotency, mailbox_routes
from functions.api.answers import Answer, compose_refusal, error, usage_out
from functions.api.docs import MESSAGE_ID, honest_document, responses
from functions.api.models import (
    CheckOut,
    MessageOut,
    QueuedOut,
    SendMessageIn,
    StatusOut,
    UploadIn,
    UploadOut,
    UsageOut,
)
from functions.api.sending import send_answer
from functions.observability import make_tracer
from functions.settings import table_names
from functions.wiring import provider_status, runtime, tenant_view
from litemx.clock import SystemClock
from litemx.directory.auth import AuthError, Principal, authenticate, verify_token
from litemx.directory.models import Scope, Token
from litemx.directory.store import DirectoryStore
from litemx.errors import NotFoundError
from litemx.ids import new_request_id
from litemx.outbound.service import (
    UploadRefs,
    message_for,
    usage_reservations,
)
from litemx.outbound.uploads import UploadError, new_upload
from litemx.policy.models import Mode
from litemx.policy.warmup import schedule
from litemx.quotas.models import usage_now
from litemx.storage.tables import bind_tables

logger = Logger()
tracer = make_tracer()
metrics = Metrics()
app = APIGatewayHttpResolver(enable_validation=True)
app.include_router(mailbox_routes.router)
app.include_router(agent_routes.router)

# Reason codes an edge validator may raise (pydantic custom error types) and their statuses.
EDGE_CODES = {"from_invalid": 400, "recipient_invalid": 400, "reply_to_invalid": 400, "header_injection": 400}


@cache
def _directory() -> tuple[DirectoryStore, SystemClock]:
    """What the guard needs, and no more: a request is authenticated before the outbound services (queue,
    bucket, provider) are even built. Built on first use, cached for the life of the process."""
    bind_tables(table_names())
    return DirectoryStore(), SystemClock()


def _credentials() -> guard.Credentials:
    directory, clock = _directory()

    def verify(secret: str, scopes: frozenset[Scope]) -> Token:
        return verify_token(secret, directory, now=clock.now(), scopes=scopes)

    def whole(secret: str, scopes: frozenset[Scope]) -> Principal:
        return authenticate(secret, directory, now=clock.now(), scopes=scopes)

    return guard.Credentials(verify_token=verify, authenticate=whole)


def _bearer() -> str:
    return guard.bearer(app.current_event.headers)


def _send(secret: str, body: SendMessageIn, mode: Mode) -> Answer:
    return send_answer(
        secret,
        body.draft(),
        mode,
        request_id=app.current_event.request_context.request_id or new_request_id(),
        # The guard verified this token: its account's prefix is the only place uploads are looked for.
        uploads=UploadRefs(guard.verified_token().account_id, body.upload_ids()),
    )


@idempotency.operation("send")
def _send_remembered(secret: str, body: str) -> Answer:
    return _send(secret, SendMessageIn.model_validate_json(body), Mode.SEND)


@app.post(
    "/v1/messages",
    summary="Queue a message",
    description="Runs the sending policy, builds the MIME message and queues it. Send `Idempotency-Key` to "
    "retry safely: the same key and body within 24 h return the first accepted answer; another body is a "
    "409. Only accepted sends are remembered, bound to the verified token; refusals are decided again.",
    responses=responses(
        (202, "Queued", QueuedOut),
        400, 401, 403, 409, 413, 415,
        (422, "Refused by the sending policy (too many recipients, bulk headers, suppressed, sandbox)"),
        429, 500, 503,
    ),
)  # fmt: skip
def send_message(body: SendMessageIn) -> Response[str]:
    token = guard.verified_token()
    secret = _bearer()
    key = app.current_event.headers.get("idempotency-key")
    if not key:
        return _send(secret, body, Mode.SEND).response()
    return idempotency.once(
        "send", key=key, token=token, secret=secret, body=body.model_dump_json(by_alias=True)
    )


@app.post(
    "/v1/uploads",
    summary="Upload an attachment first (files too large for a JSON send)",
    description="Declare the file (filename, content type, exact size in bytes); the answer is a presigned "
    "S3 POST: send `fields` and then the file as `file` in a multipart/form-data POST to `url` before "
    "`expires_at` (15 minutes). S3 refuses a file of any other size or type. Reference it in a send as "
    '`{"upload_id": id}` among `attachments` within a day; the send checks it again (size, type, owner) '
    "before its decision.",
    responses=responses((201, "Upload here", UploadOut), 400, 401, 403, 413, 415, 500),
)
def create_upload(body: UploadIn) -> Response[str]:
    principal = guard.principal()
    outbound = runtime().outbound
    if outbound.uploads is None:
        return error(400, "upload_invalid", "This deployment accepts no uploads.").response()
    try:
        ticket = new_upload(
            principal.account_id,
            principal.token.token_id,
            filename=body.filename,
            content_type=body.content_type,
            size=body.size,
            store=outbound.uploads,
            now=outbound.clock.now(),
        )
    except UploadError as refused:
        return compose_refusal(refused).response()
    out = UploadOut(
        id=ticket.upload_id,
        method="POST",
        url=ticket.url,
        fields=ticket.fields,
        expires_at=ticket.expires_at,
        max_bytes=ticket.max_bytes,
    )
    return Answer(201, out.model_dump(mode="json")).response()


@app.get(
    "/v1/messages/<message_id>",
    summary="Status of one of your messages",
    responses=responses((200, "The message's status", MessageOut), 400, 401, 403, 404, 500),
)
def get_message(message_id: Annotated[str, Path(**MESSAGE_ID)]) -> MessageOut:
    message = message_for(guard.principal(), message_id, runtime().outbound.messages)
    return MessageOut(
        id=message.message_id,
        status=message.status.value,
        mailbox=message.mailbox,
        recipients=len(message.recipients),
        subject=message.subject,
        message_id_header=message.rfc_message_id,
        provider=message.provider,
        provider_message_id=message.provider_message_id,
        reason=None
        if message.reason_code is None
        else {"code": message.reason_code, "message": message.reason or ""},
        created_at=message.created_at,
        updated_at=message.updated_at,
    )


@app.get(
    "/v1/usage",
    summary="Your caps, what is used and when each resets",
    responses=responses((200, "Caps and usage", UsageOut), 401, 403, 500),
)
def get_usage() -> UsageOut:
    principal = guard.principal()
    now = runtime().outbound.clock.now()
    policy = runtime().account_policy.policy(principal.account_id)
    mailbox_created = runtime().directory.get_mailbox(principal.mailbox).created_at
    caps = usage_reservations(
        principal, now, policy.first_contacts, policy=policy, mailbox_created_at=mailbox_created
    )
    usage = usage_now(caps, runtime().quotas.read(c.key for c in caps))
    account_steps = schedule(principal.account.created_at, waived=policy.warmup_waived, now=now)
    return UsageOut.model_validate(
        {
            "account": principal.account_id,
            "mailbox": principal.mailbox,
            "plan": principal.account.plan.value,
            "usage": usage_out(usage),
            "tenant": tenant_view(principal.account_id),
            "warmup": {
                "account": [vars(step) for step in account_steps],
                "mailbox": [
                    vars(step) for step in schedule(mailbox_created, waived=policy.warmup_waived, now=now)
                ],
            },
        }
    )


@app.post(
    "/v1/policy/check",
    summary="Dry run: the same decision, nothing reserved or queued",
    description="Answers 200 with `allowed` and the reason code the send would get. The token itself is "
    "checked first: an unknown, revoked or expired token is a 401, a token without a send scope a 403.",
    responses=responses((200, "The decision", CheckOut), 400, 401, 403, 413, 415, 500),
)
def check_policy(body: SendMessageIn) -> Response[str]:
    return _send(_bearer(), body, Mode.CHECK).response()


@app.get(
    "/v1/status",
    summary="Outbound provider status (sandbox, sending enabled, quota)",
    responses=responses((200, "The provider's status", StatusOut), 401, 403, 500),
)
def get_status() -> StatusOut:
    principal = guard.principal()
    status = provider_status()
    fields = {k: v for k, v in status.__dict__.items() if k != "verified_identities"}
    return StatusOut.model_validate(fields | {"tenant": tenant_view(principal.account_id)})


@app.get("/v1/openapi.json", summary="This API's OpenAPI document", include_in_schema=False)
def openapi() -> Response[str]:
    return Response(200, "application/json", openapi_document())


def openapi_document() -> str:
    """Generated on request only: its models are the largest import of Powertools' event handler."""
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    return honest_document(
        app.get_openapi_json_schema(
            title="LiteMX API",
            version="1.0.0",
            security_schemes={
                "bearer": HTTPBearer(description="A LiteMX token: `lmx_<account>_<token>_<random>`")
            },
            security=[{"bearer": []}],
        )
    )


@app.exception_handler(AuthError)  # type: ignore[untyped-decorator]
def _auth_error(problem: AuthError) -> Response[str]:
    return error(problem.reason.http_status, problem.reason.code, problem.message).response()


@app.exception_handler(NotFoundError)  # type: ignore[untyped-decorator]
def _not_found(problem: NotFoundError) -> Response[str]:
    return error(404, problem.code, str(problem)).response()


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def _malformed(problem: RequestValidationError) -> Response[str]:
    errors = list(problem.errors())
    coded = [e for e in errors if e.get("type") in EDGE_CODES]
    if coded:
        code = str(coded[0]["type"])
        return error(EDGE_CODES[code], code, str(coded[0].get("msg", ""))[:500]).response()
    details = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg', '')}"[:200]
        for e in errors[:5]
    )
    return error(
        400, "malformed_request", details or "The request body is not valid JSON for this endpoint."
    ).response()


@app.not_found
def _no_route(_: Exception) -> Response[str]:
    return error(404, "route_not_found", "There is no such route.").response()


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def _internal_error(problem: Exception) -> Response[str]:
    return _internal_answer(app.current_event.request_context.request_id or "").response()


def _internal_answer(request_id: str) -> Answer:
    """The last resort: logged at ERROR with the traceback, answered in the documented shape."""
    logger.exception("unhandled error", extra={"request_id": request_id})
    metrics.add_metric(name="InternalError", unit=MetricUnit.Count, value=1)
    return error(
        500,
        "internal_error",
        f"Something failed on our side; nothing was sent. Quote request id {request_id} when reporting it.",
        {"X-Request-Id": request_id},
    )


def _lambda_answer(answer: Answer) -> dict[str, Any]:
    response = answer.response()
    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": "application/json", **answer.headers},
        "body": response.body,
        "isBase64Encoded": False,
    }


def _resolve(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        early = guard.admit(event, _credentials())
    except AuthError as refused:
        if refused.reason.http_status == 401:
            # Unauthenticated callers leave a count, not an item per request.
            metrics.add_metric(name="UnauthenticatedRefused", unit=MetricUnit.Count, value=1)
        early = error(refused.reason.http_status, refused.reason.code, refused.message)
    if early is not None:
        return _lambda_answer(early)
    return app.resolve(event, context)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return _resolve(event, context)
    except Exception:  # the one last resort outside the router (the guard, Powertools itself)
        request_id = str(((event or {}).get("requestContext") or {}).get("requestId") or "")
        return _lambda_answer(_internal_answer(request_id))
    finally:
        guard.forget()


# Init ends here (functions/__init__.py).
ready()
