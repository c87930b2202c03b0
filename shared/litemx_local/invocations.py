"""Lambda's asynchronous Invoke and EventBridge Scheduler's one-time schedules, for handlers that run in
this process (moto runs no function without Docker, and its Scheduler stores schedules but never fires
them).

The handlers' own adapters (litemx.webhooks.aws) run unchanged: their botocore clients build and validate
each request against the real service model, and `install` answers Invoke and CreateSchedule here instead
of over HTTP, the way botocore's Stubber does. What AWS does with them is played by `pump`:

- `LocalLambda`: an Event invocation is queued and runs when pumped; a handler that raises is retried
  (1 then 2 minutes later, as Lambda does by default) and then its event is sent to the function's
  dead-letter queue, if it has one.
- `LocalScheduler`: `at(...)` schedules in UTC with a Lambda target, refused with ConflictException when
  the name is taken in its group; a due schedule invokes its target asynchronously with its Input and is
  deleted (ActionAfterCompletion DELETE). It fires at the time it names, where AWS fires within that
  minute.

Time is an input (a clock), so tests move it rather than sleep.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]
Clock = Callable[[], datetime]
# Lambda's default for an asynchronous invocation that returned an error: 2 retries, 1 and 2 minutes on.
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=2))
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_PARAMS = "litemx_local.params"
HISTORY = 1000


class LocalServiceError(Exception):
    """A refusal shaped as the service's error (code, HTTP status)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.status = code, status


@dataclass
class _Pending:
    function: str
    payload: bytes
    due: datetime
    attempt: int = 0


@dataclass
class _Function:
    handler: Handler
    dead_letter: Callable[[bytes], object] | None


@dataclass
class LocalLambda:
    clock: Clock
    context: Callable[[str], Any]
    functions: dict[str, _Function] = field(default_factory=dict)
    pending: list[_Pending] = field(default_factory=list)
    # What ran, in order (the latest HISTORY, so that a long `local up` does not grow without end).
    invocations: deque[tuple[str, dict[str, Any]]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(
        self, name: str, handler: Handler, *, dead_letter: Callable[[bytes], object] | None = None
    ) -> None:
        self.functions[name] = _Function(handler, dead_letter)

    def invoke_async(self, function: str, payload: bytes) -> None:
        name = function_name(function)
        if name not in self.functions:
            raise LocalServiceError("ResourceNotFoundException", f"Function not found: {function}", 404)
        with self._lock:
            self.pending.append(_Pending(name, payload, self.clock()))

    def run_due(self) -> int:
        """Run every queued invocation that is due (those a run queues are left for the next pump)."""
        now = self.clock()
        with self._lock:
            due = [p for p in self.pending if p.due <= now]
            self.pending = [p for p in self.pending if p.due > now]
        for item in due:
            self._run(item)
        return len(due)

    def _run(self, item: _Pending) -> None:
        function = self.functions[item.function]
        event = json.loads(item.payload)
        self.invocations.append((item.function, event))
        try:
            function.handler(event, self.context(item.function))
        except Exception:
            logger.exception("local asynchronous invocation of %s failed", item.function)
            if item.attempt < len(RETRY_DELAYS):
                retry = _Pending(item.function, item.payload, self.clock() + RETRY_DELAYS[item.attempt])
                retry.attempt = item.attempt + 1
                with self._lock:
                    self.pending.append(retry)
            elif function.dead_letter is not None:
                function.dead_letter(item.payload)


def function_name(function: str) -> str:
    """A function's name from its name or ARN (arn:aws:lambda:<region>:<account>:function:<name>)."""
    if function.startswith("arn:"):
        parts = function.split(":")
        return parts[6] if len(parts) > 6 else function
    return function


@dataclass
class LocalSchedule:
    name: str
    group: str
    at: datetime
    target: dict[str, Any]
    delete_after: bool


@dataclass
class LocalScheduler:
    lambda_: LocalLambda
    clock: Clock
    account: str = "123456789012"
    region: str = "us-east-1"
    schedules: dict[tuple[str, str], LocalSchedule] = field(default_factory=dict)
    created: deque[LocalSchedule] = field(default_factory=lambda: deque(maxlen=HISTORY))  # in order
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self, params: dict[str, Any]) -> str:
        group = params.get("GroupName", "default")
        name = params["Name"]
        expression = _AT.match(params["ScheduleExpression"])
        if expression is None or params.get("ScheduleExpressionTimezone", "UTC") != "UTC":
            raise LocalServiceError(
                "ValidationException", "the local scheduler runs one-time at(...) schedules in UTC only"
            )
        target = params["Target"]
        if not str(target["Arn"]).startswith("arn:aws:lambda:"):
            raise LocalServiceError("ValidationException", "the local scheduler invokes Lambda targets only")
        schedule = LocalSchedule(
            name=name,
            group=group,
            at=datetime.fromisoformat(expression.group(1)).replace(tzinfo=UTC),
            target=target,
            delete_after=params.get("ActionAfterCompletion") == "DELETE",
        )
        with self._lock:
            if (group, name) in self.schedules:
                raise LocalServiceError("ConflictException", f"Schedule {name} already exists.", 409)
            self.schedules[(group, name)] = schedule
            self.created.append(schedule)
        return f"arn:aws:scheduler:{self.region}:{self.account}:schedule/{group}/{name}"

    def due(self) -> list[LocalSchedule]:
        now = self.clock()
        return sorted((s for s in self.schedules.values() if s.at <= now), key=lambda s: s.at)

    def fire_due(self) -> int:
        fired = self.due()
        for schedule in fired:
            self.lambda_.invoke_async(schedule.target["Arn"], str(schedule.target.get("Input", "")).encode())
            with self._lock:
                if schedule.delete_after:
                    self.schedules.pop((schedule.group, schedule.name), None)
                else:
                    schedule.at = datetime.max.replace(tzinfo=UTC)  # a one-time schedule fires once
        return len(fired)


def pump(lambda_: LocalLambda, scheduler: LocalScheduler) -> int:
    """One turn of the services: fire the due schedules, run the due invocations."""
    return scheduler.fire_due() + lambda_.run_due()


# ---- answering the clients' requests here (botocore's before-call, as its Stubber does) ----


def _remember_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """The API parameters, before botocore serializes (and validates) them."""
    context[_PARAMS] = dict(params)


def _answer(status: int, parsed: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0})
    return AWSResponse("local://", status, HTTPHeaders(), None), parsed


def _refused(error: LocalServiceError) -> tuple[AWSResponse, dict[str, Any]]:
    return _answer(error.status, {"Error": {"Code": error.code, "Message": str(error)}})


def install(clients: dict[str, Any], lambda_: LocalLambda, scheduler: LocalScheduler) -> Callable[[], None]:
    """Answer `clients["lambda"]`'s Invoke (Event only) and `clients["scheduler"]`'s CreateSchedule here;
    returns what undoes it."""

    def invoke(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        params = context[_PARAMS]
        if params.get("InvocationType") != "Event":
            return _refused(LocalServiceError("InvalidParameterValueException", "local: Event only"))
        payload = params.get("Payload", b"")
        payload = payload.encode() if isinstance(payload, str) else bytes(payload)
        try:
            lambda_.invoke_async(params["FunctionName"], payload)
        except LocalServiceError as refused:
            return _refused(refused)
        return _answer(202, {"StatusCode": 202})

    def create_schedule(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        try:
            arn = scheduler.create(context[_PARAMS])
        except LocalServiceError as refused:
            return _refused(refused)
        return _answer(200, {"ScheduleArn": arn})

    hooks = [
        (clients["lambda"], "Invoke", invoke),
        (clients["scheduler"], "CreateSchedule", create_schedule),
    ]
    for client, operation, answer in hooks:
        service = client.meta.service_model.service_id.hyphenize()
        events = client.meta.events
        events.register(
            f"before-parameter-build.{service}.{operation}",
            _remember_params,
            f"litemx-local-params-{operation}",
        )
        events.register(f"before-call.{service}.{operation}", answer, f"litemx-local-{operation}")

    def uninstall() -> None:
        for client, operation, _answer_fn in hooks:
            service = client.meta.service_model.service_id.hyphenize()
            events = client.meta.events
            events.unregister(
                f"before-parameter-build.{service}.{operation}", unique_id=f"litemx-local-params-{operation}"
            )
            events.unregister(f"before-call.{service}.{operation}", unique_id=f"litemx-local-{operation}")

    return uninstall
