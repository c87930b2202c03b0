"""`litemx queue status|redrive`: the work queues, their dead-letter queues, and replaying those.

A send whose record reaches the send DLQ has already been settled as `failed` (`send_dead_lettered`) by
the sender, so `status` shows, for the send DLQ, how many parked records still name an unsettled message
(it should be none; a sender that crashed outright on a record's last attempt is the one way there).
Redrive of the send DLQ uses SQS's own StartMessageMoveTask. Endpoints without it (moto, behind `litemx
local up`) get an honest fallback: the CLI moves the messages itself (receive, send to the source queue,
delete) and says so.

Feedback has no queue (SNS pushes each notification to its function: infra/constructs/feedback.py), only a
DLQ holding failed invocations (Lambda's DLQ: the event itself) and undeliverable notifications (SNS's
subscription DLQ: its notification JSON). Its redrive rebuilds each one's event (litemx_cli.sns_events) and
invokes the function asynchronously with it, as SNS did, deleting the message once Lambda has accepted the
event: one that fails again comes back to the DLQ after Lambda's retries, and the alarm says so. Locally
(no Lambda service) the event goes to the queue the local system drains into the handler in-process.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError

from litemx.errors import NotFoundError
from litemx.messages.models import FINAL_SEND_STATES
from litemx.messages.store import MessageStore
from litemx_cli.output import EXIT_REFUSED, emit_json, fail, show, table
from litemx_cli.session import Session, session
from litemx_cli.sns_events import feedback_invocation

queue_app = typer.Typer(
    help="Work queues and dead-letter queues: depth, and replaying a DLQ.", no_args_is_help=True
)

JSON = typer.Option(False, "--json", help="Machine-readable JSON on stdout.")

# Answers of an endpoint that does not implement an action at all (as opposed to refusing it).
_UNSUPPORTED = {"InvalidAction", "UnknownOperationException", "UnsupportedOperation", "NotImplemented"}
_PEEK_LIMIT = 10
# How long a feedback DLQ message stays hidden while the redrive replays it (or leaves it, unreplayable).
_REPLAY_VISIBILITY_SECONDS = 120
# Batches in a row holding nothing to replay (SQS samples a standard queue) before the redrive stops.
_STALE_BATCHES = 3


class QueueName(StrEnum):
    SEND = "send"
    FEEDBACK = "feedback"
    INBOUND = "inbound"


@dataclass(frozen=True)
class QueueDepth:
    queue: str  # send, send_dlq, feedback_dlq, inbound_dlq, webhooks_dlq
    visible: int
    in_flight: int
    delayed: int


def _depth(sqs: Any, role: str, url: str) -> QueueDepth:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return QueueDepth(
        queue=role,
        visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    )


def _unsettled_sends(sqs: Any, dlq_url: str, messages: MessageStore) -> list[str]:
    """Message ids named by records in the send DLQ whose message is not final (peeks at most 10)."""
    peeked = sqs.receive_message(
        QueueUrl=dlq_url, MaxNumberOfMessages=_PEEK_LIMIT, VisibilityTimeout=0, WaitTimeSeconds=0
    ).get("Messages", [])
    unsettled = []
    for record in peeked:
        try:
            message_id = str(json.loads(record["Body"])["message_id"])
            if messages.get(message_id).status not in FINAL_SEND_STATES:
                unsettled.append(message_id)
        except (ValueError, KeyError, TypeError, NotFoundError):
            continue  # a poison record names no message
    return unsettled


@queue_app.command("status")
def status(ctx: typer.Context, as_json: bool = JSON) -> None:
    """How many messages each queue and DLQ holds (visible, in flight, delayed)."""
    s = session(ctx)
    sqs = s.client("sqs")
    depths = [_depth(sqs, role, url) for role, url in sorted(s.target.queues.items())]
    send_dlq = s.target.queues.get("send_dlq")
    unsettled = _unsettled_sends(sqs, send_dlq, MessageStore()) if send_dlq else []
    if as_json:
        emit_json({"queues": depths, "send_dlq_unsettled": unsettled})
        return
    rows = [(d.queue, d.visible, d.in_flight, d.delayed) for d in depths]
    show(table(f"Queues of {s.target.name}", ["QUEUE", "VISIBLE", "IN FLIGHT", "DELAYED"], rows))
    if unsettled:
        show(
            f"{len(unsettled)} record(s) in the send DLQ name unsettled messages: {', '.join(unsettled)}. "
            "`litemx queue redrive send` gives them another attempt."
        )


def _queue_urls(s: Session, name: QueueName) -> tuple[str, str]:
    if name is QueueName.INBOUND:
        fail(
            "the inbound DLQ holds failed asynchronous Lambda invocations, which SQS cannot redrive; the "
            "mail itself is safe in the raw-mail bucket under inbound/<SES message id> (docs/deploy.md)",
            EXIT_REFUSED,
        )
    queues = s.target.queues
    source, dlq = queues.get(name.value), queues.get(f"{name.value}_dlq")
    if not source or not dlq:
        fail(f"target {s.target.name} has no {name.value} queue and DLQ")
    return source, dlq


def _move_by_hand(sqs: Any, dlq_url: str, source_url: str) -> int:
    moved = 0
    while True:
        batch = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        records = batch.get("Messages", [])
        if not records:
            return moved
        for record in records:
            sqs.send_message(QueueUrl=source_url, MessageBody=record["Body"])
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=record["ReceiptHandle"])
            moved += 1


@queue_app.command("redrive")
def redrive(
    ctx: typer.Context,
    name: Annotated[QueueName, typer.Argument(help="send or feedback (the inbound DLQ cannot be redriven).")],
    rate: int | None = typer.Option(
        None, "--rate", min=1, max=500, help="Messages per second (default: SQS's, or as fast as it goes)."
    ),
) -> None:
    """Give a DLQ's messages another attempt: the send DLQ's back to the send queue, the feedback DLQ's
    into the feedback function."""
    s = session(ctx)
    if name is QueueName.FEEDBACK:
        _redrive_feedback(s, rate)
        return
    source_url, dlq_url = _queue_urls(s, name)
    sqs = s.client("sqs")
    if s.target.is_local:
        # moto (behind `litemx local up`) has no message move tasks: it answers them with a 500.
        _report_by_hand(name, _move_by_hand(sqs, dlq_url, source_url))
        return
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    request: dict[str, Any] = {"SourceArn": dlq_arn}
    if rate is not None:
        request["MaxNumberOfMessagesPerSecond"] = rate
    try:
        task = sqs.start_message_move_task(**request)
    except ClientError as problem:
        if problem.response.get("Error", {}).get("Code") not in _UNSUPPORTED:
            raise
        _report_by_hand(name, _move_by_hand(sqs, dlq_url, source_url))
        return
    show(f"{name.value}: SQS is moving the DLQ's messages back to the queue (task {task['TaskHandle']})")


def _report_by_hand(name: QueueName, moved: int) -> None:
    show(
        f"{name.value}: this endpoint has no StartMessageMoveTask; moved {moved} message(s) from the DLQ "
        "to the queue by receive, send and delete"
    )


def _redrive_feedback(s: Session, rate: int | None) -> None:
    dlq_url, function = s.target.queues.get("feedback_dlq"), s.target.functions.get("feedback")
    if not dlq_url or not function:
        fail(
            f"target {s.target.name} names no feedback DLQ and function (a stack deployed before feedback "
            "was pushed by SNS: deploy this version first, docs/deploy.md)"
        )
    sqs = s.client("sqs")
    if s.target.is_local:
        invoke = _local_invoke(sqs, function)
    else:
        invoke = _lambda_invoke(s.client("lambda"), function)
    replayed, left, arrived = _replay(sqs, dlq_url, invoke, rate)
    where = "the local system's feedback handler" if s.target.is_local else f"function {function}"
    show(
        f"feedback: replayed {replayed} event(s) into {where}, asynchronously (one that fails again returns "
        "to the DLQ after Lambda's retries)"
        + (f"; left {left} message(s) that hold no feedback event in the DLQ" if left else "")
        + (
            f"; left {arrived} message(s) that reached the DLQ during the redrive (a replay that failed "
            "again, or new): run it again once their cause is fixed"
            if arrived
            else ""
        )
    )


def _lambda_invoke(client: Any, function: str) -> Callable[[dict[str, Any]], None]:
    def invoke(event: dict[str, Any]) -> None:
        # Event: queued for the function with Lambda's retries and DLQ, as SNS's own invocation was.
        client.invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(event).encode())

    return invoke


def _local_invoke(sqs: Any, queue_url: str) -> Callable[[dict[str, Any]], None]:
    def invoke(event: dict[str, Any]) -> None:
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(event))

    return invoke


def _replay(
    sqs: Any, dlq_url: str, invoke: Callable[[dict[str, Any]], None], rate: int | None
) -> tuple[int, int, int]:
    """Invoke with each DLQ message's event, deleting it once accepted; (replayed, left because they hold
    no event, left because they arrived during the redrive).

    Only what the DLQ held when the redrive started is replayed, each message once: a replayed event that
    fails again returns to the DLQ a few minutes later (after Lambda's retries), and a message that holds no
    event becomes visible again after _REPLAY_VISIBILITY_SECONDS; taking those again would never end while
    the cause lasts. Both are left for the operator (and the alarm), visible again at the end."""
    started_ms = int(time.time() * 1000)
    replayed, stale = 0, 0
    unusable: dict[str, str] = {}  # message id -> its latest receipt handle
    arrived: dict[str, str] = {}
    while True:
        batch = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=_REPLAY_VISIBILITY_SECONDS,
            AttributeNames=["SentTimestamp"],
        ).get("Messages", [])
        fresh = []
        for message in batch:
            if message["MessageId"] in unusable:
                unusable[message["MessageId"]] = message["ReceiptHandle"]
            elif _sent_since(message, started_ms):
                arrived[message["MessageId"]] = message["ReceiptHandle"]
            else:
                fresh.append(message)
        stale = 0 if fresh else stale + 1
        if not batch or stale >= _STALE_BATCHES:
            break  # empty, or only what this run left or what came after it started
        for message in fresh:
            event = feedback_invocation(message["Body"], message_id=message["MessageId"])
            if event is None:
                unusable[message["MessageId"]] = message["ReceiptHandle"]
                continue
            invoke(event)
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            replayed += 1
            if rate is not None:
                time.sleep(1 / rate)
    for handle in (*unusable.values(), *arrived.values()):  # visible again: the alarm still counts them
        # A handle no longer in flight (its visibility ran out) belongs to a message visible already.
        with contextlib.suppress(ClientError):
            sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return replayed, len(unusable), len(arrived)


def _sent_since(message: dict[str, Any], started_ms: int) -> bool:
    """Whether the message reached the DLQ after the redrive started (a replay that failed again)."""
    try:
        return int(message.get("Attributes", {}).get("SentTimestamp", 0)) >= started_ms
    except (TypeError, ValueError):
        return False
