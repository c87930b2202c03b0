"""Webhooks for new mail end to end on the local AWS: the real inbound handler invokes the delivery
function asynchronously, the real delivery handler POSTs the event to a real HTTP receiver on 127.0.0.1
that verifies the Standard Webhooks signature, and schedules each retry as a one-time schedule that
invokes it again; subscriptions, slots and deliveries in DynamoDB Local.

Lambda's Invoke and Scheduler's CreateSchedule requests are built by the handlers' own botocore clients
and answered in-process (litemx_local.invocations): what ran and what was scheduled is read there. Time
is the world's clock: a schedule fires when the clock reaches it, never slept through."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import boto3
import pytest

from litemx.storage.session import client
from litemx.webhooks import admin
from litemx.webhooks.aws import SCHEDULE_LEAD, SCHEDULE_RETRY_ATTEMPTS
from litemx.webhooks.destinations import SocketResolver
from litemx.webhooks.models import RETRY_WINDOW, DeliveryStatus, DestinationRefusedError, WebhookUrlError
from litemx.webhooks.store import WebhookStore
from litemx_local.invocations import LocalLambda, LocalSchedule, LocalScheduler, install, pump
from litemx_local.system import LambdaContext
from litemx_local.webhook_receiver import Receiver
from tests.events import mime as corpus
from tests.events.mailroom import WEBHOOK_FUNCTION, Mailroom, mailroom
from tests.integration.conftest import World

API_URL = "http://127.0.0.1:8080"
GROUP = "litemx-webhook-retries-test"


@dataclass
class Hooks:
    world: World
    room: Mailroom
    dlq_url: str
    sqs: Any
    lambda_: LocalLambda
    scheduler: LocalScheduler
    outcomes: list[str] = field(default_factory=list)

    @property
    def box(self) -> str:
        return self.world.mailboxes[0].address

    def subscribe(self, receiver: Receiver | None, url: str = "", **settings: Any) -> str:
        subscription = admin.add(
            WebhookStore(),
            self.world.audit,
            self.world.clock,
            SocketResolver(),
            mailbox=self.world.mailboxes[0],
            url=url or (receiver.url if receiver else ""),
            settings=admin.Settings(**settings),
            actor="operator",
            allow_local_http=True,
        )
        if receiver is not None:
            receiver.secret = subscription.secret
        return subscription.subscription_id

    def mail(self, ses_id: str = "") -> None:
        """A message arrives (given an id: as SES redelivers it, with the same id and receipt time)."""
        extra: dict[str, Any] = {"ses_id": ses_id, "timestamp": self.world.clock.now()} if ses_id else {}
        self.room.receive(corpus("multipart-alternative"), [self.box], **extra)

    def queued(self) -> int:
        """Asynchronous invocations waiting for Lambda."""
        return len(self.lambda_.pending)

    def run(self) -> list[str]:
        """Lambda runs what is due now; the outcomes of the delivery handler, in order."""
        before = len(self.outcomes)
        while pump(self.lambda_, self.scheduler):
            pass
        return self.outcomes[before:]

    def next_schedule(self) -> LocalSchedule:
        (only,) = self.scheduler.schedules.values()
        return only

    def later(self) -> list[str]:
        """Nothing runs before the pending schedule is due; the clock reaches it, and it runs."""
        schedule = self.next_schedule()
        assert self.run() == []
        self.world.clock.set(schedule.at)
        outcomes = self.run()
        assert schedule.name not in {s.name for s in self.scheduler.schedules.values()}  # deleted
        return outcomes

    def delivery(self) -> Any:
        (found,) = WebhookStore().deliveries(self.box, limit=10)
        return found


@pytest.fixture
def hooks(world: World, tables, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hooks]:
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="litemx-webhooks-test-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    with mailroom(tables, monkeypatch) as room:
        for key, value in {
            "WEBHOOK_DLQ_URL": dlq_url,
            "WEBHOOK_DLQ_ARN": dlq_arn,
            "WEBHOOK_SCHEDULE_GROUP": GROUP,
            "WEBHOOK_SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/litemx-webhook-scheduler",
            "API_URL": API_URL,
            "WEBHOOK_MAX_RECEIVE_COUNT": "50",
            "WEBHOOK_ALLOW_LOCAL_HTTP": "true",
        }.items():
            monkeypatch.setenv(key, value)
        from functions.webhooks import handler

        handler.runtime.cache_clear()
        rt = handler.runtime()
        monkeypatch.setattr(handler, "runtime", lambda: replace(rt, clock=world.clock))
        lambda_ = LocalLambda(clock=world.clock.now, context=LambdaContext)
        scheduler = LocalScheduler(lambda_, world.clock.now)
        found = Hooks(world, room, dlq_url, sqs, lambda_, scheduler)

        def delivery_function(event: dict[str, Any], context: Any) -> None:
            found.outcomes.append(handler.handler(event, context)["outcome"])

        lambda_.register(
            WEBHOOK_FUNCTION,
            delivery_function,
            dead_letter=lambda body: sqs.send_message(QueueUrl=dlq_url, MessageBody=body.decode()),
        )
        uninstall = install(
            {"lambda": client("lambda"), "scheduler": client("scheduler")}, lambda_, scheduler
        )
        try:
            yield found
        finally:
            uninstall()


def test_new_mail_is_posted_once_with_a_valid_signature_and_a_link_to_the_read_api(hooks):
    with Receiver(now=hooks.world.clock.now) as receiver:
        # Given a webhook on the mailbox
        hooks.subscribe(receiver)
        # When a message arrives, and SES hands the same receipt over again
        hooks.mail(ses_id="sesdup0001abcdefghij")
        hooks.mail(ses_id="sesdup0001abcdefghij")
        # Then the function is invoked once, asynchronously, and the event delivered signed
        assert hooks.queued() == 1
        assert hooks.run() == ["delivered"]
    (request,) = receiver.requests
    assert request.valid
    document = json.loads(request.body)
    data = document["data"]
    assert document["type"] == "message.received"
    assert data["mailbox"] == hooks.box
    assert data["url"] == f"{API_URL}/v1/mailboxes/{hooks.box}/messages/{data['message_id']}"
    assert "text" not in data
    assert "html" not in data
    assert len(data["snippet"]) <= 200
    assert request.headers["webhook-id"].startswith("msg_")
    assert hooks.delivery().status is DeliveryStatus.DELIVERED
    # Nothing was scheduled, nothing waits: no request is made while no mail comes
    assert list(hooks.scheduler.created) == []
    assert hooks.run() == []


def test_a_delivered_record_is_final_so_a_late_duplicate_chain_cannot_reopen_it(hooks):
    with Receiver(now=hooks.world.clock.now) as receiver:
        hooks.subscribe(receiver)
        hooks.mail()
        assert hooks.run() == ["delivered"]
    delivered = hooks.delivery()
    # A second chain of the same event failed its attempt meanwhile and records its retry
    reopened = replace(delivered, status=DeliveryStatus.RETRYING, attempts=delivered.attempts + 1)
    WebhookStore().record(reopened, now=hooks.world.clock.now())
    assert hooks.delivery() == delivered


def test_500_twice_then_200_is_retried_by_schedules_and_delivered_once_under_one_webhook_id(hooks):
    with Receiver(now=hooks.world.clock.now, script=["500", "500", "200"]) as receiver:
        hooks.subscribe(receiver)
        hooks.mail()
        assert hooks.run() == ["retry"]
        first = hooks.delivery()
        assert first.next_attempt_at - first.last_attempt_at == timedelta(seconds=30)
        # The retry is a one-time schedule, named after the event and its next receive, that invokes the
        # function again with the same job at a whole minute no earlier than the backoff asks
        schedule = hooks.next_schedule()
        assert (schedule.group, schedule.name) == (GROUP, f"{first.webhook_id}-2")
        assert schedule.at >= first.next_attempt_at
        assert schedule.at - hooks.world.clock.now() <= timedelta(seconds=30) + timedelta(minutes=1)
        assert (schedule.at.second, schedule.at.microsecond) == (0, 0)
        assert schedule.delete_after
        target = schedule.target
        assert target["Arn"] == LambdaContext(WEBHOOK_FUNCTION).invoked_function_arn
        assert json.loads(target["Input"])["receive"] == 2
        assert json.loads(target["Input"])["webhook_id"] == first.webhook_id
        assert target["DeadLetterConfig"]["Arn"].endswith(":litemx-webhooks-test-dlq")
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == SCHEDULE_RETRY_ATTEMPTS
        assert hooks.later() == ["retry"]
        second = hooks.delivery()
        assert second.next_attempt_at - second.last_attempt_at == timedelta(seconds=60)
        assert hooks.next_schedule().name == f"{first.webhook_id}-3"
        assert hooks.later() == ["delivered"]
    assert [r.valid for r in receiver.requests] == [True, True, True]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    delivered = hooks.delivery()
    assert (delivered.status, delivered.attempts) == (DeliveryStatus.DELIVERED, 3)
    assert hooks.scheduler.schedules == {}
    assert hooks.queued() == 0


def test_a_repeated_invocation_schedules_its_retry_once(hooks):
    with Receiver(now=hooks.world.clock.now, script=["500", "500"]) as receiver:
        hooks.subscribe(receiver)
        hooks.mail()
        # Lambda hands the same event over twice (it delivers at least once)
        (pending,) = hooks.lambda_.pending
        hooks.lambda_.invoke_async(WEBHOOK_FUNCTION, pending.payload)
        assert hooks.run() == ["retry", "retry"]
    # Both asked for the same schedule name: Scheduler refused the second (ConflictException), which
    # the function took as already scheduled; the second found the attempt recorded and did not post
    assert len(hooks.scheduler.created) == 1
    assert len(receiver.requests) == 1


def test_a_receiver_that_hangs_times_out_and_the_function_returns(hooks):
    with Receiver(now=hooks.world.clock.now, script=["hang"]) as receiver:
        hooks.subscribe(receiver, timeout_seconds=1)
        hooks.mail()
        started = time.monotonic()
        assert hooks.run() == ["retry"]
        assert time.monotonic() - started < 5
        receiver.release.set()
    retrying = hooks.delivery()
    assert retrying.status is DeliveryStatus.RETRYING
    assert "timed out" in retrying.last_error


def test_a_receiver_that_is_down_is_retried(hooks):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hooks.subscribe(None, url=f"http://127.0.0.1:{port}/down")
    hooks.mail()
    assert hooks.run() == ["retry"]
    down = hooks.delivery()
    assert down.status is DeliveryStatus.RETRYING
    assert "ConnectionRefused" in down.last_error


def test_after_24_hours_of_failures_the_event_is_in_the_dlq_and_the_deliveries_view(hooks):
    start = hooks.world.clock.now()
    with Receiver(now=hooks.world.clock.now, script=["500"] * 30) as receiver:
        hooks.subscribe(receiver)
        hooks.mail()
        outcomes = hooks.run()
        for _ in range(30):
            if outcomes != ["retry"]:
                break
            outcomes = hooks.later()
    assert outcomes == ["dead"]
    waited = hooks.world.clock.now() - start
    dead = hooks.delivery()
    assert dead.status is DeliveryStatus.DEAD
    assert "24 h" in dead.last_error
    # Scheduler's whole minutes add at most a minute and a half per retry, and only before the last
    assert timedelta(hours=20) < waited <= RETRY_WINDOW + SCHEDULE_LEAD + timedelta(minutes=1)
    assert len(receiver.requests) == dead.attempts
    (parked,) = hooks.sqs.receive_message(QueueUrl=hooks.dlq_url).get("Messages", [])
    assert json.loads(parked["Body"])["webhook_id"] == dead.webhook_id
    assert hooks.scheduler.schedules == {}
    assert hooks.queued() == 0


def test_an_invocation_that_keeps_failing_is_retried_by_lambda_then_parked_in_the_dlq(hooks, monkeypatch):
    hooks.subscribe(None, url="http://127.0.0.1:9/unused")
    hooks.mail()

    def unavailable(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("DynamoDB is unavailable")

    monkeypatch.setattr(WebhookStore, "load", unavailable)
    # The first run and Lambda's two retries, 1 and 2 minutes apart, all raise
    assert hooks.run() == []
    for wait in (timedelta(minutes=1), timedelta(minutes=2)):
        hooks.world.clock.set(hooks.world.clock.now() + wait)
        assert hooks.run() == []
    assert [name for name, _ in hooks.lambda_.invocations] == [WEBHOOK_FUNCTION] * 3
    # Then the event itself (the job) is in the function's dead-letter queue
    (parked,) = hooks.sqs.receive_message(QueueUrl=hooks.dlq_url).get("Messages", [])
    assert json.loads(parked["Body"])["subscription_id"].startswith("whk-")
    assert hooks.queued() == 0


def test_spam_is_not_announced_unless_the_subscription_asks(hooks):
    hooks.subscribe(None, url="http://127.0.0.1:9/unused")
    hooks.room.receive(corpus("multipart-alternative"), [hooks.box], spam="FAIL")
    assert hooks.queued() == 0


def test_subscribing_refuses_non_https_and_private_destinations(hooks):
    with pytest.raises(WebhookUrlError):
        hooks.subscribe(None, url="http://hooks.example.com/x")
    for refused in ("https://10.0.0.1/x", "https://[::ffff:127.0.0.1]/x", "https://169.254.169.254/"):
        with pytest.raises(DestinationRefusedError):
            hooks.subscribe(None, url=refused)
    with pytest.raises(WebhookUrlError):
        hooks.subscribe(None, url="https://localhost/x")
    assert WebhookStore().subscriptions(hooks.box) == []


def test_add_and_remove_are_audited_and_keep_the_mailbox_summary(hooks):
    first = hooks.subscribe(None, url="http://127.0.0.1:9/a", include_spam=True)
    hooks.subscribe(None, url="http://127.0.0.1:9/b")
    store = WebhookStore()
    assert next(r.subscription_id for r in store.routes(hooks.box)) == first
    assert hooks.world.directory.get_mailbox(hooks.box).webhooks[0].include_spam
    admin.remove(
        store,
        hooks.world.audit,
        hooks.world.clock,
        mailbox=hooks.world.mailboxes[0],
        subscription_id=first,
        actor="op",
    )
    assert len(store.routes(hooks.box)) == 1
    events = [e.event for e in hooks.world.audit.list(hooks.world.account.account_id, limit=20)]
    assert events.count("webhook.add") == 2
    assert "webhook.remove" in events
