"""What a message costs on AWS beyond SES's own $0.10 per 1,000, measured on the path a real message takes
with the stack's shipped defaults, end to end, against the local AWS.

Paths, each per message:
- send: POST /v1/messages with the Idempotency-Key the docs recommend → S3 → the send queue → the sender,
  in SQS batches of the size cdk.json configures (`sesSendRate` 1 → batches of 1);
- feedback: what comes back per sent message with the events the stack subscribes. By default (cdk.json
  `recordDeliveries: false`) only bounces, complaints and rejects are published: they are priced at the
  stack's own alarm thresholds (SesBounceRate 4 %, SesComplaintRate 0.08 %, the worst rates a healthy
  account runs at for long), each one as a permanent bounce (suppression, status, the id and the counts
  in one transaction, the 7-day windows' read), through SNS → the feedback handler (SNS invokes it once per
  event; no queue, and SNS bills no delivery to Lambda, only SES's publish). With
  `recordDeliveries: true` a Delivery event per sent message comes on top (measured too, printed apart);
- inbound: one received message (S3 → the inbound handler), for a mailbox without webhooks;
- inbound+wh: the same for a mailbox with a webhook (the inbound handler invokes the delivery function
  asynchronously with the event: one Lambda Invoke request, priced as that function's invocation);
- webhook: that event's delivery (the asynchronous invocation → the delivery handler → a local HTTPS-less
  receiver on 127.0.0.1 that verifies the signature; local mode allows http://127.0.0.1 only). Invoke is
  answered in-process (litemx_local.invocations), as moto runs no function.

Priced by AWS's billing rules, not by what DynamoDB Local reports (it says 2 units for any transaction and
0 for a missing key): a read of ≤ 4 KB is 1 RRU strongly consistent, 0.5 eventually, 2 in a transaction,
found or not; a write is 1 WRU per KB, 2 per KB in a transaction (condition checks included). Lambda is
priced at each function's memory in the synthesized template for the in-process durations measured here;
CloudWatch Logs at the bytes the handlers wrote, plus Lambda's START/END/REPORT lines unless the shipped
platformLogLevel (WARN) drops them; the init phase, which Lambda bills, is priced separately for a cold
start. Prices: us-east-1 list, no free tier. Run with `make bench`; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import logging
import math
import os
import subprocess
import sys
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.session

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PRICE = {
    "wru": 0.625 / 1e6,
    "rru": 0.125 / 1e6,
    "sqs_request": 0.40 / 1e6,
    "sns_publish": 0.50 / 1e6,
    "s3_put": 0.005 / 1e3,
    "s3_get": 0.0004 / 1e3,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second_arm": 0.0000133334,
    "http_api_request": 1.00 / 1e6,
    "logs_gb": 0.50,
    "ses_message": 0.10 / 1e3,
}
SES_PER_1000 = 0.10
TARGET_SHARE = 0.15
LAMBDA_LOG_LINES_BYTES = 350  # START, END and REPORT per invocation, where the platform level lets them pass
READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
BUCKET_BYTES = 130  # one hourly reputation bucket: its two keys, all five counts and its TTL


def _bytes(value: Any) -> int:
    """Approximate DynamoDB item size: attribute names plus values (typed AttributeValue form)."""
    if isinstance(value, dict):
        return sum(len(str(k)) + _bytes(v) for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return sum(_bytes(v) for v in value)
    return len(value) if isinstance(value, str | bytes) else 8


def _wru(item: Any) -> int:
    return max(1, math.ceil(_bytes(item) / 1024))


def billed_units(operation: str, params: dict[str, Any]) -> tuple[float, float]:
    """(RRU, WRU) a request is billed by AWS's rules (reads assumed ≤ 4 KB; Query/Scan: 1 unit)."""
    consistent = 1.0 if params.get("ConsistentRead") else 0.5
    if operation == "GetItem":
        return consistent, 0.0
    if operation == "BatchGetItem":
        return sum(
            len(t["Keys"]) * (1.0 if t.get("ConsistentRead") else 0.5)
            for t in params["RequestItems"].values()
        ), 0.0
    if operation == "TransactGetItems":
        return 2.0 * len(params["TransactItems"]), 0.0
    if operation in ("Query", "Scan"):
        return consistent, 0.0
    if operation == "PutItem":
        return 0.0, float(_wru(params["Item"]))
    if operation in ("UpdateItem", "DeleteItem"):
        return 0.0, 1.0
    if operation == "BatchWriteItem":
        return 0.0, float(
            sum(
                _wru(r["PutRequest"]["Item"]) if "PutRequest" in r else 1
                for requests in params["RequestItems"].values()
                for r in requests
            )
        )
    if operation == "TransactWriteItems":
        return 0.0, float(
            sum(2 * _wru(next(iter(item.values())).get("Item", {})) for item in params["TransactItems"])
        )
    return 0.0, 0.0


@dataclass
class Meter:
    """Every AWS request of every client created after `install`, with DynamoDB's billed units."""

    requests: Counter[str] = field(default_factory=Counter)
    units: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    # "Operation table-role" -> [RRU, WRU]: where the billed units go (the floor analysis)
    by_item: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0.0, 0.0]))

    def install(self) -> None:
        original = botocore.session.Session.create_client
        meter = self

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            client.meta.events.register("before-parameter-build", meter._count)
            return client

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign,assignment]

    def _count(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        self.requests[f"{service}.{model.name}"] += 1
        if service == "dynamodb":
            rru, wru = billed_units(model.name, params)
            self.units["rru"] += rru
            self.units["wru"] += wru
            where = self.by_item[f"{model.name} {_tables_of(params)}"]
            where[0] += rru
            where[1] += wru

    def take(self) -> tuple[Counter[str], dict[str, float]]:
        taken = (Counter(self.requests), dict(self.units))
        self.requests.clear()
        self.units.clear()
        return taken

    def take_items(self) -> dict[str, list[float]]:
        taken = {k: list(v) for k, v in self.by_item.items()}
        self.by_item.clear()
        return taken


def _role(table: str) -> str:
    return table.rsplit("-", 1)[-1]


def _tables_of(params: dict[str, Any]) -> str:
    """The table roles a request touches (a transaction's items by role, e.g. `usage*3`)."""
    if "TableName" in params:
        return _role(str(params["TableName"]))
    if "RequestItems" in params:
        return "+".join(sorted(_role(t) for t in params["RequestItems"]))
    if "TransactItems" in params:
        roles = Counter(_role(next(iter(i.values()))["TableName"]) for i in params["TransactItems"])
        return "+".join(f"{r}*{n}" if n > 1 else r for r, n in sorted(roles.items()))
    return "?"


@dataclass
class PathCost:
    name: str
    messages: float  # what the path's requests are shared by: sent (or received) messages
    requests: Counter[str]
    units: dict[str, float]
    invocations: dict[str, int]  # function -> invocations
    seconds: dict[str, float]  # function -> total in-process seconds
    log_bytes: int
    extra: dict[str, float] = field(default_factory=dict)  # requests not made by our clients

    def per(self, count: float) -> float:
        return count / self.messages

    def service(self, prefix: str) -> float:
        return sum(v for k, v in self.requests.items() if k.startswith(prefix + "."))

    def costs(self, memory_mb: dict[str, int]) -> dict[str, float]:
        """Dollars per message, by service."""
        n = self.messages
        gb_s = sum(self.seconds[f] * memory_mb[f] / 1024 for f in self.seconds)
        logs = self.log_bytes + platform_log_bytes() * sum(self.invocations.values())
        return {
            "DynamoDB": (self.units.get("rru", 0) * PRICE["rru"] + self.units.get("wru", 0) * PRICE["wru"])
            / n,
            "SQS": (self.service("sqs") + self.extra.get("sqs", 0)) * PRICE["sqs_request"] / n,
            "SNS": self.extra.get("sns", 0) * PRICE["sns_publish"] / n,
            "S3": (
                (self.requests["s3.PutObject"] + self.extra.get("s3_put", 0)) * PRICE["s3_put"]
                + self.requests["s3.GetObject"] * PRICE["s3_get"]
            )
            / n,
            "Lambda": (
                sum(self.invocations.values()) * PRICE["lambda_request"]
                + gb_s * PRICE["lambda_gb_second_arm"]
            )
            / n,
            "API Gateway": self.extra.get("http_api", 0) * PRICE["http_api_request"] / n,
            "CloudWatch Logs": logs / 1e9 * PRICE["logs_gb"] / n,
        }


def function_memory() -> dict[str, int]:
    """Each function's memory in the template the shipped cdk.json synthesizes."""
    from tests.benchmarks.bench_idle import template

    found = {}
    for resource in template()["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            handler = resource["Properties"].get("Handler", "")
            if handler.startswith("functions/"):
                found[handler.split("/")[1]] = int(resource["Properties"].get("MemorySize", 128))
    return found


def shipped_config() -> Any:
    from infra.config import LiteMXConfig

    return LiteMXConfig.from_mapping(json.loads((ROOT / "cdk.json").read_text())["context"])


def sender_batch_size() -> int:
    return 1 if shipped_config().ses_send_rate < 10 else 10  # infra/constructs/outbound.py


@functools.cache
def platform_log_bytes() -> int:
    """Lambda's platform lines per invocation: none below its system log level WARN (cdk.json
    platformLogLevel), else START, END and REPORT."""
    return 0 if shipped_config().platform_log_level == "WARN" else LAMBDA_LOG_LINES_BYTES


def adverse_rates() -> tuple[float, float]:
    """(bounces, complaints) per sent message: the alarm thresholds the stack sets (monitoring.py)."""
    from infra.constructs.monitoring import BOUNCE_RATE_ALARM, COMPLAINT_RATE_ALARM

    return BOUNCE_RATE_ALARM, COMPLAINT_RATE_ALARM


def published_event_types() -> list[str]:
    from tests.benchmarks.bench_idle import template

    for resource in template()["Resources"].values():
        if resource["Type"] == "AWS::SES::ConfigurationSetEventDestination":
            types: list[str] = resource["Properties"]["EventDestination"]["MatchingEventTypes"]
            return types
    return []


def cold_import_seconds(module: str) -> float:
    probe = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def captured_output() -> Any:
    """Everything the handlers write to stdout, their loggers' streams included (Powertools' Logger holds
    the stdout it found when it was created): what CloudWatch Logs would ingest."""
    sink = io.StringIO()
    handlers = [
        handler
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        if isinstance(logger, logging.Logger)
        for handler in logger.handlers
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout, sys.__stdout__)
    ]
    previous = [handler.setStream(sink) for handler in handlers]
    try:
        with contextlib.redirect_stdout(sink), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield sink
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            if stream is not None:
                handler.setStream(stream)


def main() -> None:  # noqa: C901 - one measured scenario, read top to bottom
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100)
    args = parser.parse_args()
    n = args.messages
    meter = Meter()
    meter.install()
    memory = function_memory()
    batch = sender_batch_size()
    event_types = [t.lower() for t in published_event_types()]
    modelled = {"bounce", "complaint", "reject", "delivery"}
    assert set(event_types) <= modelled, f"the bench prices {sorted(modelled)}, not {event_types}"
    bounce_rate, complaint_rate = adverse_rates()
    os.environ.update(
        POWERTOOLS_SERVICE_NAME="litemx-bench",
        POWERTOOLS_METRICS_NAMESPACE="LiteMX",
        POWERTOOLS_TRACE_DISABLED="true",
    )

    from functions import wiring
    from functions.api import handler as api
    from functions.feedback import handler as feedback
    from functions.inbound import handler as inbound
    from functions.sender import handler as sender
    from functions.webhooks import handler as webhooks
    from litemx.messages.store import MessageStore
    from litemx.plans import LimitOverrides, Plan
    from litemx.storage.session import client as session_client
    from litemx.tenants.logic import TENANT_STATUS_TTL_SECONDS
    from litemx_cli.sns_events import feedback_invocation
    from litemx_local.aws import LocalAws
    from litemx_local.invocations import LocalLambda, LocalScheduler
    from litemx_local.invocations import install as install_invocations
    from litemx_local.system import (
        LambdaContext,
        api_event,
        create_resources,
        function_environment,
        receipt_event,
        sqs_record,
    )
    from litemx_local.testclock import anchored_now
    from litemx_local.world import build_world
    from tests.events import feedback as feedback_document

    with LocalAws() as aws:
        os.environ.update(aws.environment())
        resources = create_resources(aws)
        os.environ.update(function_environment(resources) | {"POWERTOOLS_LOG_LEVEL": "INFO"})
        wiring.reset_for_tests()
        boto3.client("ses").verify_domain_identity(Domain="example.com")
        lifted = LimitOverrides(mailbox_day=10**6, account_day=10**6, account_month=10**7)
        world = build_world(resources.tables, plan=Plan.SCALE, overrides=lifted)
        tenant_port = _tenant_port(wiring)  # every account is an SES tenant (docs/tenants.md)
        _give_world_a_tenant(world, resources, tenant_port)
        token = world.secrets["box0@example.com"]
        sqs, sns, s3 = boto3.client("sqs"), boto3.client("sns"), boto3.client("s3")

        def arn(url: str) -> str:
            return str(
                sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            )

        send_arn = arn(resources.send_queue)
        seconds: defaultdict[str, float] = defaultdict(float)
        invocations: Counter[str] = Counter()

        def invoke(name: str, function: Any, event: dict[str, Any]) -> Any:
            started = time.perf_counter()
            answer = function(event, LambdaContext(name, memory_limit_in_mb=memory.get(name, 512)))
            seconds[name] += time.perf_counter() - started
            invocations[name] += 1
            return answer

        def post(k: int) -> str:
            body = {
                "from": "box0@example.com",
                "to": [f"friend{k % 5}@outside.test"],
                "subject": f"Re: order {k}",
                "text": "A short human-scale reply. " * 20,
            }
            headers = {
                "authorization": f"Bearer {token}",
                "content-type": "application/json",
                "idempotency-key": f"bench-{k}-{time.time_ns()}",
            }
            answer = invoke(
                "api", api.handler, api_event("POST", "/v1/messages", headers, json.dumps(body).encode())
            )
            assert answer["statusCode"] == 202, answer["body"]
            return str(json.loads(answer["body"])["id"])

        def drain(queue: str, queue_arn: str, name: str, function: Any, size: int) -> int:
            """Act as the event source mapping. Its empty long polls are idle cost (bench_idle), so the
            receive that finds the queue empty is not counted here."""
            done = 0
            while True:
                messages = sqs.receive_message(
                    QueueUrl=queue, MaxNumberOfMessages=size, WaitTimeSeconds=0, AttributeNames=["All"]
                ).get("Messages", [])
                if not messages:
                    meter.requests["sqs.ReceiveMessage"] -= 1
                    return done
                records = {"Records": [sqs_record(dict(m), queue_arn) for m in messages]}
                result = invoke(name, function, records)
                assert not result["batchItemFailures"], result
                handles = [m["ReceiptHandle"] for m in messages]
                sqs.delete_message_batch(
                    QueueUrl=queue,
                    Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)],
                )
                done += len(messages)

        items: dict[str, dict[str, list[float]]] = {}

        def measure(name: str, run: Any, extra: dict[str, float], messages: float = n) -> PathCost:
            """`messages`: how many sent (or received) messages the path's requests stand for."""
            seconds.clear()
            invocations.clear()
            meter.take()
            meter.take_items()
            with captured_output() as out:
                run()
            requests, units = meter.take()
            items[name] = meter.take_items()
            return PathCost(
                name, messages, requests, units, dict(invocations), dict(seconds), len(out.getvalue()), extra
            )

        with captured_output():  # warm up clients, models and caches outside the measurement
            for k in range(5):
                post(k)
            drain(resources.send_queue, send_arn, "sender", sender.handler, batch)

        ids: list[str] = []

        def send_all() -> None:
            ids.extend(post(k) for k in range(n))
            drain(resources.send_queue, send_arn, "sender", sender.handler, batch)

        tenant_port.calls.clear()
        send = measure("send", send_all, {"http_api": n})
        # "(send)" is the fake standing in for SES's own check inside SendEmail, not a request LiteMX makes
        tenant_requests = len([c for c in tenant_port.calls if not c.startswith("(")])
        tenant_named = tenant_port.calls.count("(send)")

        store = MessageStore()

        def event_about(message_id: str, sample: str) -> dict[str, Any]:
            """SES's event about one sent message, as its configuration set publishes it."""
            stored = store.get(message_id)
            document = feedback_document(
                sample,
                account_id=world.account.account_id,
                message_id=message_id,
                mailbox="box0@example.com",
                at=anchored_now(),
                messageId=stored.provider_message_id or message_id,
                destination=list(stored.recipients),  # SES names the message's own recipients
            )
            document["mail"]["tags"]["ses:configuration-set"] = [resources.configuration_set]
            return document

        def publish(documents: list[dict[str, Any]]) -> None:
            for document in documents:
                sns.publish(TopicArn=resources.feedback_topic, Message=json.dumps(document))
                # SNS invokes the function with each event (the local system's stand-in queue carries it)
                (delivered,) = sqs.receive_message(QueueUrl=resources.feedback_push)["Messages"]
                event = feedback_invocation(delivered["Body"], message_id=delivered["MessageId"])
                assert event is not None
                invoke("feedback", feedback.handler, event)
                sqs.delete_message(QueueUrl=resources.feedback_push, ReceiptHandle=delivered["ReceiptHandle"])

        def feedback_path(name: str, documents: list[dict[str, Any]], stands_for: float) -> PathCost:
            cost = measure(name, lambda: publish(documents), {"sns": len(documents)}, messages=stands_for)
            cost.requests["sns.Publish"] -= len(documents)  # SES publishes; priced under SNS above
            # The stand-in queue's requests stand for SNS's push, which no SQS request is part of on AWS
            # (and SNS bills no delivery to Lambda): one invocation per event, and no SQS at all.
            for request in [r for r in cost.requests if r.startswith("sqs.")]:
                del cost.requests[request]
            return cost

        # The adverse events of the default path: permanent bounces, each to another recipient (a new
        # suppression entry), few enough that no rule disables the mailbox or account mid-measurement.
        adverse_rate = bounce_rate + complaint_rate
        bounced, delivered_ids = ids[: max(1, round(n * bounce_rate))], ids[max(1, round(n * bounce_rate)) :]
        bounces = []
        for message_id in bounced:
            document = event_about(message_id, "event-bounce-permanent-general")
            recipient = store.get(message_id).recipients[0]
            document["bounce"]["bouncedRecipients"][0]["emailAddress"] = recipient
            document["bounce"]["feedbackId"] = f"bench-bounce-{message_id}"
            bounces.append(document)
        fb = feedback_path("feedback", bounces, stands_for=len(bounces) / adverse_rate)
        delivery_events = []
        for message_id in delivered_ids:
            document = event_about(message_id, "event-delivery")
            document["delivery"]["recipients"] = list(store.get(message_id).recipients)
            delivery_events.append(document)
        deliveries_path = feedback_path("deliveries", delivery_events, stands_for=len(delivered_ids))
        # The path measured must be the real one: every event applied to its message
        statuses = Counter(store.get(m).status.value for m in ids)
        expected = Counter({"bounced": len(bounced), "delivered": len(delivered_ids)})
        assert statuses == expected, f"feedback did not apply: {dict(statuses)}"
        disabled = [m.status.value for m in (world.directory.get_mailbox("box0@example.com"),)]
        assert disabled == ["active"], "a measured bounce disabled the mailbox: the path is not the usual one"

        raw = (
            b"From: alice@sender.test\r\nTo: box0@example.com\r\nSubject: Hello\r\n"
            b"Message-ID: <m-%d@sender.test>\r\n\r\n" + b"A human message. " * 40
        )

        def receive() -> None:
            for k in range(n):
                message_id = f"bench{k:06d}{time.time_ns()}"
                body = raw.replace(b"%d", str(k).encode())
                s3.put_object(Bucket=resources.raw_bucket, Key=f"inbound/{message_id}", Body=body)
                invoke(
                    "inbound",
                    inbound.handler,
                    receipt_event(message_id, body, "alice@sender.test", ["box0@example.com"]),
                )

        received = measure("inbound", receive, {})
        received.requests["s3.PutObject"] -= n
        received.extra["s3_put"] = n  # the receipt rule's S3 action

        # The same mail to a mailbox with a webhook, then the events' delivery to a real receiver.
        from litemx.webhooks import admin as webhook_admin
        from litemx.webhooks.destinations import SocketResolver
        from litemx.webhooks.store import WebhookStore
        from litemx_local.webhook_receiver import Receiver

        with Receiver(now=lambda: datetime.now(UTC)) as receiver, captured_output():
            subscription = webhook_admin.add(
                WebhookStore(),
                world.audit,
                world.clock,
                SocketResolver(),
                mailbox=world.mailboxes[0],
                url=receiver.url,
                settings=webhook_admin.Settings(),
                actor="operator:bench",
                allow_local_http=True,
            )
            receiver.secret = subscription.secret
            local_lambda = LocalLambda(clock=lambda: datetime.now(UTC), context=LambdaContext)
            local_lambda.register("webhooks", lambda event, _: invoke("webhooks", webhooks.handler, event))
            scheduler = LocalScheduler(local_lambda, lambda: datetime.now(UTC))
            clients = {"lambda": session_client("lambda"), "scheduler": session_client("scheduler")}
            uninstall = install_invocations(clients, local_lambda, scheduler)
            hooked = measure("inbound+wh", receive, {})
            hooked.requests["s3.PutObject"] -= n
            hooked.extra["s3_put"] = n
            delivered = measure("webhook", local_lambda.run_due, {})
            uninstall()
        assert len(receiver.requests) == n, len(receiver.requests)
        assert all(r.valid for r in receiver.requests)

    init = {
        name: cold_import_seconds(f"functions.{name}.handler")
        for name in ("api", "sender", "feedback", "inbound", "webhooks")
    }
    # The window's Query is billed by the bytes it returns: here the account's one bucket of this hour; a
    # mailbox that sent in every hour of 7 days makes it 6 units.
    full_window_units = math.ceil(168 * BUCKET_BYTES / 4096)
    full_window = (full_window_units - 1) * PRICE["rru"] * (bounce_rate + complaint_rate) * 1000
    feedback_assumption = (
        f"bounces {bounce_rate:.2%} + complaints {complaint_rate:.2%} of sent messages (the SesBounceRate "
        f"and SesComplaintRate alarm thresholds: the worst rates a healthy account sustains), each priced "
        f"as a permanent bounce, measured over {len(bounced)} through SNS → feedback; its 7-day "
        f"window's Query read 1 unit here, {full_window_units} per mailbox that sent in every hour "
        f"(+${full_window:.5f} per 1,000 for one)"
    )
    report(
        [send, fb, received, hooked, delivered],
        memory,
        batch,
        event_types,
        init,
        deliveries_path,
        feedback_assumption,
    )
    plain, with_hook = received.per(received.service("dynamodb")), hooked.per(hooked.service("dynamodb"))
    print(
        f"webhooks: DynamoDB requests per received message {plain:.2f} without a webhook, {with_hook:.2f} "
        f"with one (added {with_hook - plain:.2f}; budget ≤ 1); SQS requests added "
        f"{hooked.per(hooked.service('sqs')) - received.per(received.service('sqs')):.2f}; the delivery "
        f"itself {delivered.per(delivered.service('dynamodb')):.2f} DynamoDB requests per event"
    )
    floor(items, {"send": send.messages, "feedback": fb.messages})
    print(
        f"SES tenants: {tenant_requests / n:.3f} tenant-API requests per sent message ({tenant_requests} in "
        f"{n}; GetTenant cached {TENANT_STATUS_TTL_SECONDS:.0f} s per process), 0 DynamoDB requests added; "
        f"{tenant_named}/{n} sends named their tenant"
    )


def report(
    paths: list[PathCost],
    memory: dict[str, int],
    batch: int,
    kinds: Sequence[str],
    init: dict[str, float],
    deliveries: PathCost,
    feedback_assumption: str,
) -> None:
    send, fb = paths[0], paths[1]
    print(
        f"Cost per message on the default path ({send.messages:.0f} messages; Idempotency-Key on every send; "
        f"sender batches of {batch} from cdk.json; feedback events published: {', '.join(kinds) or 'none'})"
    )
    print(f"feedback per sent message: {feedback_assumption}")
    print(
        f"CloudWatch Logs: the handlers' own lines, and {platform_log_bytes()} bytes of Lambda platform "
        "lines per invocation (cdk.json platformLogLevel)"
    )
    services = list(send.costs(memory))
    header = f"{'':18}" + "".join(f"{p.name:>12}" for p in paths)
    print(header)
    rows: tuple[tuple[str, Callable[[PathCost], float]], ...] = (
        ("DynamoDB requests", lambda p: p.service("dynamodb")),
        ("  RRU billed", lambda p: p.units.get("rru", 0)),
        ("  WRU billed", lambda p: p.units.get("wru", 0)),
        ("SQS requests", lambda p: p.service("sqs") + p.extra.get("sqs", 0)),
        ("S3 requests", lambda p: p.service("s3") + p.extra.get("s3_put", 0)),
        ("Lambda invocations", lambda p: sum(p.invocations.values())),
    )
    for label, count in rows:
        print(f"{label:18}" + "".join(f"{p.per(count(p)):>12.2f}" for p in paths))
    print("$ per 1,000 messages (us-east-1 list prices):")
    totals = {p.name: 0.0 for p in paths}
    for service in services:
        row = {p.name: p.costs(memory)[service] * 1000 for p in paths}
        for name, value in row.items():
            totals[name] += value
        print(f"  {service:16}" + "".join(f"{row[p.name]:>12.5f}" for p in paths))
    print(f"  {'total':16}" + "".join(f"{totals[p.name]:>12.5f}" for p in paths))
    for p in paths:
        detail = ", ".join(
            f"{op.split('.', 1)[1]} {p.per(count):.2f}"
            for op, count in sorted(p.requests.items())
            if op.startswith("dynamodb.") and count
        )
        print(f"  {p.name} DynamoDB requests per message: {detail}")
    per_delivery = sum(deliveries.costs(memory).values()) * 1000
    delivery_requests = deliveries.per(deliveries.service("dynamodb"))
    subscribed = "delivery" in kinds  # cdk.json recordDeliveries: true ships them
    outbound = totals["send"] + totals["feedback"] + (per_delivery if subscribed else 0.0)
    share = outbound / SES_PER_1000
    verdict = "met" if share <= TARGET_SHARE else "NOT met"
    requests = send.per(send.service("dynamodb")) + fb.per(fb.service("dynamodb"))
    requests += delivery_requests if subscribed else 0.0
    print(
        f"outbound overhead (send + feedback{' + deliveries' if subscribed else ''}): ${outbound:.5f} per "
        f"1,000 = {share:.1%} of SES's $0.10 (target ≤ {TARGET_SHARE:.0%}: {verdict}); DynamoDB requests "
        f"per sent message incl. feedback: {requests:.2f} (target ≤ 4)"
    )
    other = outbound - per_delivery if subscribed else outbound + per_delivery
    print(
        f"  with recordDeliveries: {str(not subscribed).lower()}: a Delivery event per sent message "
        f"{'removed' if subscribed else 'added'} (${per_delivery:.5f} per 1,000: SNS, "
        f"{deliveries.per(deliveries.service('sqs') + deliveries.extra.get('sqs', 0)):.0f} SQS requests, "
        f"1 invocation, {delivery_requests:.0f} DynamoDB requests) = ${other:.5f} per 1,000 = "
        f"{other / SES_PER_1000:.1%} of SES's $0.10"
    )
    cold = {name: init[name] * memory.get(name, 512) / 1024 * PRICE["lambda_gb_second_arm"] for name in init}
    print(
        "init phase (billed by Lambda) per cold start, at the measured import time: "
        + ", ".join(f"{name} {init[name] * 1000:.0f} ms = ${cold[name] * 1000:.5f}/1,000" for name in init)
    )
    worst = outbound + sum(
        cold[name] * 1000 * send.per(send.invocations.get(name, 0)) for name in ("api", "sender")
    )
    worst += cold["feedback"] * 1000 * fb.per(fb.invocations.get("feedback", 0))
    print(
        f"  if every invocation of a message started cold: ${worst:.5f} per 1,000 "
        f"= {worst / SES_PER_1000:.1%}"
    )


def floor(items: dict[str, dict[str, list[float]]], messages: dict[str, float]) -> None:
    """Where each path's DynamoDB dollars go, per request kind and table, largest first (per sent message)."""
    print("DynamoDB per message by request and table (RRU, WRU billed; $ per 1,000; share of SES's $0.10):")
    for path, n in messages.items():
        rows = sorted(
            (
                (k, r / n, w / n, (r * PRICE["rru"] + w * PRICE["wru"]) / n * 1000)
                for k, (r, w) in items[path].items()
            ),
            key=lambda row: -row[3],
        )
        for key, rru, wru, dollars in rows:
            print(f"  {path:9}{key:44}{rru:>7.2f}{wru:>7.2f}  ${dollars:.5f}  {dollars / SES_PER_1000:>6.1%}")


def _tenant_port(wiring: Any) -> Any:
    from litemx.tenants.sending import TenantGatedProvider

    provider = wiring.runtime().delivery.provider
    assert isinstance(provider, TenantGatedProvider), "the local system sends through the tenant gate"
    return provider.cache.port


def _give_world_a_tenant(world: Any, resources: Any, port: Any) -> None:
    from litemx.tenants.logic import Lifecycle
    from litemx.tenants.models import TenantScope
    from litemx_local.aws import REGION
    from litemx_local.system import ACCOUNT_ID

    scope = TenantScope(REGION, ACCOUNT_ID, resources.configuration_set)
    Lifecycle(port, scope, world.audit, world.clock, "operator:bench").associate_domain(
        world.account.account_id, "example.com"
    )


if __name__ == "__main__":
    main()
