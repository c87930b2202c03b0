"""A cold start as deployed, per handler: the import, the first invocation and a second (warm) one, each
handler in a fresh `python -S` process on the code asset plus the dependency layer with their bytecode
(bench_imports.deployed_set), invoked in-process against the local AWS with the stack's environment.

The first call pays for what a handler builds on first use (the botocore session, its clients and the
service models they load, the tables' bindings); the target is first - warm ≤ 100 ms. A second process per
handler counts, without timing, the AWS clients created and the botocore data files read on each call.
Events follow a real message: two sends with an Idempotency-Key (the api), each to a new recipient, the
sender taking the queued messages one per batch (cdk.json `sesSendRate` 1), a permanent bounce of each as
SNS invokes the feedback function with it (Delivery events are opt-in, `recordDeliveries`), two received
messages (inbound), and two `message.received` events as inbound invokes the webhooks function with them,
delivered to a subscribed receiver on 127.0.0.1 (local mode allows http there) that answers 200. The
account's absolute hard-bounce limit is lifted (DISABLE_ACCOUNT_HARD_BOUNCES) so that every run's bounces
take the usual path, not the one that disables the account. Run under
scripts/netns with `make bench`; prints figures, asserts nothing.
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ("api", "sender", "feedback", "inbound", "webhooks")
RUNS = int(os.environ.get("LITEMX_BENCH_COLDSTART_RUNS", "3"))
TARGET_MS = 100.0


class _Context:
    """The parts of Lambda's context object the handlers and Powertools read."""

    def __init__(self, name: str) -> None:
        self.function_name = name
        self.memory_limit_in_mb = 512
        self.aws_request_id = uuid.uuid4().hex
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _counting() -> dict[str, int]:
    """Count clients created and botocore data files read (installed before the handler's import)."""
    import botocore.loaders
    import botocore.session

    counts = {"clients": 0, "files": 0, "client_us": 0}
    create_client, load_file = (
        botocore.session.Session.create_client,
        botocore.loaders.JSONFileLoader.load_file,
    )

    def counted_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["clients"] += 1
        started = time.perf_counter()
        try:
            return create_client(self, *args, **kwargs)
        finally:
            counts["client_us"] += int((time.perf_counter() - started) * 1e6)

    def counted_file(self: Any, *args: Any, **kwargs: Any) -> Any:
        found = load_file(self, *args, **kwargs)
        counts["files"] += found is not None
        return found

    setattr(botocore.session.Session, "create_client", counted_client)  # noqa: B010 - a bench's probe
    setattr(botocore.loaders.JSONFileLoader, "load_file", counted_file)  # noqa: B010
    return counts


def child(name: str, events_file: str, mode: str) -> None:
    """In the fresh process: import the handler, invoke it on two events, print the figures as JSON."""
    counts = _counting() if mode == "count" else {}
    events = json.loads(Path(events_file).read_text())
    started, cpu = time.perf_counter(), time.process_time()
    handler = importlib.import_module(f"functions.{name}.handler").handler
    figures: dict[str, Any] = {
        "import": time.perf_counter() - started,
        "import_cpu": time.process_time() - cpu,
        "import_counts": dict(counts),
    }
    for label, event in zip(("first", "warm"), events, strict=True):
        before = dict(counts)
        started, cpu = time.perf_counter(), time.process_time()
        answer = handler(event, _Context(name))
        figures[label] = time.perf_counter() - started
        figures[f"{label}_cpu"] = time.process_time() - cpu
        figures[f"{label}_counts"] = {k: counts[k] - before[k] for k in counts}
        figures[f"{label}_answer"] = answer
    print("\n" + json.dumps(figures, default=str))


def _run_child(name: str, events: list[dict[str, Any]], path: list[str], mode: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as sink:
        json.dump(events, sink)
    probe = (
        "import sys; sys.path[:0] = sys.argv[4:]; "
        "from bench_coldstart import child; child(sys.argv[1], sys.argv[2], sys.argv[3])"
    )
    here = str(Path(__file__).resolve().parent)
    out = subprocess.run(
        [sys.executable, "-S", "-c", probe, name, sink.name, mode, *path, here],
        capture_output=True,
        text=True,
        env=os.environ | {"POWERTOOLS_LOG_LEVEL": "WARNING", "_HANDLER": f"functions.{name}.handler.handler"},
        cwd=tempfile.gettempdir(),
        check=False,
    )
    os.unlink(sink.name)
    if out.returncode != 0:
        raise SystemExit(f"{name} ({mode}) failed:\n{out.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    for label in ("first", "warm"):
        _check(name, figures[f"{label}_answer"])
    return figures


def _check(name: str, answer: Any) -> None:
    if name == "api":
        assert answer["statusCode"] == 202, answer
    elif name == "sender":
        assert not answer["batchItemFailures"], answer
    elif name == "feedback":
        assert answer == {"outcomes": ["applied"]}, answer
    elif name == "webhooks":
        assert answer == {"outcome": "delivered"}, answer


def main() -> None:  # noqa: C901 - one measured scenario, read top to bottom
    sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]
    import boto3

    from tests.benchmarks.bench_imports import LAMBDA_ENV, deployed_set

    with tempfile.TemporaryDirectory(prefix="litemx-coldstart-") as tmp:
        path = deployed_set(Path(tmp))
        os.environ.update({k: v for k, v in LAMBDA_ENV.items() if k != "PATH"})
        os.environ["DISABLE_ACCOUNT_HARD_BOUNCES"] = "1000"  # see the module's docstring

        from functions import wiring
        from litemx.messages.store import MessageStore
        from litemx.plans import LimitOverrides, Plan
        from litemx.webhooks import admin as webhook_admin
        from litemx.webhooks.destinations import SocketResolver
        from litemx.webhooks.models import Subscription, WebhookJob, webhook_id
        from litemx.webhooks.store import WebhookStore
        from litemx_local.aws import LocalAws
        from litemx_local.system import (
            api_event,
            create_resources,
            function_environment,
            receipt_event,
            sqs_record,
        )
        from litemx_local.testclock import anchored_now
        from litemx_local.webhook_receiver import Receiver
        from litemx_local.world import build_world
        from tests.benchmarks.bench_outbound import _give_world_a_tenant, _tenant_port
        from tests.events import feedback as feedback_document
        from tests.events import sns_event

        with LocalAws() as aws:
            os.environ.update(aws.environment())
            resources = create_resources(aws)
            os.environ.update(function_environment(resources))
            wiring.reset_for_tests()
            boto3.client("ses").verify_domain_identity(Domain="example.com")
            lifted = LimitOverrides(mailbox_day=10**6, account_day=10**6, account_month=10**7)
            world = build_world(resources.tables, plan=Plan.SCALE, overrides=lifted)
            _give_world_a_tenant(world, resources, _tenant_port(wiring))
            token = world.secrets["box0@example.com"]
            sqs, s3 = boto3.client("sqs"), boto3.client("s3")

            def arn(url: str) -> str:
                attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
                return str(attributes["Attributes"]["QueueArn"])

            def sends(count: int) -> list[dict[str, Any]]:
                events = []
                for k in range(count):
                    body = {
                        "from": "box0@example.com",
                        "to": [f"friend{k}.{uuid.uuid4().hex[:8]}@outside.test"],  # bounced below
                        "subject": f"Re: order {k}",
                        "text": "A short human-scale reply. " * 20,
                    }
                    headers = {
                        "authorization": f"Bearer {token}",
                        "content-type": "application/json",
                        "idempotency-key": f"cold-{uuid.uuid4().hex}",
                    }
                    events.append(api_event("POST", "/v1/messages", headers, json.dumps(body).encode()))
                return events

            def queued(count: int) -> list[dict[str, Any]]:
                records: list[dict[str, Any]] = []
                while len(records) < count:
                    found = sqs.receive_message(
                        QueueUrl=resources.send_queue, MaxNumberOfMessages=1, AttributeNames=["All"]
                    ).get("Messages", [])
                    assert found, "the api's sends were not queued"
                    records.append({"Records": [sqs_record(dict(found[0]), arn(resources.send_queue))]})
                return records

            def bounces(message_ids: list[str]) -> list[dict[str, Any]]:
                events = []
                for message_id in message_ids:
                    stored = MessageStore().get(message_id)
                    document = feedback_document(
                        "event-bounce-permanent-general",
                        account_id=world.account.account_id,
                        message_id=message_id,
                        mailbox="box0@example.com",
                        at=anchored_now(),
                        messageId=stored.provider_message_id or message_id,
                        destination=list(stored.recipients),
                    )
                    document["mail"]["tags"]["ses:configuration-set"] = [resources.configuration_set]
                    document["bounce"]["bouncedRecipients"][0]["emailAddress"] = stored.recipients[0]
                    document["bounce"]["feedbackId"] = f"cold-bounce-{message_id}"
                    events.append(sns_event(document, message_id=uuid.uuid4().hex))
                return events

            def received(count: int) -> list[dict[str, Any]]:
                events = []
                for k in range(count):
                    message_id = f"cold{k:04d}{time.time_ns()}"
                    raw = (
                        b"From: alice@sender.test\r\nTo: box0@example.com\r\nSubject: Hello\r\n"
                        + f"Message-ID: <m-{message_id}@sender.test>\r\n\r\n".encode()
                        + b"A human message. " * 40
                    )
                    s3.put_object(Bucket=resources.raw_bucket, Key=f"inbound/{message_id}", Body=raw)
                    events.append(receipt_event(message_id, raw, "alice@sender.test", ["box0@example.com"]))
                return events

            @contextmanager
            def subscribed() -> Iterator[tuple[Subscription, Receiver]]:
                """A webhook of box0 for one run's webhooks step (removed after it, so that the inbound
                step's mail invokes nothing)."""
                with Receiver(now=anchored_now) as receiver:
                    subscription = webhook_admin.add(
                        WebhookStore(),
                        world.audit,
                        world.clock,
                        SocketResolver(),
                        mailbox=world.mailboxes[0],
                        url=receiver.url,
                        settings=webhook_admin.Settings(timeout_seconds=5),
                        actor="bench",
                        allow_local_http=True,
                    )
                    receiver.secret = subscription.secret
                    try:
                        yield subscription, receiver
                    finally:
                        webhook_admin.remove(
                            WebhookStore(),
                            world.audit,
                            world.clock,
                            mailbox=world.mailboxes[0],
                            subscription_id=subscription.subscription_id,
                            actor="bench",
                        )

            def webhook_jobs(subscription: Subscription, count: int) -> list[dict[str, Any]]:
                """What inbound's asynchronous invocation carries: one job per newly filed message."""
                events = []
                for _ in range(count):
                    message_id = f"coldwh{time.time_ns()}"
                    job = WebhookJob(
                        subscription_id=subscription.subscription_id,
                        mailbox="box0@example.com",
                        message_id=message_id,
                        webhook_id=webhook_id(subscription.subscription_id, message_id),
                        data={"from": "alice@sender.test", "subject": "Hello", "snippet": "A human message."},
                        queued_at=anchored_now(),
                    )
                    events.append(job.as_json())
                return events

            results: dict[str, list[dict[str, Any]]] = {name: [] for name in HANDLERS}
            counted: dict[str, dict[str, Any]] = {}
            for _ in range(RUNS):
                ids: list[str] = []
                for mode in ("time", "count"):
                    figures = _run_child("api", sends(2), path, mode)
                    ids += [json.loads(figures[f"{k}_answer"]["body"])["id"] for k in ("first", "warm")]
                    _keep(results, counted, "api", mode, figures)
                for mode in ("time", "count"):
                    _keep(results, counted, "sender", mode, _run_child("sender", queued(2), path, mode))
                for mode, pair in (("time", ids[:2]), ("count", ids[2:])):
                    _keep(
                        results,
                        counted,
                        "feedback",
                        mode,
                        _run_child("feedback", bounces(pair), path, mode),
                    )
                for mode in ("time", "count"):
                    _keep(results, counted, "inbound", mode, _run_child("inbound", received(2), path, mode))
                with subscribed() as (subscription, receiver):
                    for mode in ("time", "count"):
                        events = webhook_jobs(subscription, 2)
                        _keep(results, counted, "webhooks", mode, _run_child("webhooks", events, path, mode))
                    assert len(receiver.requests) == 4, "each webhook event is one signed POST"
                    assert all(request.valid for request in receiver.requests)
    _report(results, counted)


def _keep(
    results: dict[str, list[dict[str, Any]]],
    counted: dict[str, dict[str, Any]],
    name: str,
    mode: str,
    figures: dict[str, Any],
) -> None:
    if mode == "time":
        results[name].append(figures)
    else:
        counted[name] = figures


def _report(results: dict[str, list[dict[str, Any]]], counted: dict[str, dict[str, Any]]) -> None:
    print(
        f"Cold start per handler as deployed (code asset + layer, bytecode, Python {sys.version.split()[0]}; "
        f"median of {RUNS} fresh processes; against the local AWS)"
    )
    print(
        f"{'handler':<10}{'import ms':>10}{'first ms':>10}{'warm ms':>9}{'first-warm':>11}{'cpu':>6}"
        f"{'clients':>9}{'files':>7}{'client ms':>11}  target first-warm ≤ {TARGET_MS:.0f} ms"
    )
    for name, runs in results.items():
        imported, first, warm = (
            statistics.median(r[k] * 1000 for r in runs) for k in ("import", "first", "warm")
        )
        extra = statistics.median((r["first"] - r["warm"]) * 1000 for r in runs)
        extra_cpu = statistics.median((r["first_cpu"] - r["warm_cpu"]) * 1000 for r in runs)
        counts = counted[name]["first_counts"]
        verdict = "met" if extra <= TARGET_MS else "NOT met"
        print(
            f"{name:<10}{imported:>10.0f}{first:>10.0f}{warm:>9.0f}{extra:>11.0f}{extra_cpu:>6.0f}"
            f"{counts['clients']:>9}{counts['files']:>7}{counts['client_us'] / 1000:>11.0f}  {verdict}"
        )
    print(
        "first-warm: wall time, as Lambda bills it (it includes the local AWS's answers); cpu: the handler "
        "process's own CPU time, first call minus warm call, steadier on a loaded machine. clients: AWS "
        "clients the first call created, files: the botocore data files (service models, endpoint rules) "
        "they read, client ms: the time creating them took (in the counting process)"
    )


if __name__ == "__main__":
    main()
