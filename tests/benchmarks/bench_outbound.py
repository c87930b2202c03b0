"""End-to-end outbound figures against the local AWS: API → queue → sender → SES, per accepted message.

Prints the AWS requests each accepted message costs (DynamoDB, SQS, S3, SES; counted with botocore's
event hooks on every client the handlers create), the capacity DynamoDB reports for them, what that
implies per 1,000 messages at list prices, and messages/s through the pipeline compared with bare SES
sends to the same moto server in the same run. Run with `make bench`; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import time
import warnings
from collections import Counter, defaultdict
from typing import Any

import boto3
import botocore.session

from litemx.tenants.logic import TENANT_STATUS_TTL_SECONDS

# us-east-1 list prices (USD), November 2026 pricing pages; Lambda and API Gateway beyond free tier.
PRICE = {
    "dynamodb_wru": 0.625 / 1e6,  # on-demand write request unit
    "dynamodb_rru": 0.125 / 1e6,  # on-demand read request unit
    "sqs_request": 0.40 / 1e6,  # standard queue, per 64 KB request
    "s3_put": 0.005 / 1e3,
    "s3_get": 0.0004 / 1e3,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second_arm": 0.0000133334,
    "http_api_request": 1.00 / 1e6,
    "ses_message": 0.10 / 1e3,
}
LAMBDA_MEMORY_GB = 0.5  # infra/constructs/function.py default
SENDER_BATCH = 10
READ_OPERATIONS = frozenset({"BatchGetItem", "GetItem", "Query", "Scan", "TransactGetItems"})


class AwsMeter:
    """Counts every request (and DynamoDB's consumed capacity) of every client created after install."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.capacity: defaultdict[str, float] = defaultdict(float)
        original = botocore.session.Session.create_client
        meter = self

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            client.meta.events.register("before-send", meter._count)
            client.meta.events.register("before-parameter-build.dynamodb", meter._ask_capacity)
            client.meta.events.register("after-call.dynamodb", meter._capacity)
            return client

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign,assignment]

    def _count(self, event_name: str, **_: Any) -> None:
        service, operation = event_name.split(".", 2)[1:]
        self.requests[f"{service}.{operation}"] += 1

    @staticmethod
    def _ask_capacity(params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def _capacity(self, parsed: dict[str, Any], event_name: str, **_: Any) -> None:
        """DynamoDB Local reports total CapacityUnits per table; reads and writes are told apart by
        the operation."""
        consumed = parsed.get("ConsumedCapacity") or []
        kind = "read" if event_name.rpartition(".")[2] in READ_OPERATIONS else "write"
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            self.capacity[kind] += float(entry.get("CapacityUnits", 0) or 0)

    def reset(self) -> None:
        self.requests.clear()
        self.capacity.clear()

    def by_service(self) -> Counter[str]:
        totals: Counter[str] = Counter()
        for key, count in self.requests.items():
            totals[key.split(".")[0]] += count
        return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    meter = AwsMeter()  # before any client exists
    # What the stack sets on every function; Powertools reads it when the handler modules are imported.
    os.environ.update(
        POWERTOOLS_SERVICE_NAME="litemx-bench",
        POWERTOOLS_METRICS_NAMESPACE="LiteMX",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="ERROR",
    )

    from functions import wiring
    from functions.api import handler as api
    from functions.sender import handler as sender
    from litemx.plans import LimitOverrides, Plan
    from litemx_local.aws import LocalAws
    from litemx_local.system import (
        LambdaContext,
        api_event,
        create_resources,
        function_environment,
        sqs_record,
    )
    from litemx_local.world import build_world

    with LocalAws() as aws:
        os.environ.update(aws.environment())
        resources = create_resources(aws)
        os.environ.update(function_environment(resources) | {"POWERTOOLS_METRICS_DISABLED": "true"})
        wiring.reset_for_tests()
        boto3.client("ses").verify_domain_identity(Domain="example.com")
        lifted = LimitOverrides(mailbox_day=10**6, account_day=10**6, account_month=10**7)
        world = build_world(resources.tables, plan=Plan.SCALE, overrides=lifted)
        tenant_port = _tenant_port(wiring)
        _give_world_a_tenant(world, resources, tenant_port)
        token = world.secrets["box0@example.com"]
        sqs = boto3.client("sqs")
        queue_arn = sqs.get_queue_attributes(QueueUrl=resources.send_queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

        def post(n: int) -> float:
            body = {
                "from": "box0@example.com",
                "to": [f"friend{n % 5}@outside.test"],
                "subject": f"Note {n}",
                "text": "A short human-scale message. " * 20,
            }
            started = time.perf_counter()
            event = api_event(
                "POST", "/v1/messages", {"authorization": f"Bearer {token}"}, json.dumps(body).encode()
            )
            answer = api.handler(event, LambdaContext("api"))
            assert answer["statusCode"] == 202, answer["body"]
            return time.perf_counter() - started

        def drain() -> tuple[int, list[float]]:
            done, durations = 0, list[float]()
            while True:
                batch = sqs.receive_message(
                    QueueUrl=resources.send_queue,
                    MaxNumberOfMessages=SENDER_BATCH,
                    WaitTimeSeconds=0,
                    AttributeNames=["All"],
                ).get("Messages", [])
                if not batch:
                    return done, durations
                started = time.perf_counter()
                result = sender.handler(
                    {"Records": [sqs_record(dict(m), queue_arn) for m in batch]}, LambdaContext("sender")
                )
                durations.append(time.perf_counter() - started)
                failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
                assert not failed, failed
                sqs.delete_message_batch(
                    QueueUrl=resources.send_queue,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                    ],
                )
                done += len(batch)

        # The handlers print their metrics (CloudWatch EMF) to stdout, as on Lambda: keep them off the report.
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for n in range(10):  # warm up clients and caches, outside the measurement
                post(n)
            drain()
            meter.reset()
            tenant_port.calls.clear()
            started = time.perf_counter()
            api_seconds = [post(n) for n in range(args.messages)]
            delivered, sender_seconds = drain()
            pipeline_seconds = time.perf_counter() - started
        assert delivered == args.messages
        requests, capacity = meter.by_service(), dict(meter.capacity)
        # "(send)" is the fake standing in for SES's own check inside SendEmail, not a request LiteMX makes
        tenant_calls = len([c for c in tenant_port.calls if not c.startswith("(")])
        tenant_named = tenant_port.calls.count("(send)")
        detail = dict(meter.requests)

        raw = b"From: box0@example.com\r\nTo: friend@outside.test\r\nSubject: bare\r\n\r\n" + b"x" * 600
        ses = boto3.client("sesv2")
        started = time.perf_counter()
        for n in range(args.messages):
            ses.send_email(
                FromEmailAddress="box0@example.com",
                Destination={"ToAddresses": [f"f{n}@outside.test"]},
                Content={"Raw": {"Data": raw}},
            )
        bare_seconds = time.perf_counter() - started

    n = args.messages
    per = {service: count / n for service, count in sorted(requests.items())}
    print(
        f"outbound end to end against the local AWS ({n} accepted messages, 1 recipient each, "
        "sender batches of 10, no Idempotency-Key)"
    )
    print("  AWS requests per accepted message: " + ", ".join(f"{s} {v:.2f}" for s, v in per.items()))
    for operation, count in sorted(detail.items()):
        if operation.startswith("dynamodb."):
            print(f"    {operation}: {count / n:.2f}")
    wru = capacity.get("write", 0) / n
    rru = capacity.get("read", 0) / n
    print(
        f"  DynamoDB capacity per message (as DynamoDB Local reports it): {wru:.2f} WRU, {rru:.2f} RRU"
        + (f", {capacity['unsplit'] / n:.2f} unsplit" if capacity.get("unsplit") else "")
    )
    lambda_gb_s = (statistics.fmean(api_seconds) + sum(sender_seconds) / n) * LAMBDA_MEMORY_GB
    costs = {
        "DynamoDB": wru * PRICE["dynamodb_wru"] + rru * PRICE["dynamodb_rru"],
        "SQS": per.get("sqs", 0) * PRICE["sqs_request"],
        "S3": detail.get("s3.PutObject", 0) / n * PRICE["s3_put"]
        + detail.get("s3.GetObject", 0) / n * PRICE["s3_get"],
        "Lambda": (1 + 1 / SENDER_BATCH) * PRICE["lambda_request"]
        + lambda_gb_s * PRICE["lambda_gb_second_arm"],
        "API Gateway": PRICE["http_api_request"],
    }
    overhead = sum(costs.values()) * 1000
    print("  AWS cost per 1,000 messages at us-east-1 list prices (SES itself: $0.10):")
    for name, cost in costs.items():
        print(f"    {name:12} ${cost * 1000:.5f}")
    print(
        f"    {'total':12} ${overhead:.5f} = {overhead / 0.10:.1%} of SES's price "
        f"(Lambda at {LAMBDA_MEMORY_GB * 1024:.0f} MB for the in-process durations measured here)"
    )
    dynamodb_per = per.get("dynamodb", 0)
    print(
        f"  targets: <= 4 DynamoDB requests per message: {'met' if dynamodb_per <= 4 else 'NOT met'} "
        f"({dynamodb_per:.2f}); overhead <= 5% of SES: {'met' if overhead <= 0.005 else 'NOT met'} "
        f"({overhead / 0.10:.1%}; each raw message's S3 PUT is "
        f"${PRICE['s3_put'] * 1000:.3f} per 1,000, 5.0% by itself)"
    )
    print(
        f"  SES tenants (docs/tenants.md): {tenant_calls / n:.3f} tenant-API requests per message "
        f"({tenant_calls} in {n} sends; GetTenant cached {TENANT_STATUS_TTL_SECONDS:.0f} s per process), "
        f"0 DynamoDB requests added; {tenant_named}/{n} sends named the tenant"
    )
    print(
        f"  throughput: {n / pipeline_seconds:.1f} messages/s through API → queue → sender "
        f"(single process), {n / bare_seconds:.1f} messages/s bare SES sends to the same moto"
    )


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
