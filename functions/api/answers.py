"""Every domain outcome mapped to an HTTP answer, in one place: `{"error": {"code", "message"}}` bodies,
statuses from the reason codes, Retry-After on quota refusals."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from functions.api.models import CapUsageOut
from litemx.mail.compose import ComposeError
from litemx.policy.models import Decision
from litemx.quotas.models import CapUsage

COMPOSE_STATUS = {"message_too_large": 413, "upload_rejected": 422}


@dataclass(frozen=True)
class Answer:
    """A JSON answer that can be remembered by the idempotency layer and replayed as it was."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "body": self.body, "headers": self.headers}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        return cls(status=int(data["status"]), body=dict(data["body"]), headers=dict(data.get("headers", {})))

    def response(self) -> Response[str]:
        return Response(
            status_code=self.status,
            content_type=content_types.APPLICATION_JSON,
            body=json.dumps(self.body),
            headers=self.headers,
        )


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, {"error": {"code": code, "message": message}}, headers or {})


def usage_out(usage: tuple[CapUsage, ...] | list[CapUsage]) -> list[dict[str, Any]]:
    return [
        CapUsageOut(
            cap=u.cap.value, used=u.used, limit=u.limit, remaining=u.remaining, resets_at=u.resets_at
        ).model_dump(mode="json")
        for u in usage
    ]


def refusal(decision: Decision) -> Answer:
    assert decision.reason is not None
    headers = {}
    if decision.retry_after_seconds is not None:
        headers["Retry-After"] = str(decision.retry_after_seconds)
    answer = error(decision.reason.http_status, decision.code, decision.message, headers)
    if decision.exceeded is not None:
        answer.body["error"]["cap"] = {
            "cap": decision.exceeded.cap.value,
            "limit": decision.exceeded.limit,
            "used": decision.exceeded.used,
            "requested": decision.exceeded.requested,
            "resets_at": decision.exceeded.resets_at.isoformat(),
        }
    return answer


def compose_refusal(problem: ComposeError) -> Answer:
    return error(COMPOSE_STATUS.get(problem.code, 400), problem.code, problem.message)
