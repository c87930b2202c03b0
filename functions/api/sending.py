"""One send's answer, shared by every route that sends (a message, a reply, an approved draft) and the
dry run: the one `submit` path, its outcome mapped to the documented answers."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from functions.api.answers import Answer, compose_refusal, error, refusal, usage_out
from functions.api.models import CheckOut
from functions.wiring import provider_gate, runtime
from litemx.mail.compose import ComposeError, Draft
from litemx.outbound.service import OutboundUnavailableError, UploadRefs, submit
from litemx.policy.models import Decision, Mode

metrics = Metrics()  # Powertools metrics are shared by every instance in the process


def count(decision: Decision) -> None:
    metrics.add_metric(
        name="PolicyAllowed" if decision.allowed else "PolicyRefused", unit=MetricUnit.Count, value=1
    )


def send_answer(
    secret: str, draft: Draft, mode: Mode, *, request_id: str, uploads: UploadRefs | None = None
) -> Answer:
    rt = runtime()
    try:
        submission = submit(
            secret,
            draft,
            rt.outbound,
            request_id=request_id,
            provider=provider_gate(),
            mode=mode,
            uploads=uploads,
        )
    except ComposeError as problem:
        if mode is Mode.CHECK:
            out = CheckOut(allowed=False, code=problem.code, message=problem.message, usage=[])
            return Answer(200, out.model_dump(mode="json"))
        return compose_refusal(problem)
    except OutboundUnavailableError as outage:
        return error(503, outage.code, str(outage), {"Retry-After": "5"})
    decision = submission.decision
    count(decision)
    if mode is Mode.CHECK:
        out = CheckOut(allowed=decision.allowed, code=decision.code, message=decision.message, usage=[])
        return Answer(200, {**out.model_dump(mode="json"), "usage": usage_out(decision.usage)})
    if not decision.allowed:
        return refusal(decision)
    assert submission.message is not None
    queued = {"id": submission.message.message_id, "status": "queued", "usage": usage_out(decision.usage)}
    return Answer(202, queued, {"Location": f"/v1/messages/{submission.message.message_id}"})
