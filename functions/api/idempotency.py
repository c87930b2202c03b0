"""Idempotency-Key for the routes that queue mail (POST /v1/messages and the reply endpoint), through
Powertools' idempotency utility: the same key and body within 24 h answer the first accepted answer;
another body (or another route, mailbox or message) is a 409. Only accepted answers are remembered, and
the key is bound to the token the guard verified, so a forged secret can neither poison nor replay it.

Powertools is imported on first use, not at init: only a request that carries a key needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import Response

from functions.api.answers import Answer, error
from functions.settings import table_names
from litemx.directory.models import Token
from litemx.storage.session import client

IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600

# What each route does once: (the verified bearer secret, the request's canonical JSON) -> its answer.
Operation = Callable[[str, str], Answer]
_OPERATIONS: dict[str, Operation] = {}


def operation(name: str) -> Callable[[Operation], Operation]:
    """Register a route's once-only work under a name that is part of the remembered body."""

    def register(perform: Operation) -> Operation:
        _OPERATIONS[name] = perform
        return perform

    return register


class _DoNotRemember(Exception):
    """Carries an answer the idempotency layer must not replay: only an accepted send is remembered.
    A refusal consumed nothing, so deciding again is safe, and it may change (a quota resets, an outage
    ends, an operator re-enables a mailbox)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


def _remembered(request: dict[str, Any]) -> dict[str, Any]:
    answer = _OPERATIONS[request["operation"]](request["secret"], request["body"])
    if not 200 <= answer.status < 300:
        raise _DoNotRemember(answer)
    return answer.as_dict()


@cache
def _idempotent() -> Any:
    """Built on first use: the table name comes from the environment, and only a request with an
    Idempotency-Key needs Powertools' idempotency (which brings boto3 with it)."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    layer = DynamoDBPersistenceLayer(table_name=table_names().idempotency, boto3_client=client("dynamodb"))
    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="body",
        expires_after_seconds=IDEMPOTENCY_WINDOW_SECONDS,
    )
    return idempotent_function(data_keyword_argument="request", persistence_store=layer, config=config)(
        _remembered
    )


def once(name: str, *, key: str, token: Token, secret: str, body: str) -> Response[str]:
    """Run operation `name` once for this key: `body` is the request's canonical JSON, route parameters
    included, so the same key on another mailbox or message is a different body (409)."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    request = {
        # Bound to the token the guard verified: a forged secret never reaches this line.
        "key": f"{token.account_id}:{token.token_id}:{key}",
        "operation": name,
        "body": body,
        "secret": secret,
    }
    try:
        return Answer.from_dict(_idempotent()(request=request)).response()
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
