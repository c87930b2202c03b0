"""The LiteMX HTTP API (API Gateway HTTP API → this Lambda): send, message status, usage, dry-run policy
check, provider status, OpenAPI. Thin: validate, call one domain function, map the result."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.api import mailbox_routes
from functions.api.answers import Answer, compose_refusal, error, refusal, usage_out
from functions.api.models import CheckOut, ErrorOut, MessageOut, QueuedOut, SendMessageIn, StatusOut, UsageOut
from functions.settings import table_names
from functions.wiring import provider_gate, provider_status, runtime, tenant_view
from litemx.directory.auth import AuthError, Principal, authenticate
from litemx.directory.models import Scope
from litemx.directory.tokens import parse_secret
from litemx.errors import NotFoundError
from litemx.ids import new_request_id
from litemx.mail.compose import ComposeError
from litemx.outbound.service import (
    OutboundUnavailableError,
    message_for,
    submit,
    usage_reservations,
)
from litemx.policy.models import Mode
from litemx.quotas.models import usage_now

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayHttpResolver(enable_validation=True)
app.include_router(mailbox_routes.router)

IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600
ANY_SCOPE = frozenset(Scope)
ERRORS: dict[int, OpenAPIResponse] = {
    status: {"description": text, "content": {"application/json": {"schema": ErrorOut.model_json_schema()}}}
    for status, text in {
        400: "Malformed request",
        401: "Unknown, invalid, revoked or expired token",
        403: "Scope missing, or account, domain, mailbox or token disabled",
        404: "Not found",
    }.items()
}


class _DoNotRemember(Exception):
    """Carries an answer the idempotency layer must not replay (quota refusals and outages are
    transient: a retry with the same key after the reset must be able to succeed)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


def _bearer() -> str:
    header = app.current_event.headers.get("authorization") or ""
    scheme, _, secret = header.partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else ""


def _principal(scopes: frozenset[Scope] = ANY_SCOPE) -> Principal:
    return authenticate(_bearer(), runtime().directory, now=runtime().outbound.clock.now(), scopes=scopes)


def _send(secret: str, body: SendMessageIn, mode: Mode) -> Answer:
    rt = runtime()
    try:
        submission = submit(
            secret,
            body.draft(),
            rt.outbound,
            request_id=app.current_event.request_context.request_id or new_request_id(),
            provider=provider_gate(),
            mode=mode,
        )
    except ComposeError as problem:
        return compose_refusal(problem)
    except OutboundUnavailableError as outage:
        return error(503, outage.code, str(outage), {"Retry-After": "5"})
    decision = submission.decision
    metrics.add_metric(
        name="PolicyAllowed" if decision.allowed else "PolicyRefused", unit=MetricUnit.Count, value=1
    )
    if mode is Mode.CHECK:
        out = CheckOut(allowed=decision.allowed, code=decision.code, message=decision.message, usage=[])
        return Answer(200, {**out.model_dump(mode="json"), "usage": usage_out(decision.usage)})
    if not decision.allowed:
        return refusal(decision)
    assert submission.message is not None
    queued = {"id": submission.message.message_id, "status": "queued", "usage": usage_out(decision.usage)}
    return Answer(202, queued, {"Location": f"/v1/messages/{submission.message.message_id}"})


def _remembered_send(request: dict[str, Any]) -> dict[str, Any]:
    answer = _send(request["secret"], SendMessageIn.model_validate_json(request["body"]), Mode.SEND)
    if answer.status == 429 or answer.status >= 500:
        raise _DoNotRemember(answer)
    return answer.as_dict()


@cache
def _idempotent_send() -> Any:
    """Built on first use, not at import: the table name comes from the environment."""
    layer = DynamoDBPersistenceLayer(table_name=table_names().idempotency)
    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="body",
        expires_after_seconds=IDEMPOTENCY_WINDOW_SECONDS,
    )
    return idempotent_function(data_keyword_argument="request", persistence_store=layer, config=config)(
        _remembered_send
    )


@app.post(
    "/v1/messages",
    summary="Queue a message",
    description="Runs the sending policy, builds the MIME message and queues it. Send `Idempotency-Key` to "
    "retry safely: the same key and body within 24 h return the first answer; another body is a 409.",
    responses={
        202: {
            "description": "Queued",
            "content": {"application/json": {"schema": QueuedOut.model_json_schema()}},
        },
        413: {"description": "Message too large"},
        422: {"description": "Refused by the sending policy"},
        429: {"description": "A recipient cap is reached (Retry-After until it resets)"},
        **ERRORS,
    },
)
def send_message(body: SendMessageIn) -> Response[str]:
    secret = _bearer()
    key = app.current_event.headers.get("idempotency-key")
    claims = parse_secret(secret)
    if not key or claims is None:
        return _send(secret, body, Mode.SEND).response()
    request = {
        "key": f"{claims.account_id}:{claims.token_id}:{key}",
        "body": body.model_dump_json(by_alias=True),
        "secret": secret,
    }
    try:
        return Answer.from_dict(_idempotent_send()(request=request)).response()
    except _DoNotRemember as transient:
        return transient.answer.response()
    except IdempotencyValidationError:
        return error(
            409, "idempotency_key_reused", "This Idempotency-Key was used with a different body."
        ).response()
    except IdempotencyAlreadyInProgressError:
        return error(
            409,
            "idempotency_in_progress",
            "A request with this Idempotency-Key is in progress.",
            {"Retry-After": "1"},
        ).response()


@app.get("/v1/messages/<message_id>", summary="Status of one of your messages", responses=ERRORS)
def get_message(message_id: str) -> MessageOut:
    message = message_for(_principal(), message_id, runtime().outbound.messages)
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


@app.get("/v1/usage", summary="Your caps, what is used and when each resets", responses=ERRORS)
def get_usage() -> UsageOut:
    principal = _principal()
    now = runtime().outbound.clock.now()
    caps = usage_reservations(principal, now, runtime().account_policy.first_contacts(principal.account_id))
    usage = usage_now(caps, runtime().quotas.read(c.key for c in caps))
    return UsageOut.model_validate(
        {
            "account": principal.account_id,
            "mailbox": principal.mailbox,
            "plan": principal.account.plan.value,
            "usage": usage_out(usage),
            "tenant": tenant_view(principal.account_id),
        }
    )


@app.post(
    "/v1/policy/check", summary="Dry run: the same decision, nothing reserved or queued", responses=ERRORS
)
def check_policy(body: SendMessageIn) -> Response[str]:
    return _send(_bearer(), body, Mode.CHECK).response()


@app.get("/v1/status", summary="Outbound provider status (sandbox, sending enabled, quota)", responses=ERRORS)
def get_status() -> StatusOut:
    principal = _principal()
    status = provider_status()
    fields = {k: v for k, v in status.__dict__.items() if k != "verified_identities"}
    return StatusOut.model_validate(fields | {"tenant": tenant_view(principal.account_id)})


@app.get("/v1/openapi.json", summary="This API's OpenAPI document", include_in_schema=False)
def openapi() -> Response[str]:
    return Response(200, "application/json", openapi_document())


def openapi_document() -> str:
    return app.get_openapi_json_schema(title="LiteMX API", version="1.0.0")


@app.exception_handler(AuthError)  # type: ignore[untyped-decorator]
def _auth_error(problem: AuthError) -> Response[str]:
    return error(problem.reason.http_status, problem.reason.code, problem.message).response()


@app.exception_handler(NotFoundError)  # type: ignore[untyped-decorator]
def _not_found(problem: NotFoundError) -> Response[str]:
    return error(404, problem.code, str(problem)).response()


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def _malformed(problem: RequestValidationError) -> Response[str]:
    details = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg', '')}"
        for e in problem.errors()
    )
    return error(
        400, "malformed_request", details or "The request body is not valid JSON for this endpoint."
    ).response()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
