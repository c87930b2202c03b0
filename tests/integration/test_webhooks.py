"""Webhooks for new mail end to end on the local AWS: the real inbound handler queues the event on a
(moto) SQS queue, the real delivery handler POSTs it to a real HTTP receiver on 127.0.0.1 that verifies
the Standard Webhooks signature; subscriptions, slots and deliveries in DynamoDB Local.

Time is the world's clock: a retry's delay is read from the delivery record and the record made visible
again at once (ChangeMessageVisibility 0), never slept through."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import boto3
import pytest

from litemx.webhooks import admin
from litemx.webhooks.destinations import SocketResolver
from litemx.webhooks.models import DeliveryStatus, DestinationRefusedError, WebhookUrlError
from litemx.webhooks.store import WebhookStore
from litemx_local.system import sqs_record
from litemx_local.webhook_receiver import Receiver
from tests.events import FakeLambdaContext
from tests.events import mime as corpus
from tests.events.mailroom import Mailroom, mailroom
from tests.integration.conftest import World

API_URL = "http://127.0.0.1:8080"


@dataclass
class Hooks:
    world: World
    room: Mailroom
    queue_url: str
    dlq_url: str
    sqs: Any
    handler: Any

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

    def receive(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        return found

    def run(self, messages: list[dict[str, Any]]) -> set[str]:
        """The event source mapping: hand the batch to the handler, delete what succeeded."""
        arn = "arn:aws:sqs:us-east-1:123456789012:webhooks"
        answer = self.handler.handler(
            {"Records": [sqs_record(m, arn) for m in messages]}, FakeLambdaContext()
        )
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return failed

    def later(self, message: dict[str, Any], delay: timedelta) -> dict[str, Any]:
        """Time passes by `delay` (on the world's clock); the delayed record is received again."""
        assert self.receive() == []  # invisible for its delay meanwhile
        self.world.clock.set(self.world.clock.now() + delay)
        self.sqs.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
        (again,) = self.receive()
        assert again["MessageId"] == message["MessageId"]
        return again

    def delivery(self) -> Any:
        (found,) = WebhookStore().deliveries(self.box, limit=10)
        return found


@pytest.fixture
def hooks(world: World, tables, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hooks]:
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="litemx-webhooks-test-dlq")["QueueUrl"]
    with mailroom(tables, monkeypatch) as room:
        import os

        queue_url = os.environ["WEBHOOK_QUEUE_URL"]
        for key, value in {
            "WEBHOOK_DLQ_URL": dlq_url,
            "API_URL": API_URL,
            "WEBHOOK_MAX_RECEIVE_COUNT": "50",
            "WEBHOOK_ALLOW_LOCAL_HTTP": "true",
        }.items():
            monkeypatch.setenv(key, value)
        from functions.webhooks import handler

        handler.runtime.cache_clear()
        rt = handler.runtime()
        monkeypatch.setattr(handler, "runtime", lambda: replace(rt, clock=world.clock))
        yield Hooks(world, room, queue_url, dlq_url, sqs, handler)


def test_new_mail_is_posted_once_with_a_valid_signature_and_a_link_to_the_read_api(hooks):
    with Receiver(now=hooks.world.clock.now) as receiver:
        # Given a webhook on the mailbox
        hooks.subscribe(receiver)
        # When a message arrives, and SES hands the same receipt over again
        hooks.mail(ses_id="sesdup0001abcdefghij")
        hooks.mail(ses_id="sesdup0001abcdefghij")
        # Then exactly one event is queued, and delivered signed
        messages = hooks.receive()
        assert len(messages) == 1
        assert hooks.run(messages) == set()
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


def test_500_twice_then_200_is_retried_with_backoff_and_delivered_once_under_one_webhook_id(hooks):
    with Receiver(now=hooks.world.clock.now, script=["500", "500", "200"]) as receiver:
        hooks.subscribe(receiver)
        hooks.mail()
        (message,) = hooks.receive()
        assert hooks.run([message]) == {message["MessageId"]}
        first = hooks.delivery()
        assert first.next_attempt_at - first.last_attempt_at == timedelta(seconds=30)
        message = hooks.later(message, timedelta(seconds=30))
        assert hooks.run([message]) == {message["MessageId"]}
        second = hooks.delivery()
        assert second.next_attempt_at - second.last_attempt_at == timedelta(seconds=60)
        message = hooks.later(message, timedelta(seconds=60))
        assert hooks.run([message]) == set()
    assert [r.valid for r in receiver.requests] == [True, True, True]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    delivered = hooks.delivery()
    assert (delivered.status, delivered.attempts) == (DeliveryStatus.DELIVERED, 3)
    assert hooks.receive() == []


def test_a_receiver_that_hangs_times_out_and_the_function_returns(hooks):
    with Receiver(now=hooks.world.clock.now, script=["hang"]) as receiver:
        hooks.subscribe(receiver, timeout_seconds=1)
        hooks.mail()
        (message,) = hooks.receive()
        started = time.monotonic()
        assert hooks.run([message]) == {message["MessageId"]}
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
    (message,) = hooks.receive()
    assert hooks.run([message]) == {message["MessageId"]}
    down = hooks.delivery()
    assert down.status is DeliveryStatus.RETRYING
    assert "ConnectionRefused" in down.last_error


def test_after_24_hours_of_failures_the_event_is_in_the_dlq_and_the_deliveries_view(hooks):
    with Receiver(now=hooks.world.clock.now, script=["500"] * 30) as receiver:
        hooks.subscribe(receiver)
        hooks.mail()
        (message,) = hooks.receive()
        waited = timedelta(0)
        for _ in range(30):
            if not hooks.run([message]):
                break
            delay = hooks.delivery().next_attempt_at - hooks.world.clock.now()
            waited += delay
            message = hooks.later(message, delay)
    dead = hooks.delivery()
    assert dead.status is DeliveryStatus.DEAD
    assert "24 h" in dead.last_error
    assert timedelta(hours=20) < waited <= timedelta(hours=24)
    assert len(receiver.requests) == dead.attempts
    (parked,) = hooks.sqs.receive_message(QueueUrl=hooks.dlq_url).get("Messages", [])
    assert json.loads(parked["Body"])["webhook_id"] == dead.webhook_id
    assert hooks.receive() == []


def test_spam_is_not_announced_unless_the_subscription_asks(hooks):
    hooks.subscribe(None, url="http://127.0.0.1:9/unused")
    hooks.room.receive(corpus("multipart-alternative"), [hooks.box], spam="FAIL")
    assert hooks.receive() == []


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
