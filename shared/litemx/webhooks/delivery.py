"""Delivering one webhook event: the rules (backoff, the 24 h window, the concurrency slot, the timeout),
with the store, the resolver, the HTTP transport and the retry scheduler passed in.

Transport: inbound invokes the delivery function asynchronously with the job; every later attempt is a
new asynchronous invocation with the same job and a receive counter one higher (`Retries.later`: an
EventBridge Scheduler one-time schedule in AWS, litemx.webhooks.aws). Nothing polls while no mail comes.

Retries: a failed attempt is tried again after 30 s, 1, 2, 4, ... minutes (doubling, at most 3 h
apart) until 24 h after the event was queued; an attempt that would start later goes to the DLQ instead
(`DeliveryStatus.DEAD`, visible in `litemx webhook deliveries`). The `webhook-id` and `queued_at` travel
with the job, so they stay the same. Scheduler fires a one-time schedule within the minute it names
(60 s precision), so a delay is a lower bound: the 30 s retry and the 15 s wait for a busy subscription
come after 30 to 150 s. Every invocation counts as a receive; `max_receive_count` (well above the 16
attempts of a day plus the busy waits: `WEBHOOK_MAX_RECEIVE_COUNT` in infra) caps a chain that went
wrong: on the last receive a failure is dead-lettered, with its delivery record.

Concurrency: at most `concurrency` attempts per subscription at once (leased slots in DynamoDB); an
invocation that finds every slot taken waits (a new schedule) without counting as an attempt, until the
event's 24 h window closes. Waits spread out: the n-th comes after BUSY_DELAY plus a random share of a
spread that doubles with each wait (at most MAX_BUSY_SPREAD), so that a burst of events for one slow
receiver does not fire together every minute with a few winning each time.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from litemx.errors import LiteMXError
from litemx.webhooks import payloads, signing
from litemx.webhooks.destinations import Resolver, parse_url, vet
from litemx.webhooks.models import (
    RETRY_WINDOW,
    Delivery,
    DeliveryStatus,
    Subscription,
    WebhookJob,
)
from litemx.webhooks.transport import Response, Transport

FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY_GAP = timedelta(hours=3)
BUSY_DELAY = timedelta(seconds=15)
MAX_BUSY_SPREAD = timedelta(minutes=10)
# Time a record needs beyond its receiver's timeout (DNS, two DynamoDB writes) to start an attempt.
ATTEMPT_MARGIN = timedelta(seconds=5)


class Action(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # try again after `delay`
    WAIT = "wait"  # not attempted (slots taken, too little time left): again after `delay`, not counted
    DEAD = "dead"  # put in the DLQ
    DROPPED = "dropped"  # nothing to do: subscription removed, or already delivered


@dataclass(frozen=True)
class Outcome:
    action: Action
    delay: timedelta = timedelta(0)
    detail: str = ""
    delivery: Delivery | None = None


@dataclass(frozen=True)
class Received:
    """One invocation of the delivery function: the job, and how many times it has been received (1 from
    inbound, one more for each scheduled retry or wait)."""

    job: WebhookJob
    receive_count: int

    @property
    def queued_at(self) -> datetime:
        return self.job.queued_at


class Retries(Protocol):
    """The next invocation of the delivery function, and the DLQ."""

    def later(self, job: WebhookJob, receive: int, *, now: datetime, delay: timedelta) -> datetime:
        """Invoke the function again with `job` as its `receive`-th receive, no earlier than now + delay;
        returns when. Idempotent per (job, receive): a repeated request schedules nothing more."""
        ...

    def dead_letter(self, job: WebhookJob) -> None: ...


class DeliveryStore(Protocol):
    def load(
        self, mailbox: str, subscription_id: str, message_id: str
    ) -> tuple[Subscription | None, Delivery | None]: ...
    def acquire_slot(
        self, subscription: Subscription, holder: str, *, now: datetime, lease: timedelta
    ) -> bool: ...
    def release_slot(self, subscription: Subscription, holder: str) -> None: ...
    def record(self, delivery: Delivery, *, now: datetime) -> None: ...


@dataclass(frozen=True)
class DeliveryDeps:
    store: DeliveryStore
    transport: Transport
    resolver: Resolver
    api_base: str
    allow_local_http: bool
    max_receive_count: int
    draw: Callable[[], float] = random.random  # the share of a busy wait's spread, in [0, 1)


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 30 s doubling, at most 3 h."""
    exponent = min(max(attempts, 1) - 1, 20)
    delay: timedelta = min(FIRST_RETRY * (2**exponent), MAX_RETRY_GAP)
    return delay


def busy_delay(waits: int, draw: float) -> timedelta:
    """The wait before trying a busy subscription again, after `waits` earlier waits: BUSY_DELAY plus
    `draw` (in [0, 1)) of a spread of BUSY_DELAY doubling per wait, at most MAX_BUSY_SPREAD."""
    spread: timedelta = min(BUSY_DELAY * (2 ** min(max(waits, 0), 10)), MAX_BUSY_SPREAD)
    return BUSY_DELAY + spread * min(max(draw, 0.0), 1.0)


def schedule(window: timedelta = RETRY_WINDOW) -> list[timedelta]:
    """When the attempts happen after the event is queued, for a receiver that never answers 2xx (the
    time the attempts themselves take aside)."""
    at, times = timedelta(0), [timedelta(0)]
    while True:
        at += retry_delay(len(times))
        if at > window:
            return times
        times.append(at)


def deliver(received: Received, deps: DeliveryDeps, *, now: datetime, time_left: timedelta) -> Outcome:
    job = received.job
    subscription, previous = deps.store.load(job.mailbox, job.subscription_id, job.message_id)
    if subscription is None:
        return Outcome(Action.DROPPED, detail="the subscription was removed")
    if previous is not None and previous.status is DeliveryStatus.DELIVERED:
        return Outcome(Action.DROPPED, detail="already delivered", delivery=previous)
    if previous is not None and previous.status is DeliveryStatus.DEAD:
        # Settled as dead, but the invocation failed before the DLQ had it (Lambda retries): park it again.
        return Outcome(Action.DEAD, detail="already dead", delivery=previous)
    due = previous.next_attempt_at if previous is not None else None
    if previous is not None and previous.status is DeliveryStatus.RETRYING and due is not None and due > now:
        # This receive's attempt was made and its retry recorded, but scheduling it failed (Lambda runs the
        # invocation again) or this is a duplicate: a scheduled receive never fires before `due`. Schedule
        # the next receive when it is due, without posting again.
        return Outcome(Action.RETRY, delay=due - now, detail="attempted already", delivery=previous)
    timeout = timedelta(seconds=subscription.timeout_seconds)
    if time_left < timeout + ATTEMPT_MARGIN:
        # One job per invocation and a function timeout above the longest receiver timeout (infra pins
        # both): a guard for a lowered timeout rather than a path taken.
        return _wait(received, subscription, previous, deps, now, BUSY_DELAY, "too little time left")
    lease = timeout + ATTEMPT_MARGIN
    if not deps.store.acquire_slot(subscription, job.webhook_id, now=now, lease=lease):
        waits = received.receive_count - 1 - (previous.attempts if previous else 0)
        delay = busy_delay(waits, deps.draw())
        return _wait(received, subscription, previous, deps, now, delay, "every concurrency slot is taken")
    try:
        response = _attempt(job, subscription, deps, now, timeout)
    finally:
        deps.store.release_slot(subscription, job.webhook_id)
    return _settle(received, subscription, previous, deps, now, response, response.error)


def _wait(
    received: Received,
    subscription: Subscription,
    previous: Delivery | None,
    deps: DeliveryDeps,
    now: datetime,
    delay: timedelta,
    why: str,
) -> Outcome:
    """Not attempted this time: again after `delay`, or dead once the 24 h window (or the receive limit)
    would be passed."""
    if now + delay > received.queued_at + RETRY_WINDOW or received.receive_count >= deps.max_receive_count:
        return _settle(received, subscription, previous, deps, now, None, why, give_up=True)
    return Outcome(Action.WAIT, delay=delay, detail=why)


def _attempt(
    job: WebhookJob, subscription: Subscription, deps: DeliveryDeps, now: datetime, timeout: timedelta
) -> Response:
    """Checked again before every attempt: the name may resolve elsewhere since it was subscribed."""
    try:
        url = parse_url(subscription.url, allow_local_http=deps.allow_local_http)
        target = vet(url, deps.resolver, allow_local_http=deps.allow_local_http)
    except LiteMXError as refused:
        return Response(status=None, error=f"{refused.code}: {refused}")
    body = payloads.body(job, api_base=deps.api_base)
    headers = signing.headers(subscription.secret, job.webhook_id, now, body)
    return deps.transport.post(target, body, headers, timeout=timeout.total_seconds())


def _settle(
    received: Received,
    subscription: Subscription,
    previous: Delivery | None,
    deps: DeliveryDeps,
    now: datetime,
    response: Response | None,
    error: str,
    *,
    give_up: bool = False,
) -> Outcome:
    job = received.job
    attempts = (previous.attempts if previous else 0) + (1 if response is not None else 0)
    delivery = Delivery(
        webhook_id=job.webhook_id,
        subscription_id=subscription.subscription_id,
        mailbox=job.mailbox,
        message_id=job.message_id,
        status=DeliveryStatus.RETRYING,
        attempts=attempts,
        last_error=error if response is None or not response.ok else "",
        last_status_code=response.status if response is not None else None,
        first_attempt_at=previous.first_attempt_at if previous and previous.first_attempt_at else now,
        last_attempt_at=now if response is not None else (previous.last_attempt_at if previous else None),
    )
    if response is not None and response.ok:
        delivered = replace(delivery, status=DeliveryStatus.DELIVERED)
        deps.store.record(delivered, now=now)
        return Outcome(Action.DELIVERED, delivery=delivered)
    if response is not None and response.status is not None and not error:
        delivery = replace(delivery, last_error=f"HTTP {response.status}")
    delay = retry_delay(max(attempts, 1))
    last_receive = received.receive_count >= deps.max_receive_count
    if give_up or now + delay > received.queued_at + RETRY_WINDOW or last_receive:
        why = "the receive limit" if last_receive else "24 h of retries"
        dead = replace(
            delivery, status=DeliveryStatus.DEAD, last_error=f"{delivery.last_error} ({why})"[:300]
        )
        deps.store.record(dead, now=now)
        return Outcome(Action.DEAD, detail=why, delivery=dead)
    retrying = replace(delivery, next_attempt_at=now + delay)
    deps.store.record(retrying, now=now)
    return Outcome(Action.RETRY, delay=delay, delivery=retrying)


def handle(
    received: Received,
    deps: DeliveryDeps,
    retries: Retries,
    *,
    now: datetime,
    time_left: timedelta,
    clock: Callable[[], datetime] | None = None,
) -> Outcome:
    """One invocation: deliver, then schedule the next receive (retry, wait) or park the job (dead). A
    failure raises; the invocation is then retried by Lambda with the same receive count. The next receive
    is timed from `clock` read after the attempt (a slow name lookup and a 15 s POST must not put the
    schedule in the past), or from `now`."""
    outcome = deliver(received, deps, now=now, time_left=time_left)
    if outcome.action in (Action.RETRY, Action.WAIT):
        after = clock() if clock is not None else now
        retries.later(received.job, received.receive_count + 1, now=after, delay=outcome.delay)
    elif outcome.action is Action.DEAD:
        retries.dead_letter(received.job)
    return outcome
