"""`litemx local up`: the whole LiteMX system on this machine.

The local AWS (DynamoDB Local and moto server) holds the AWS side, with the same resources the stack
creates. The real Lambda handlers run in this process: an HTTP server on 127.0.0.1 turns requests into
API Gateway v2 events for the api handler; a poller feeds real SQS batches from the send queue to the
sender handler (acting as the event source mapping: successes deleted, failures left to their visibility
timeout); the webhooks handler is invoked asynchronously by inbound and by its retry schedules, both
answered in this process (litemx_local.invocations, pumped by a thread); SES feedback published to the real
SNS topic reaches the feedback handler as SNS's push would (`SnsPush`); an SMTP listener stores each message
in S3 and invokes the inbound handler with an SES receipt event, as SES's receipt rule (S3 action, then
Lambda) would. State lives only as long as the process.

Like SES's receipt rules, the listener refuses (550) recipients outside the hosted domains. It cannot
check SPF, DKIM or DMARC offline, so its verdicts are configured per sender domain (`SenderVerdicts`;
`LITEMX_LOCAL_VERDICTS="customer.test=pass,spoof.test=fail,junk.test=spam"`): an unconfigured domain gets
what SES gives a domain that publishes nothing (GRAY), which proves no From and teaches no correspondent.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email import policy as email_policy
from email.utils import parseaddr
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import boto3

from litemx.addresses import domain_of, normalize_address
from litemx.storage.tables import TableNames, bind_tables
from litemx_cli.target import Target, clear_local_state, write_local_state
from litemx_local.aws import REGION, LocalAws
from litemx_local.invocations import LocalLambda, LocalScheduler, install, pump

ACCOUNT_ID = "123456789012"  # moto's account
PREFIX = "litemx-local"
RAW_MAIL_PREFIX = "inbound/"
POLL_WAIT_SECONDS = 1
WEBHOOK_MAX_RECEIVE_COUNT = 400  # infra/constructs/webhooks.py
WEBHOOK_FUNCTION = "webhooks"  # the name LambdaContext gives its ARN
PUMP_IDLE_SECONDS = 0.2


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class Resources:
    tables: TableNames
    raw_bucket: str
    outbound_bucket: str
    send_queue: str
    send_dlq: str
    feedback_dlq: str
    feedback_topic: str
    feedback_push: str  # the stand-in for SNS's push to the feedback function (see SnsPush)
    feedback_subscription: str
    configuration_set: str
    webhook_dlq: str = ""
    webhook_dlq_arn: str = ""
    tenants_state: str = ""  # the SES tenant fake's state file (moto has no tenant API; docs/tenants.md)


def create_resources(aws: LocalAws) -> Resources:
    """What the CDK stack creates, created on the local AWS."""
    tables = TableNames.with_prefix(PREFIX)
    aws.create_tables(tables)
    s3, sqs, sns, ses = boto3.client("s3"), boto3.client("sqs"), boto3.client("sns"), boto3.client("ses")
    raw_bucket, outbound_bucket = f"{PREFIX}-raw-mail", f"{PREFIX}-outbound"
    for bucket in (raw_bucket, outbound_bucket):
        s3.create_bucket(Bucket=bucket)
    send_dlq, send_queue = _queue_with_dlq(sqs, f"{PREFIX}-send", visibility=180)
    webhook_dlq = sqs.create_queue(QueueName=f"{PREFIX}-webhooks-dlq")["QueueUrl"]
    topic = sns.create_topic(Name=f"{PREFIX}-feedback")["TopicArn"]
    feedback_dlq, feedback_push, subscription = _feedback_push(sqs, sns, topic)
    configuration_set = f"{PREFIX}-outbound"
    ses.create_configuration_set(ConfigurationSet={"Name": configuration_set})
    ses.create_receipt_rule_set(RuleSetName=f"{PREFIX}-inbound")
    tenants_state = os.path.join(tempfile.mkdtemp(prefix=f"{PREFIX}-tenants-"), "tenants.json")
    return Resources(
        tenants_state=tenants_state,
        tables=tables,
        raw_bucket=raw_bucket,
        outbound_bucket=outbound_bucket,
        send_queue=send_queue,
        send_dlq=send_dlq,
        feedback_dlq=feedback_dlq,
        feedback_push=feedback_push,
        feedback_subscription=subscription,
        webhook_dlq=webhook_dlq,
        webhook_dlq_arn=_queue_arn(sqs, webhook_dlq),
        feedback_topic=topic,
        configuration_set=configuration_set,
    )


def _queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _queue_with_dlq(sqs: Any, name: str, *, visibility: int, max_receive_count: int = 5) -> tuple[str, str]:
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
            ),
        },
    )["QueueUrl"]
    return dlq, queue


def _feedback_push(sqs: Any, sns: Any, topic: str) -> tuple[str, str, str]:
    """The feedback DLQ, and the queue that stands in for SNS's push: subscribed without raw delivery, it
    receives SNS's notification JSON, from which `SnsPush` builds the event SNS would invoke Lambda with."""
    dlq = sqs.create_queue(QueueName=f"{PREFIX}-feedback-dlq")["QueueUrl"]
    push = sqs.create_queue(QueueName=f"{PREFIX}-feedback-push")["QueueUrl"]
    push_arn = sqs.get_queue_attributes(QueueUrl=push, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=push_arn)["SubscriptionArn"]
    return dlq, push, str(subscription)


def function_environment(resources: Resources) -> dict[str, str]:
    """The environment the stack gives its functions (see infra/constructs), for the local resources."""
    env = {f"TABLE_{name.upper()}": value for name, value in vars(resources.tables).items()}
    env.update(
        RAW_MAIL_BUCKET=resources.raw_bucket,
        RAW_MAIL_PREFIX=RAW_MAIL_PREFIX,
        OUTBOUND_BUCKET=resources.outbound_bucket,
        SEND_QUEUE_URL=resources.send_queue,
        WEBHOOK_FUNCTION_NAME=WEBHOOK_FUNCTION,
        WEBHOOK_DLQ_URL=resources.webhook_dlq,
        WEBHOOK_DLQ_ARN=resources.webhook_dlq_arn,
        WEBHOOK_SCHEDULE_GROUP=f"{PREFIX}-webhook-retries",
        WEBHOOK_SCHEDULER_ROLE_ARN=f"arn:aws:iam::{ACCOUNT_ID}:role/{PREFIX}-webhook-scheduler",
        WEBHOOK_MAX_RECEIVE_COUNT=str(WEBHOOK_MAX_RECEIVE_COUNT),
        # Local mode: webhooks may call a receiver on http://127.0.0.1 (never in a deployed stack).
        WEBHOOK_ALLOW_LOCAL_HTTP="true",
        API_URL="http://127.0.0.1:8080",  # set again once the API listens (its port may be chosen then)
        OUTBOUND_PROVIDER="ses",
        SES_CONFIGURATION_SET=resources.configuration_set,
        SES_SENDING_ACCOUNT_ID=ACCOUNT_ID,
        SES_SANDBOX_MODE=os.environ.get("SES_SANDBOX_MODE", "production"),
        POWERTOOLS_SERVICE_NAME="litemx-local",
        POWERTOOLS_METRICS_NAMESPACE="LiteMX",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL=os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
        POWERTOOLS_METRICS_DISABLED="true",
    )
    env.update(tenant_environment(resources))
    return env


def tenant_environment(resources: Resources) -> dict[str, str]:
    """SES tenants through the in-process fake, shared with the CLI through its state file."""
    if not resources.tenants_state:
        return {"SES_TENANTS": "off"}
    return {"SES_TENANTS": f"fake:{resources.tenants_state}", "SES_SENDING_ACCOUNT_ID": ACCOUNT_ID}


# ---- the API: HTTP on 127.0.0.1 -> API Gateway v2 events -> the api handler ----


def api_event(method: str, raw_path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """What API Gateway (HTTP API, payload 2.0) hands Lambda: it delivers the path percent-decoded."""
    parts = urlsplit(raw_path)
    path = unquote(parts.path)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": parts.query,
        "queryStringParameters": query or None,
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": "local",
            "domainName": "127.0.0.1",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("User-Agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": "$default",
            "stage": "$default",
            "time": datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(time.time() * 1000),
        },
        "body": body.decode("utf-8", errors="replace") if body else None,
        "isBase64Encoded": False,
    }


def _api_handler_class(invoke: Callable[[dict[str, Any]], dict[str, Any]]) -> type[BaseHTTPRequestHandler]:
    class ApiHandler(BaseHTTPRequestHandler):
        server_version = "LiteMX-local"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            result = invoke(api_event(self.command, self.path, dict(self.headers.items()), body))
            payload = (result.get("body") or "").encode()
            self.send_response(int(result.get("statusCode", HTTPStatus.INTERNAL_SERVER_ERROR)))
            for name, value in (result.get("headers") or {}).items():
                self.send_header(name, str(value))
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return ApiHandler


# ---- queues: pollers acting as the SQS event source mappings ----


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


@dataclass
class QueuePoller:
    name: str
    queue_url: str
    handler: Callable[[dict[str, Any], Any], Any]
    stop: threading.Event
    processed: int = 0

    def run(self) -> None:
        sqs = boto3.client("sqs")
        arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        while not self.stop.is_set():
            self.poll_once(sqs, arn)

    def poll_once(self, sqs: Any, arn: str) -> int:
        messages = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=POLL_WAIT_SECONDS,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [sqs_record(m, arn) for m in messages]}
        response = self.handler(event, LambdaContext(self.name)) or {}
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        self.processed += len(messages) - len(failed)
        return len(messages)


@dataclass
class SnsPush:
    """SNS's push to a Lambda subscriber, and Lambda's asynchronous invocation (infra/constructs/feedback.py),
    stood in for: moto's SNS cannot invoke a function, so it delivers to a queue subscribed in its place,
    and this drains it into the handler, in-process, one event per notification, as SNS would.

    Like Lambda's, it tries an event 1 + `retries` times, then sends it to the DLQ as the body of a
    message (Lambda's DeadLetterConfig); unlike Lambda's, it retries at once, not 1 and 2 minutes later.
    `litemx queue redrive feedback` replays into the same queue (Target.functions)."""

    name: str
    queue_url: str
    dlq_url: str
    subscription_arn: str
    handler: Callable[[dict[str, Any], Any], Any]
    stop: threading.Event
    retries: int = 2
    processed: int = 0

    def run(self) -> None:
        sqs = boto3.client("sqs")
        while not self.stop.is_set():
            self.poll_once(sqs)

    def poll_once(self, sqs: Any) -> int:
        from litemx_cli.sns_events import feedback_invocation

        messages = sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=POLL_WAIT_SECONDS
        ).get("Messages", [])
        for message in messages:
            event = feedback_invocation(
                message["Body"], message_id=message["MessageId"], subscription_arn=self.subscription_arn
            )
            if event is None:  # no event at all (Lambda would have refused the invocation): kept in sight
                sqs.send_message(QueueUrl=self.dlq_url, MessageBody=message["Body"])
            else:
                self.invoke(sqs, event)
            sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def invoke(self, sqs: Any, event: dict[str, Any]) -> bool:
        for _ in range(1 + self.retries):
            try:
                self.handler(event, LambdaContext(self.name))
            except Exception as problem:  # the handler logged it; Lambda would retry, then dead-letter it
                error = problem
                continue
            self.processed += 1
            return True
        sqs.send_message(
            QueueUrl=self.dlq_url,
            MessageBody=json.dumps(event),
            MessageAttributes={"ErrorMessage": {"DataType": "String", "StringValue": str(error)[:1024]}},
        )
        return False


def hosted_domain(domain: str) -> bool:
    """Whether the directory hosts `domain` (read at each RCPT, so a domain added meanwhile counts)."""
    from litemx.directory.store import DirectoryStore
    from litemx.errors import NotFoundError

    try:
        DirectoryStore().get_domain(domain)
    except NotFoundError:
        return False
    return True


# ---- inbound: SMTP -> S3 (the receipt rule's S3 action) -> the inbound handler (its Lambda action) ----


VERDICTS_VARIABLE = "LITEMX_LOCAL_VERDICTS"
# What a configured sender domain gets: `pass` (SPF, DKIM and DMARC pass), `fail` (they fail, and the
# domain's DMARC policy is reject: SES's spam folder), `spam` (authenticated, but the spam scan fails).
_PROFILES: dict[str, dict[str, str]] = {
    "pass": {"spf": "PASS", "dkim": "PASS", "dmarc": "PASS", "spam": "PASS"},
    "fail": {"spf": "FAIL", "dkim": "FAIL", "dmarc": "FAIL", "spam": "PASS"},
    "spam": {"spf": "PASS", "dkim": "PASS", "dmarc": "PASS", "spam": "FAIL"},
}
_UNKNOWN = {"spf": "GRAY", "dkim": "GRAY", "dmarc": "GRAY", "spam": "PASS"}


@dataclass(frozen=True)
class SenderVerdicts:
    """The receipt verdicts the local stand-in gives, per sender domain (see the module docstring)."""

    domains: dict[str, str] = field(default_factory=dict)  # domain -> pass | fail | spam

    @classmethod
    def parse(cls, text: str) -> SenderVerdicts:
        domains = {}
        for item in text.split(","):
            domain, _, profile = item.strip().partition("=")
            if domain and profile.strip().lower() in _PROFILES:
                domains[domain.strip().lower()] = profile.strip().lower()
        return cls(domains)

    def _profile(self, domain: str) -> dict[str, str]:
        return _PROFILES.get(self.domains.get(domain.lower(), ""), _UNKNOWN)

    def receipt(self, from_domain: str, envelope_domain: str) -> dict[str, Any]:
        """SPF judges the envelope sender's domain; DKIM, DMARC and the spam scan the From domain."""
        author, envelope = self._profile(from_domain), self._profile(envelope_domain)
        receipt: dict[str, Any] = {
            "spamVerdict": {"status": author["spam"]},
            "virusVerdict": {"status": "PASS"},
            "spfVerdict": {"status": envelope["spf"]},
            "dkimVerdict": {"status": author["dkim"]},
            "dmarcVerdict": {"status": author["dmarc"]},
        }
        if author["dmarc"] == "FAIL":
            receipt["dmarcPolicy"] = "reject"
        return receipt


def receipt_event(
    message_id: str,
    raw: bytes,
    mail_from: str,
    recipients: list[str],
    verdicts: SenderVerdicts | None = None,
) -> dict[str, Any]:
    """The event SES gives a receipt-rule Lambda action: headers and verdicts, no body."""
    parsed = message_from_bytes(raw, policy=email_policy.default)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    headers = [{"name": name, "value": str(value)} for name, value in parsed.items()]

    def addresses(name: str) -> list[str]:
        value = parsed.get(name)
        return [str(value)] if value else []

    from_domain = parseaddr(str(parsed.get("From", "")))[1].rpartition("@")[2]
    judged = (verdicts or SenderVerdicts()).receipt(from_domain, mail_from.rpartition("@")[2])
    return {
        "Records": [
            {
                "eventSource": "aws:ses",
                "eventVersion": "1.0",
                "ses": {
                    "mail": {
                        "timestamp": now,
                        "source": mail_from,
                        "messageId": message_id,
                        "destination": recipients,
                        "headersTruncated": False,
                        "headers": headers,
                        "commonHeaders": {
                            "returnPath": mail_from,
                            "from": addresses("From"),
                            "to": addresses("To"),
                            "date": str(parsed.get("Date", "")),
                            "messageId": str(parsed.get("Message-ID", "")),
                            "subject": str(parsed.get("Subject", "")),
                        },
                    },
                    "receipt": {
                        "timestamp": now,
                        "processingTimeMillis": 1,
                        "recipients": recipients,
                        **judged,
                        "action": {
                            "type": "Lambda",
                            "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{PREFIX}-inbound",
                            "invocationType": "Event",
                        },
                    },
                },
            }
        ]
    }


class InboundSmtp:
    """aiosmtpd handler: what SES does with a message its receipt rule accepts."""

    def __init__(
        self,
        bucket: str,
        deliver: Callable[[dict[str, Any]], Any],
        hosted: Callable[[str], bool] = lambda domain: True,
        verdicts: SenderVerdicts | None = None,
    ) -> None:
        self.bucket = bucket
        self.deliver = deliver
        self.hosted = hosted
        self.verdicts = verdicts or SenderVerdicts()
        self.received = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        """Like a receipt rule's recipient condition: only the hosted domains receive mail."""
        canonical = normalize_address(address)
        if canonical is None or not self.hosted(domain_of(canonical)):
            return "550 5.7.1 Recipient address rejected: not a domain hosted here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content
        message_id = uuid.uuid4().hex
        boto3.client("s3").put_object(Bucket=self.bucket, Key=f"{RAW_MAIL_PREFIX}{message_id}", Body=raw)
        self.deliver(
            receipt_event(message_id, raw, envelope.mail_from, list(envelope.rcpt_tos), self.verdicts)
        )
        self.received += 1
        return f"250 Ok: queued as {message_id}"


@dataclass
class LocalSystem:
    """Everything `litemx local up` runs; also used in-process by the demo and the tests."""

    api_port: int = 8080
    smtp_port: int = 2525
    aws: LocalAws = field(default_factory=LocalAws)
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    resources: Resources | None = None
    target: Target | None = None
    verdicts: SenderVerdicts = field(
        default_factory=lambda: SenderVerdicts.parse(os.environ.get(VERDICTS_VARIABLE, ""))
    )
    invocations: LocalLambda | None = None
    schedules: LocalScheduler | None = None
    _http: ThreadingHTTPServer | None = None
    _smtp: Any = None
    _uninstall: Callable[[], None] | None = None

    def start(self) -> Target:
        self.aws.start()
        os.environ.update(self.aws.environment())
        self.resources = create_resources(self.aws)
        os.environ.update(function_environment(self.resources))
        bind_tables(self.resources.tables, region=REGION)  # the SMTP listener reads hosted domains
        from functions import wiring
        from functions.api import agent_routes, mailbox_routes
        from functions.api import handler as api
        from functions.feedback import handler as feedback
        from functions.inbound import handler as inbound
        from functions.sender import handler as sender
        from functions.webhooks import handler as webhooks

        wiring.reset_for_tests()
        mailbox_routes.runtime.cache_clear()
        agent_routes._drafts.cache_clear()
        self._http = ThreadingHTTPServer(
            ("127.0.0.1", self.api_port), _api_handler_class(lambda e: api.handler(e, LambdaContext("api")))
        )
        self.api_port = self._http.server_address[1]
        os.environ["API_URL"] = f"http://127.0.0.1:{self.api_port}"
        webhooks.runtime.cache_clear()
        self._thread("api", self._http.serve_forever)
        for name, url, fn in (("sender", self.resources.send_queue, sender.handler),):
            poller = QueuePoller(name, url, fn, self.stop_event)
            self._thread(f"poll-{name}", poller.run)
        self._start_invocations(webhooks.handler)
        push = SnsPush(
            "feedback",
            self.resources.feedback_push,
            self.resources.feedback_dlq,
            self.resources.feedback_subscription,
            feedback.handler,
            self.stop_event,
        )
        self._thread("push-feedback", push.run)
        self._start_smtp(lambda event: inbound.handler(event, LambdaContext("inbound")))
        self.target = Target(
            name="local",
            region=REGION,
            api_url=f"http://127.0.0.1:{self.api_port}",
            tables=self.resources.tables,
            queues={
                "send": self.resources.send_queue,
                "send_dlq": self.resources.send_dlq,
                "feedback_dlq": self.resources.feedback_dlq,
                "webhooks_dlq": self.resources.webhook_dlq,
            },
            functions={"feedback": self.resources.feedback_push},
            buckets={"raw_mail": self.resources.raw_bucket, "outbound": self.resources.outbound_bucket},
            configuration_set=self.resources.configuration_set,
            env=self.aws.environment() | tenant_environment(self.resources),
            smtp=f"127.0.0.1:{self.smtp_port}",
            pid=os.getpid(),
        )
        return self.target

    def _start_invocations(self, webhooks: Callable[[dict[str, Any], Any], Any]) -> None:
        """Lambda's asynchronous Invoke and Scheduler's one-time schedules, answered in this process (the
        handlers' own adapters make the requests); a thread plays the services' part."""
        from litemx.storage.session import client

        assert self.resources is not None
        dlq = self.resources.webhook_dlq
        clock = lambda: datetime.now(UTC)  # noqa: E731 - the local system runs on real time
        self.invocations = LocalLambda(clock=clock, context=LambdaContext)
        self.invocations.register(
            WEBHOOK_FUNCTION,
            webhooks,
            dead_letter=lambda body: boto3.client("sqs").send_message(
                QueueUrl=dlq, MessageBody=body.decode("utf-8")
            ),
        )
        self.schedules = LocalScheduler(self.invocations, clock, account=ACCOUNT_ID, region=REGION)
        self._uninstall = install(
            {"lambda": client("lambda"), "scheduler": client("scheduler")}, self.invocations, self.schedules
        )
        self._thread("invocations", self._pump)

    def _pump(self) -> None:
        assert self.invocations is not None
        assert self.schedules is not None
        while not self.stop_event.is_set():
            try:
                busy = pump(self.invocations, self.schedules)
            except Exception:  # a bug here must not stop local webhooks for the process's life
                logging.getLogger(__name__).exception("local invocation pump failed")
                busy = 0
            if not busy:
                self.stop_event.wait(PUMP_IDLE_SECONDS)

    def _start_smtp(self, deliver: Callable[[dict[str, Any]], Any]) -> None:
        from aiosmtpd.controller import Controller

        assert self.resources is not None
        self._smtp = Controller(
            InboundSmtp(self.resources.raw_bucket, deliver, hosted_domain, self.verdicts),
            hostname="127.0.0.1",
            port=self.smtp_port,
        )
        self._smtp.start()

    def _thread(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def stop(self) -> None:
        self.stop_event.set()
        if self._smtp is not None:
            self._smtp.stop()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        for thread in self.threads:
            thread.join(timeout=POLL_WAIT_SECONDS + 5)
        if self._uninstall is not None:
            self._uninstall()
        self.aws.stop()


def run(api_port: int, smtp_port: int) -> int:
    """Start everything, print where it listens, run until Ctrl-C or SIGTERM, stop cleanly."""
    system = LocalSystem(api_port=api_port, smtp_port=smtp_port)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        target = system.start()
        state = write_local_state(target)
        print("LiteMX is running on this machine (state lives as long as this process; Ctrl-C stops it)")
        print(f"  API            {target.api_url}  (OpenAPI: {target.api_url}/v1/openapi.json)")
        print(f"  SMTP inbound   {target.smtp}")
        print(f"  DynamoDB Local {system.aws.dynamodb_endpoint}")
        print(f"  moto (SES, SNS, SQS, S3) {system.aws.moto_endpoint}")
        print(f"  CLI state      {state}  (other `litemx` commands use it)", flush=True)
        stopping.wait()
        print("stopping ...", flush=True)
        return 0
    finally:
        clear_local_state()
        system.stop()
