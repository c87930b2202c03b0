"""Webhooks for new mail: the URL/IP validator (SSRF), Standard Webhooks signatures, the backoff
schedule, the delivery rules on in-memory fakes, what inbound hands over, and the Lambda and Scheduler
requests the adapters make (botocore's Stubber checks them against the services' models)."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import botocore.session
import pytest
from botocore.stub import ANY, Stubber
from hypothesis import given
from hypothesis import strategies as st

from litemx.directory.models import Mailbox, WebhookRoute
from litemx.directory.store import webhook_routes, webhook_summary
from litemx.errors import LiteMXError
from litemx.inbound.models import Folder
from litemx.webhooks import signing
from litemx.webhooks.aws import (
    SCHEDULE_LEAD,
    LambdaWebhookOutbox,
    SchedulerWebhookRetries,
    fire_time,
    schedule_name,
)
from litemx.webhooks.delivery import (
    BUSY_DELAY,
    MAX_BUSY_SPREAD,
    MAX_RETRY_GAP,
    Action,
    DeliveryDeps,
    Received,
    busy_delay,
    deliver,
    handle,
    retry_delay,
    schedule,
)
from litemx.webhooks.destinations import Target, parse_url, refusal, vet, vet_url
from litemx.webhooks.events import routes_for, snippet
from litemx.webhooks.models import (
    RETRY_WINDOW,
    Delivery,
    DeliveryStatus,
    DestinationRefusedError,
    EnqueueError,
    Subscription,
    WebhookJob,
    WebhookUrlError,
    webhook_id,
)
from litemx.webhooks.payloads import body, invocation, parse_invocation, parse_job
from litemx.webhooks.transport import Response
from tests.events import mime as corpus
from tests.fakes import ACCOUNT_ID, T0
from tests.fuzz.hostile import PROPERTY, json_values, mutated_json
from tests.unit.test_inbound import BOX, LOCATION, Inbox

# ---- the validator ----

REFUSED_V4 = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "0.0.0.0/8",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "192.0.0.0/24",
    "198.18.0.0/15",
]


def addresses_in(network: str) -> st.SearchStrategy[ipaddress.IPv4Address]:
    net = ipaddress.ip_network(network)
    return st.integers(int(net.network_address), int(net.broadcast_address)).map(ipaddress.IPv4Address)


refused_v4 = st.one_of(*(addresses_in(n) for n in REFUSED_V4))


@given(refused_v4)
def test_no_private_loopback_link_local_cgnat_multicast_or_reserved_ipv4_is_called(address):
    assert refusal(address) is not None


@given(refused_v4)
def test_ipv6_forms_of_a_refused_ipv4_are_refused_too(address):
    for form in (
        f"::ffff:{address}",
        f"64:ff9b::{address}",
        f"2002:{int(address) >> 16:x}:{int(address) & 0xFFFF:x}::1",
    ):
        assert refusal(ipaddress.IPv6Address(form)) is not None, form


@pytest.mark.parametrize(
    "text",
    ["::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "fec0::1", "2001:db8::1", "2001::1"],
)
def test_non_global_ipv6_is_refused(text):
    assert refusal(ipaddress.IPv6Address(text)) is not None


@pytest.mark.parametrize("text", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(text):
    assert refusal(ipaddress.ip_address(text)) is None


@given(st.text(max_size=300))
def test_parse_url_returns_a_url_or_refuses_with_its_code(text):
    try:
        parsed = parse_url(text)
    except WebhookUrlError:
        assert WebhookUrlError.code == "webhook_url_invalid"
    else:
        assert parsed.scheme == "https"
        assert parsed.host
        assert parsed.path.startswith("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",
        "ftp://hooks.example.com/x",
        "https://user:pw@hooks.example.com/x",
        "https://hooks.example.com/x#frag",
        "https:///nohost",
        "https://hooks.example.com:99999/",
        "https://exa mple.com/",
        "https://hooks.example.com/\nHost: evil",
        "http://127.0.0.1:8080/hook",  # local http is only allowed when the setting says so
    ],
)
def test_urls_refused_at_parse(url):
    with pytest.raises(WebhookUrlError):
        parse_url(url)


@dataclass
class FakeResolver:
    answers: dict[str, list[str]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return self.answers.get(host, [host])


@given(refused_v4)
def test_a_name_resolving_to_a_refused_address_is_refused_after_resolution(address):
    resolver = FakeResolver({"hooks.example.com": ["93.184.216.34", str(address)]})
    with pytest.raises(DestinationRefusedError):
        vet_url("https://hooks.example.com/x", resolver)


def test_the_target_is_the_vetted_address_and_keeps_the_name_for_sni():
    resolver = FakeResolver({"hooks.example.com": ["93.184.216.34"]})
    target = vet_url("https://Hooks.Example.com/in?x=1", resolver)
    assert target.address == "93.184.216.34"
    assert (target.url.host, target.url.port, target.url.path) == ("hooks.example.com", 443, "/in?x=1")


def test_local_mode_allows_http_127_0_0_1_only():
    resolver = FakeResolver()
    assert vet_url("http://127.0.0.1:8099/hook", resolver, allow_local_http=True).address == "127.0.0.1"
    for url in ("http://localhost:8099/", "http://10.0.0.1/", "https://127.0.0.1/"):
        with pytest.raises(LiteMXError):
            vet_url(url, FakeResolver({"localhost": ["127.0.0.1"]}), allow_local_http=True)
    with pytest.raises(WebhookUrlError):
        vet(parse_url("http://127.0.0.1:1/", allow_local_http=True), resolver, allow_local_http=False)


# ---- signatures ----


def test_signature_matches_the_standard_webhooks_reference_vector():
    # The test vector of the standard-webhooks reference libraries
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    sig = signing.signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@given(st.binary(max_size=500), st.text(min_size=1, max_size=40))
def test_a_signed_body_verifies_and_a_changed_one_does_not(payload, wid):
    secret = signing.new_secret()
    headers = signing.headers(secret, wid, T0, payload)
    assert signing.verify(secret, headers, payload, now=T0)
    assert not signing.verify(secret, headers, payload + b"x", now=T0)
    assert not signing.verify(signing.new_secret(), headers, payload, now=T0)
    assert not signing.verify(secret, headers, payload, now=T0 + timedelta(minutes=6))


# ---- backoff ----


def test_retries_double_from_30_seconds_up_to_3_hours_apart_for_24_hours():
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert retry_delay(50) == timedelta(hours=3)
    times = schedule()
    assert times[0] == timedelta(0)
    assert times[-1] <= RETRY_WINDOW
    assert times[-1] + retry_delay(len(times)) > RETRY_WINDOW
    assert 15 <= len(times) <= 20  # well under WEBHOOK_MAX_RECEIVE_COUNT (infra pins it)


# ---- delivery on fakes ----


SUB = Subscription(
    subscription_id="whk-000000000001",
    mailbox=BOX,
    account_id=ACCOUNT_ID,
    url="https://hooks.example.com/in",
    secret=signing.new_secret(),
    timeout_seconds=5,
    concurrency=1,
)


@dataclass
class FakeStore:
    subscription: Subscription | None = SUB
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    slots: set[str] = field(default_factory=set)
    busy: bool = False

    def load(self, mailbox, subscription_id, message_id):
        found = [d for d in self.deliveries.values() if d.message_id == message_id]
        return self.subscription, (found[0] if found else None)

    def acquire_slot(self, subscription, holder, *, now, lease):
        if self.busy:
            return False
        self.slots.add(holder)
        return True

    def release_slot(self, subscription, holder):
        self.slots.discard(holder)

    def record(self, delivery, *, now):
        self.deliveries[delivery.webhook_id] = delivery


@dataclass
class FakeTransport:
    answers: list[Response]
    posts: list[tuple[Target, bytes, dict[str, str], float]] = field(default_factory=list)

    def post(self, target, body, headers, *, timeout):
        self.posts.append((target, body, headers, timeout))
        return self.answers.pop(0)


JOB = WebhookJob(
    subscription_id=SUB.subscription_id,
    mailbox=BOX,
    message_id="20261124T095959123000Z.ses0001",
    webhook_id=webhook_id(SUB.subscription_id, "20261124T095959123000Z.ses0001"),
    data={"mailbox": BOX, "subject": "Hi", "path": "/v1/mailboxes/box0@example.com/messages/x"},
    queued_at=T0,
)


def deps(
    store: FakeStore, transport: FakeTransport, max_receive_count: int = 50, draw: float = 0.0
) -> DeliveryDeps:
    return DeliveryDeps(
        store=store,
        transport=transport,
        resolver=FakeResolver({"hooks.example.com": ["93.184.216.34"]}),
        api_base="https://api.example.com",
        allow_local_http=False,
        max_receive_count=max_receive_count,
        draw=lambda: draw,
    )


def received(count: int = 1) -> Received:
    return Received(job=JOB, receive_count=count)


def test_a_2xx_is_delivered_signed_with_the_link_and_no_body():
    store, transport = FakeStore(), FakeTransport([Response(204)])
    outcome = deliver(received(), deps(store, transport), now=T0, time_left=timedelta(seconds=60))
    assert outcome.action is Action.DELIVERED
    ((target, sent, headers, timeout),) = transport.posts
    assert target.address == "93.184.216.34"
    assert timeout == 5
    assert signing.verify(SUB.secret, headers, sent, now=T0)
    document = json.loads(sent)
    assert document["type"] == "message.received"
    assert document["data"]["url"] == "https://api.example.com/v1/mailboxes/box0@example.com/messages/x"
    assert store.deliveries[JOB.webhook_id].status is DeliveryStatus.DELIVERED
    assert not store.slots  # released


def test_500s_are_retried_with_backoff_under_the_same_webhook_id_then_delivered_once():
    store, transport = FakeStore(), FakeTransport([Response(500), Response(500), Response(200)])
    d = deps(store, transport)
    first = deliver(received(1), d, now=T0, time_left=timedelta(seconds=60))
    second = deliver(received(2), d, now=T0 + first.delay, time_left=timedelta(seconds=60))
    third = deliver(received(3), d, now=T0 + first.delay + second.delay, time_left=timedelta(seconds=60))
    assert (first.action, first.delay) == (Action.RETRY, timedelta(seconds=30))
    assert (second.action, second.delay) == (Action.RETRY, timedelta(seconds=60))
    assert third.action is Action.DELIVERED
    assert {headers["webhook-id"] for _, _, headers, _ in transport.posts} == {JOB.webhook_id}
    assert store.deliveries[JOB.webhook_id].attempts == 3
    # a repeated invocation (Lambda delivers an asynchronous event at least once) posts nothing more
    again = deliver(received(4), d, now=T0, time_left=timedelta(seconds=60))
    assert again.action is Action.DROPPED
    assert len(transport.posts) == 3


def test_an_attempt_that_would_start_after_24_hours_goes_to_the_dlq():
    store = FakeStore(deliveries={JOB.webhook_id: replace(_retrying(), attempts=16)})
    transport = FakeTransport([Response(None, error="TimeoutError: timed out")])
    now = T0 + timedelta(hours=23)
    outcome = deliver(received(17), deps(store, transport), now=now, time_left=timedelta(seconds=60))
    assert outcome.action is Action.DEAD
    dead = store.deliveries[JOB.webhook_id]
    assert dead.status is DeliveryStatus.DEAD
    assert dead.attempts == 17
    assert "timed out" in dead.last_error


def test_the_last_receive_allowed_is_dead_lettered_by_the_function():
    store, transport = FakeStore(), FakeTransport([Response(503)])
    outcome = deliver(
        received(5), deps(store, transport, max_receive_count=5), now=T0, time_left=timedelta(60)
    )
    assert outcome.action is Action.DEAD
    assert store.deliveries[JOB.webhook_id].last_error.startswith("HTTP 503")
    assert "receive limit" in store.deliveries[JOB.webhook_id].last_error


def test_busy_slots_wait_without_counting_an_attempt():
    store, transport = FakeStore(busy=True), FakeTransport([])
    outcome = deliver(received(), deps(store, transport), now=T0, time_left=timedelta(seconds=60))
    assert outcome.action is Action.WAIT
    assert not transport.posts
    assert not store.deliveries


def test_too_little_time_left_waits_rather_than_risking_the_function_timeout():
    store, transport = FakeStore(), FakeTransport([])
    outcome = deliver(received(), deps(store, transport), now=T0, time_left=timedelta(seconds=6))
    assert outcome.action is Action.WAIT
    assert not transport.posts


def test_busy_waits_spread_out_more_with_each_wait_up_to_ten_minutes():
    assert busy_delay(0, 0.0) == BUSY_DELAY
    assert [busy_delay(n, 1.0) - BUSY_DELAY for n in (0, 1, 2)] == [
        BUSY_DELAY,
        2 * BUSY_DELAY,
        4 * BUSY_DELAY,
    ]
    assert busy_delay(9, 0.5) == BUSY_DELAY + MAX_BUSY_SPREAD / 2
    assert busy_delay(10_000, 2.0) == BUSY_DELAY + MAX_BUSY_SPREAD  # a draw out of range is clamped
    # the waits so far are the receives that were not attempts
    store = FakeStore(busy=True, deliveries={JOB.webhook_id: replace(_retrying(), attempts=2)})
    outcome = deliver(received(6), deps(store, FakeTransport([]), draw=0.5), now=T0, time_left=timedelta(60))
    assert (outcome.action, outcome.delay) == (Action.WAIT, busy_delay(3, 0.5))


def test_a_busy_subscription_waits_past_the_receives_of_a_retry_chain_until_its_24_hours_are_over():
    store, transport = FakeStore(busy=True), FakeTransport([])
    waiting = deliver(
        received(120), deps(store, transport, max_receive_count=400), now=T0, time_left=timedelta(60)
    )
    assert waiting.action is Action.WAIT
    assert not store.deliveries
    late = T0 + timedelta(hours=24) - BUSY_DELAY / 2
    dead = deliver(
        received(121), deps(store, transport, max_receive_count=400), now=late, time_left=timedelta(60)
    )
    assert dead.action is Action.DEAD
    record = store.deliveries[JOB.webhook_id]
    assert (record.status, record.attempts) == (DeliveryStatus.DEAD, 0)
    assert "concurrency slot" in record.last_error
    assert not transport.posts


def test_too_little_time_left_is_bounded_by_the_window_and_the_receive_limit_too():
    for receive, now in ((3, T0 + timedelta(hours=24)), (5, T0)):
        store = FakeStore()
        outcome = deliver(
            received(receive),
            deps(store, FakeTransport([]), max_receive_count=5),
            now=now,
            time_left=timedelta(seconds=6),
        )
        assert outcome.action is Action.DEAD
        assert store.deliveries[JOB.webhook_id].status is DeliveryStatus.DEAD


def test_a_removed_subscription_drops_the_event():
    outcome = deliver(
        received(), deps(FakeStore(subscription=None), FakeTransport([])), now=T0, time_left=timedelta(60)
    )
    assert outcome.action is Action.DROPPED


def test_a_destination_that_now_resolves_privately_is_a_failed_attempt_not_a_post():
    store, transport = FakeStore(), FakeTransport([])
    d = replace(deps(store, transport), resolver=FakeResolver({"hooks.example.com": ["10.1.2.3"]}))
    outcome = deliver(received(), d, now=T0, time_left=timedelta(seconds=60))
    assert outcome.action is Action.RETRY
    assert not transport.posts
    assert store.deliveries[JOB.webhook_id].last_error.startswith("webhook_destination_refused")


@dataclass
class FakeRetries:
    """Records what the delivery function asked for: (job, receive, earliest time), dead jobs."""

    later_calls: list[tuple[WebhookJob, int, datetime]] = field(default_factory=list)
    dead: list[WebhookJob] = field(default_factory=list)

    def later(self, job, receive, *, now, delay):
        self.later_calls.append((job, receive, now + delay))
        return now + delay

    def dead_letter(self, job):
        self.dead.append(job)


def test_a_retry_schedules_the_next_receive_of_the_same_job_after_the_backoff():
    store, transport, retries = FakeStore(), FakeTransport([Response(500)]), FakeRetries()
    outcome = handle(received(3), deps(store, transport), retries, now=T0, time_left=timedelta(60))
    assert outcome.action is Action.RETRY
    assert retries.later_calls == [(JOB, 4, T0 + timedelta(seconds=30))]
    assert retries.dead == []


def test_the_next_receive_is_timed_from_after_the_attempt_when_a_clock_is_given():
    store, transport, retries = FakeStore(), FakeTransport([Response(500)]), FakeRetries()
    after = T0 + timedelta(seconds=20)  # a slow lookup and a 15 s timeout
    handle(received(1), deps(store, transport), retries, now=T0, time_left=timedelta(60), clock=lambda: after)
    assert retries.later_calls == [(JOB, 2, after + timedelta(seconds=30))]


def test_a_receive_run_again_after_its_retry_was_recorded_schedules_it_without_posting_again():
    # The attempt failed and its retry was recorded, then CreateSchedule failed: Lambda runs it again
    due = T0 + timedelta(seconds=60)
    recorded = replace(_retrying(), attempts=2, next_attempt_at=due)
    store, transport, retries = (
        FakeStore(deliveries={JOB.webhook_id: recorded}),
        FakeTransport([]),
        FakeRetries(),
    )
    outcome = handle(
        received(2), deps(store, transport), retries, now=T0 + timedelta(seconds=10), time_left=timedelta(60)
    )
    assert (outcome.action, outcome.delay) == (Action.RETRY, timedelta(seconds=50))
    assert not transport.posts
    assert retries.later_calls == [(JOB, 3, due)]
    assert store.deliveries[JOB.webhook_id] == recorded
    # once due, the next receive attempts
    transport.answers.append(Response(200))
    assert (
        deliver(received(3), deps(store, transport), now=due, time_left=timedelta(60)).action
        is Action.DELIVERED
    )


def test_a_busy_subscription_schedules_a_wait_that_counts_as_a_receive_not_an_attempt():
    store, transport, retries = FakeStore(busy=True), FakeTransport([]), FakeRetries()
    outcome = handle(received(1), deps(store, transport), retries, now=T0, time_left=timedelta(60))
    assert outcome.action is Action.WAIT
    assert retries.later_calls == [(JOB, 2, T0 + timedelta(seconds=15))]
    assert not store.deliveries


def test_dead_parks_the_job_and_delivered_or_dropped_schedule_nothing():
    retries = FakeRetries()
    dead = handle(
        received(5),
        deps(FakeStore(), FakeTransport([Response(503)]), max_receive_count=5),
        retries,
        now=T0,
        time_left=timedelta(60),
    )
    assert dead.action is Action.DEAD
    assert retries.dead == [JOB]
    for store, answers in ((FakeStore(), [Response(200)]), (FakeStore(subscription=None), [])):
        quiet = FakeRetries()
        handle(received(), deps(store, FakeTransport(answers)), quiet, now=T0, time_left=timedelta(60))
        assert (quiet.later_calls, quiet.dead) == ([], [])


# Any aware instant, its calendar's two ends drawn as often as the rest (where the rules' arithmetic
# overflows), in any fixed offset.
QUEUED_AT = st.one_of(
    st.datetimes(min_value=datetime(9999, 12, 29)),
    st.datetimes(max_value=datetime(1, 1, 3)),
    st.datetimes(),
).flatmap(
    lambda naive: st.builds(
        naive.replace,
        tzinfo=st.timedeltas(min_value=-timedelta(hours=23), max_value=timedelta(hours=23)).map(timezone),
    )
)


@pytest.mark.fuzz
@PROPERTY
@given(
    st.one_of(
        mutated_json(st.sampled_from((JOB.as_json(), invocation(JOB, 7)))),
        json_values,
        st.fixed_dictionaries({"queued_at": QUEUED_AT.map(datetime.isoformat)}).map(
            lambda extra: {**JOB.as_json(), **extra}
        ),
    )
)
def test_any_invocation_is_a_job_the_delivery_rules_can_handle_or_none(value: Any) -> None:
    parsed = parse_invocation(value)
    if parsed is None:
        return
    job, receive = parsed
    assert 1 <= receive <= 10_000
    # its window and any retry delay stay within datetime's range (the rules add both to queued_at), and
    # it can be written again (a retry's invocation, the DLQ)
    assert job.queued_at + RETRY_WINDOW + MAX_RETRY_GAP > job.queued_at
    assert parse_job(json.dumps(job.as_json())) == job


def test_an_invocation_is_the_job_and_its_receive_counter_which_inbound_leaves_out():
    assert parse_invocation(JOB.as_json()) == (JOB, 1)
    assert parse_invocation(invocation(JOB, 7)) == (JOB, 7)
    for receive in (0, -1, "2", True, 10_001, None):
        assert parse_invocation({**JOB.as_json(), "receive": receive}) is None
    # a queued_at whose 24 h window datetime cannot hold is no job inbound wrote
    for queued_at in ("9999-12-31T23:00:00+00:00", "0001-01-01T00:00:00+00:00", "1999-12-31T23:59:59+00:00"):
        assert parse_invocation({**JOB.as_json(), "queued_at": queued_at}) is None


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=10), c),
        max_leaves=20,
    )
)
def test_parse_invocation_never_raises(value):
    assert parse_invocation(value) is None or isinstance(parse_invocation(value), tuple)


@given(st.datetimes(timezones=st.just(UTC)), st.integers(0, 4 * 3600))
def test_a_retry_fires_at_a_whole_minute_never_earlier_than_asked_nor_much_later(now, seconds):
    delay = timedelta(seconds=seconds)
    at = fire_time(now, delay)
    assert (at.second, at.microsecond) == (0, 0)
    assert at >= now + max(delay, SCHEDULE_LEAD)
    assert at - now < max(delay, SCHEDULE_LEAD) + timedelta(minutes=1)


def test_schedule_names_are_per_event_and_receive_and_always_valid():
    assert schedule_name(JOB, 2) == f"{JOB.webhook_id}-2"
    assert schedule_name(JOB, 2) != schedule_name(JOB, 3)
    odd = replace(JOB, webhook_id="not/a valid:name" * 10)
    name = schedule_name(odd, 12)
    assert len(name) <= 64
    assert all(c.isalnum() or c in "-_." for c in name)
    assert name == schedule_name(odd, 12)


def _client(service: str) -> Any:
    return botocore.session.get_session().create_client(
        service, region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test"
    )


FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:litemx-webhooks"


def test_inbound_invokes_the_delivery_function_asynchronously_once_per_job():
    lambda_ = _client("lambda")
    other = replace(JOB, subscription_id="whk-000000000002", webhook_id=webhook_id("whk-000000000002", "m"))
    with Stubber(lambda_) as stub:
        for job in (JOB, other):
            stub.add_response(
                "invoke",
                {"StatusCode": 202},
                {
                    "FunctionName": "litemx-webhooks",
                    "InvocationType": "Event",
                    "Payload": json.dumps(job.as_json(), separators=(",", ":")).encode(),
                },
            )
        LambdaWebhookOutbox(lambda_, "litemx-webhooks").enqueue([JOB, other])
        stub.assert_no_pending_responses()


def test_a_refused_invocation_is_an_enqueue_error_naming_how_many():
    lambda_ = _client("lambda")
    with Stubber(lambda_) as stub:
        stub.add_response(
            "invoke", {"StatusCode": 202}, {"FunctionName": ANY, "InvocationType": "Event", "Payload": ANY}
        )
        stub.add_client_error("invoke", "TooManyRequestsException", http_status_code=429)
        with pytest.raises(EnqueueError, match="refused 1 of 2"):
            LambdaWebhookOutbox(lambda_, "litemx-webhooks").enqueue([JOB, replace(JOB, message_id="m2")])


def _retries(scheduler: Any, sqs: Any = None) -> SchedulerWebhookRetries:
    return SchedulerWebhookRetries(
        scheduler,
        sqs,
        function_arn=FUNCTION_ARN,
        group="LiteMX-dev-webhook-retries",
        role_arn="arn:aws:iam::123456789012:role/scheduler",
        dlq_arn="arn:aws:sqs:eu-west-1:123456789012:webhooks-dlq",
        dlq_url="https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks-dlq",
    )


def test_a_retry_is_a_one_time_schedule_invoking_the_function_with_the_next_receive():
    scheduler = _client("scheduler")
    now = datetime(2030, 1, 1, 12, 0, 10, tzinfo=UTC)
    expected = {
        "Name": f"{JOB.webhook_id}-2",
        "GroupName": "LiteMX-dev-webhook-retries",
        "ScheduleExpression": "at(2030-01-01T12:01:00)",
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "ActionAfterCompletion": "DELETE",
        "Description": ANY,
        "Target": {
            "Arn": FUNCTION_ARN,
            "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
            "Input": json.dumps(invocation(JOB, 2), separators=(",", ":")),
            "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 6 * 3600},
            "DeadLetterConfig": {"Arn": "arn:aws:sqs:eu-west-1:123456789012:webhooks-dlq"},
        },
    }
    with Stubber(scheduler) as stub:
        stub.add_response("create_schedule", {"ScheduleArn": "arn:aws:scheduler:::schedule/g/n"}, expected)
        at = _retries(scheduler).later(JOB, 2, now=now, delay=timedelta(seconds=30))
        stub.assert_no_pending_responses()
    assert at == datetime(2030, 1, 1, 12, 1, tzinfo=UTC)


def test_a_schedule_that_exists_already_is_taken_as_scheduled_and_other_refusals_raise():
    scheduler = _client("scheduler")
    now = datetime(2030, 1, 1, 12, 0, 10, tzinfo=UTC)
    with Stubber(scheduler) as stub:
        stub.add_client_error("create_schedule", "ConflictException", http_status_code=409)
        stub.add_client_error("create_schedule", "ValidationException", http_status_code=400)
        _retries(scheduler).later(JOB, 2, now=now, delay=timedelta(seconds=30))
        with pytest.raises(scheduler.exceptions.ValidationException):
            _retries(scheduler).later(JOB, 2, now=now, delay=timedelta(seconds=30))


def test_a_dead_job_is_copied_to_the_dlq_as_the_job_itself():
    sqs = _client("sqs")
    with Stubber(sqs) as stub:
        stub.add_response(
            "send_message",
            {"MessageId": "1"},
            {
                "QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks-dlq",
                "MessageBody": json.dumps(JOB.as_json(), separators=(",", ":")),
            },
        )
        _retries(None, sqs).dead_letter(JOB)
        stub.assert_no_pending_responses()
    assert parse_job(json.dumps(JOB.as_json())) == JOB


def _retrying() -> Delivery:
    return Delivery(
        webhook_id=JOB.webhook_id,
        subscription_id=SUB.subscription_id,
        mailbox=BOX,
        message_id=JOB.message_id,
        status=DeliveryStatus.RETRYING,
        first_attempt_at=T0,
    )


# ---- events and what inbound queues ----


@given(st.text(max_size=2000))
def test_parse_job_never_raises(text):
    assert parse_job(text) is None or isinstance(parse_job(text), WebhookJob)


def test_routes_by_folder():
    routes = (WebhookRoute("a"), WebhookRoute("b", include_spam=True))
    assert routes_for(Folder.INBOX, routes) == list(routes)
    assert routes_for(Folder.SPAM, routes) == [routes[1]]
    assert routes_for(Folder.QUARANTINE, routes) == []


def test_snippet_is_one_short_line_of_text_or_html():
    assert snippet(("Hello\n\n  there " + "x" * 500,), ()) == ("Hello there " + "x" * 500)[:200]
    assert snippet((), ("<p>Hi <b>you</b></p>",)) == "Hi you"


@given(st.text(max_size=200))
def test_the_mailbox_summary_reads_back_or_reads_as_none(stored):
    assert isinstance(webhook_routes(stored), tuple)
    routes = (WebhookRoute("whk-1"), WebhookRoute("whk-2", include_spam=True))
    assert webhook_routes(webhook_summary(routes)) == routes


@dataclass
class FakeOutbox:
    jobs: list[WebhookJob] = field(default_factory=list)
    fail: bool = False

    def enqueue(self, jobs):
        if self.fail:
            raise EnqueueError("queue down")
        self.jobs.extend(jobs)


def subscribed_inbox(*routes: WebhookRoute) -> Inbox:
    inbox = Inbox()
    inbox.directory.mailboxes[BOX] = Mailbox(BOX, ACCOUNT_ID, "example.com", webhooks=routes)
    return inbox


def deliver_with(inbox: Inbox, outbox: FakeOutbox, **kw):
    from litemx.clock import FixedClock
    from litemx.inbound.events import SesReceiptEvent, receipts
    from litemx.inbound.logic import receive
    from tests.events import receipt_event

    ses_id = kw.pop("ses_id", "ses0001")
    inbox.raw.objects[LOCATION.key(ses_id)] = corpus("multipart-alternative")
    (receipt,) = receipts(SesReceiptEvent.model_validate(receipt_event(ses_id, [BOX], **kw)))
    return receive(
        receipt,
        raw=inbox.raw,
        location=LOCATION,
        index=inbox.index,
        directory=inbox.directory,
        clock=FixedClock(T0),
        webhooks=outbox,
    )


def test_a_newly_indexed_message_queues_one_small_event_per_subscription_and_a_duplicate_none():
    inbox, outbox = subscribed_inbox(WebhookRoute("whk-a"), WebhookRoute("whk-b")), FakeOutbox()
    outcome = deliver_with(inbox, outbox)
    assert outcome.webhooks_queued == 2
    job = outbox.jobs[0]
    entry = inbox.only()
    assert job.message_id == entry.message_id
    assert job.webhook_id == webhook_id("whk-a", entry.message_id)
    assert set(job.data) == {
        "mailbox",
        "message_id",
        "rfc_message_id",
        "from",
        "subject",
        "snippet",
        "folder",
        "flags",
        "received_at",
        "size",
        "path",
    }
    assert len(job.data["snippet"]) <= 200
    assert len(json.dumps(job.as_json())) < 4096
    # the same receipt again (SES redelivers): filed once, announced once
    again = deliver_with(inbox, outbox)
    assert again.duplicates == (BOX,)
    assert again.webhooks_queued == 0
    assert len(outbox.jobs) == 2


def test_spam_is_announced_only_to_subscriptions_that_asked():
    inbox, outbox = (
        subscribed_inbox(WebhookRoute("whk-a"), WebhookRoute("whk-s", include_spam=True)),
        FakeOutbox(),
    )
    deliver_with(inbox, outbox, spam="FAIL")
    assert [j.subscription_id for j in outbox.jobs] == ["whk-s"]
    assert outbox.jobs[0].data["folder"] == "spam"


def test_a_refused_enqueue_is_reported_and_the_mail_stays_filed():
    inbox, outbox = subscribed_inbox(WebhookRoute("whk-a")), FakeOutbox(fail=True)
    outcome = deliver_with(inbox, outbox)
    assert outcome.stored == (BOX,)
    assert outcome.webhooks_queued == 0
    assert "queue down" in outcome.webhooks_failed


def test_the_body_is_standard_webhooks_shaped():
    document = json.loads(body(JOB, api_base="https://api.example.com/"))
    assert set(document) == {"type", "timestamp", "data"}
    assert "path" not in document["data"]


def test_the_verification_example_in_docs_agents_md_accepts_a_real_signature():
    # Given the Python block of docs/agents.md's webhook section (at most 10 lines, as promised)
    from pathlib import Path

    text = Path("docs/agents.md").read_text(encoding="utf-8")
    section = text[text.index("## Webhooks for new mail") :]
    code = section[section.index("```python\n") + 10 :]
    code = code[: code.index("```")]
    assert len(code.strip().splitlines()) <= 10
    namespace: dict[str, object] = {}
    exec(code, namespace)  # noqa: S102 - our own documentation's example
    verify = namespace["verify"]
    # When LiteMX signs a body now
    from datetime import UTC, datetime

    secret, payload = signing.new_secret(), b'{"type":"message.received"}'
    headers = signing.headers(secret, "msg_1", datetime.now(UTC), payload)
    # Then the example accepts it, and refuses a changed body
    assert verify(secret, headers, payload)  # type: ignore[operator]
    assert not verify(secret, headers, payload + b" ")  # type: ignore[operator]
