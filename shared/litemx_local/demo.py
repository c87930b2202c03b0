"""`make demo`: a narrated tour of the whole system, through its real HTTP and SMTP ports.

Each step says what should happen, does it, and prints what did. The tour exits 0 only if every step
behaved as narrated.
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3

from litemx.audit.store import AuditStore
from litemx.clock import SystemClock
from litemx.directory import admin
from litemx.directory.models import EntityKind, Scope, Verification
from litemx.directory.store import DirectoryStore
from litemx.plans import Plan
from litemx.policy.overrides import set_warmup_waived
from litemx.policy.store import AccountPolicyStore
from litemx.tenants.fake import FakeTenants
from litemx.tenants.logic import Lifecycle
from litemx.tenants.models import TenantScope
from litemx.tenants.names import tenant_name
from litemx.webhooks import admin as webhook_admin
from litemx.webhooks.destinations import SocketResolver
from litemx.webhooks.store import WebhookStore
from litemx_cli.draft_commands import approve_draft
from litemx_cli.session import Session
from litemx_local.aws import REGION, free_port
from litemx_local.system import ACCOUNT_ID, LocalSystem, SenderVerdicts
from litemx_local.webhook_receiver import Receiver

OPERATOR = "operator:demo"


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class Http:
    def __init__(self, base: str) -> None:
        self.base = base

    def call(self, method: str, path: str, token: str, body: Any = None) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - the local API on 127.0.0.1
            self.base + path,
            method=method,
            data=data,
            headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return Reply(response.status, json.loads(response.read() or b"null"), dict(response.headers))
        except urllib.error.HTTPError as refused:
            return Reply(refused.code, json.loads(refused.read() or b"null"), dict(refused.headers))


class Tour:
    def __init__(self, quiet: bool) -> None:
        self.quiet, self.failures, self.count = quiet, 0, 0

    def note(self, text: str) -> None:
        if not self.quiet:
            print(f"        {text}")

    def step(self, narration: str, check: Callable[[], tuple[bool, str]]) -> None:
        self.count += 1
        try:
            ok, detail = check()
        except Exception as error:  # a step that crashes is a step that misbehaved; say why and go on
            ok, detail = False, f"{type(error).__name__}: {error}"
        self.failures += 0 if ok else 1
        print(f"[{'ok ' if ok else 'FAIL'}] {self.count:2}. {narration}")
        if detail and (not self.quiet or not ok):
            print(f"        -> {detail}")


def wait_for(probe: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    return probe()


def sent_mail(moto_endpoint: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{moto_endpoint}/moto-api/data.json", timeout=10) as response:  # noqa: S310
        return list(json.load(response)["ses"]["RawMessage"])


def ses_event(
    kind: str, message: dict[str, Any], account_id: str, mailbox: str, recipient: str, config_set: str
) -> str:
    """A configuration-set event as SES publishes it to the feedback topic."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    mail = {
        "timestamp": now,
        "source": mailbox,
        "sourceArn": f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:identity/{mailbox.split('@')[1]}",
        "sendingAccountId": ACCOUNT_ID,
        "messageId": message["provider_message_id"],
        "destination": [recipient],
        "headersTruncated": False,
        "tags": {
            "ses:configuration-set": [config_set],
            "litemx-account": [account_id],
            "litemx-mailbox": [mailbox],
            "litemx-message": [message["id"]],
        },
    }
    feedback_id = f"{uuid.uuid4()}-000000"
    if kind == "Bounce":
        detail = {
            "bounce": {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "bouncedRecipients": [
                    {
                        "emailAddress": recipient,
                        "action": "failed",
                        "status": "5.1.1",
                        "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                    }
                ],
                "timestamp": now,
                "feedbackId": feedback_id,
                "reportingMTA": "dsn; a1-2.smtp-out.amazonses.com",
            }
        }
    else:
        detail = {
            "complaint": {
                "complainedRecipients": [{"emailAddress": recipient}],
                "timestamp": now,
                "feedbackId": feedback_id,
                "complaintFeedbackType": "abuse",
                "userAgent": "ExampleCorp Feedback Loop (V0.01)",
            }
        }
    return json.dumps({"eventType": kind, "mail": mail, **detail})


def play(system: LocalSystem, tour: Tour) -> str:  # noqa: C901 - a script, read top to bottom
    target = system.target
    resources = system.resources
    assert target is not None
    assert resources is not None
    http, clock = Http(target.api_url), SystemClock()
    directory, audit = DirectoryStore(), AuditStore()
    sns = boto3.client("sns")

    # The operator sets up an account (Free), a verified domain, two mailboxes and their tokens.
    account = admin.create_account(
        directory, audit, clock, name="Acme Support", plan=Plan.FREE, actor=OPERATOR
    )
    # Acme is an established business moving to LiteMX: the operator waives the 14-day warm-up (audited).
    set_warmup_waived(
        AccountPolicyStore(),
        audit,
        clock,
        account_id=account.account_id,
        waived=True,
        actor=OPERATOR,
        reason="demo: an established business moving its mail to LiteMX",
    )
    directory.add_domain("acme.test", account.account_id, now=clock.now())
    boto3.client("ses").verify_domain_identity(Domain="acme.test")
    directory.set_verification("acme.test", Verification.VERIFIED)
    # Every account is an SES tenant (docs/tenants.md): the local system's fake enforces associations.
    tenants = FakeTenants(region=REGION, aws_account_id=ACCOUNT_ID, path=Path(resources.tenants_state))
    scope = TenantScope(REGION, ACCOUNT_ID, resources.configuration_set)
    tenant_life = Lifecycle(tenants, scope, audit, clock, OPERATOR)
    tenant_life.associate_domain(account.account_id, "acme.test")
    support = directory.create_mailbox("support@acme.test", account.account_id, now=clock.now())
    sales = directory.create_mailbox("sales@acme.test", account.account_id, now=clock.now())
    reply_token = admin.issue_token(
        directory,
        audit,
        clock,
        mailbox=support,
        actor=OPERATOR,
        scopes=frozenset({Scope.SEND_REPLY, Scope.READ}),
    ).secret
    send_token = admin.issue_token(
        directory, audit, clock, mailbox=sales, actor=OPERATOR, scopes=frozenset({Scope.SEND})
    ).secret
    tour.note(
        f"account {account.account_id} (Free, warm-up waived), domain acme.test (verified), mailboxes "
        f"support@ (send:reply + read) and sales@ (send)"
    )

    host, port = (target.smtp or "").split(":")

    def mail_in() -> tuple[bool, str]:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = (
            "Alice <alice@customer.test>",
            "support@acme.test",
            "Where is my order?",
        )
        message["Message-ID"] = "<order-4711@customer.test>"
        message.set_content("Hello, my order 4711 has not arrived.")
        with smtplib.SMTP(host, int(port), timeout=10) as smtp:
            refused = smtp.send_message(message)
        return not refused, f"accepted over SMTP on {target.smtp}"

    tour.step("Alice (outside) mails support@acme.test over SMTP", mail_in)

    listing: dict[str, Any] = {}

    def read_inbox() -> tuple[bool, str]:
        def listed() -> Reply | None:
            reply = http.call("GET", "/v1/mailboxes/support@acme.test/messages", reply_token)
            return reply if reply.status == 200 and (reply.body or {}).get("messages") else None

        reply = wait_for(listed) or http.call("GET", "/v1/mailboxes/support@acme.test/messages", reply_token)
        if reply.status != 200:
            return False, f"{reply.status} {reply.body}"
        listing.update(reply.body["messages"][0])
        return listing.get(
            "subject"
        ) == "Where is my order?", f"{reply.status}: {listing.get('from')} — {listing.get('subject')}"

    tour.step("support@ lists its inbox through the read API", read_inbox)

    def reply_leaves() -> tuple[bool, str]:
        answer = http.call(
            "POST",
            "/v1/messages",
            reply_token,
            {
                "from": "support@acme.test",
                "to": ["alice@customer.test"],
                "subject": "Re: Where is my order?",
                "text": "It ships today.",
                "in_reply_to": "<order-4711@customer.test>",
            },
        )
        if answer.status != 202:
            return False, f"{answer.status} {answer.body}"
        sent = wait_for(
            lambda: [
                m for m in sent_mail(system.aws.moto_endpoint) if "Re: Where is my order?" in m["raw_data"]
            ]
        )
        return (
            bool(sent),
            f"202 queued, then read back from the local SES: {len(sent)} message(s) "
            f"to {sent[0]['destinations'][0] if sent else '-'}",
        )

    tour.step("support@ replies with its send:reply token; the reply leaves", reply_leaves)

    def refused(
        method_token: str, body: dict[str, Any], status: int, code: str
    ) -> Callable[[], tuple[bool, str]]:
        def check() -> tuple[bool, str]:
            answer = http.call("POST", "/v1/messages", method_token, body)
            error = (answer.body or {}).get("error", {})
            extra = f" (Retry-After {answer.headers.get('Retry-After')} s)" if answer.status == 429 else ""
            return (answer.status, error.get("code")) == (
                status,
                code,
            ), f"{answer.status} {error.get('code')}: {error.get('message')}{extra}"

        return check

    tour.step(
        "A cold message with the reply-only token is refused",
        refused(
            reply_token,
            {"from": "support@acme.test", "to": ["prospect@elsewhere.test"], "text": "Buy now"},
            403,
            "not_a_reply",
        ),
    )
    tour.step(
        "A newsletter-style message is refused",
        refused(
            send_token,
            {
                "from": "sales@acme.test",
                "to": ["alice@customer.test"],
                "subject": "November news",
                "text": "...",
                "headers": {"List-Unsubscribe": "<mailto:unsubscribe@acme.test>", "Precedence": "bulk"},
            },
            422,
            "bulk_headers",
        ),
    )

    ten = [f"client{i}@customer.test" for i in range(10)]
    sales_messages: list[str] = []

    def status_of(message_id: str) -> str:
        return str((http.call("GET", f"/v1/messages/{message_id}", send_token).body or {}).get("status"))

    def fill() -> tuple[bool, str]:
        codes = []
        for n in range(10):
            answer = http.call(
                "POST",
                "/v1/messages",
                send_token,
                {
                    "from": "sales@acme.test",
                    "to": ten[: 9 if n == 9 else 10],
                    "subject": f"Update {n}",
                    "text": "Status update.",
                },
            )
            codes.append(answer.status)
            if answer.status == 202:
                sales_messages.append(answer.body["id"])
        # Wait until the sender has sent them all: a message still queued when its mailbox is disabled
        # later would be cancelled and its quota given back, and the tour would not be repeatable.
        delivered = wait_for(lambda: all(status_of(m) == "sent" for m in sales_messages), timeout=30)
        return codes == [202] * 10 and bool(delivered), (
            f"10 messages, 99 recipients: {codes.count(202)} queued and sent; the account has used 100 today"
        )

    tour.step("sales@ keeps its ten clients updated: 99 recipients in ten messages", fill)
    tour.step(
        "The next send finds the mailbox cap (Free: 100 recipients/day) exhausted: 429 and the reset time",
        refused(
            send_token,
            {"from": "sales@acme.test", "to": ten, "text": "One more"},
            429,
            "quota_exceeded.mailbox_day",
        ),
    )

    def message(message_id: str) -> dict[str, Any]:
        def sent() -> dict[str, Any] | None:
            body = http.call("GET", f"/v1/messages/{message_id}", send_token).body or {}
            return body if body.get("status") == "sent" else None

        return dict(wait_for(sent) or {})

    def publish(kind: str, message_id: str, recipient: str) -> None:
        body = ses_event(
            kind,
            message(message_id),
            account.account_id,
            "sales@acme.test",
            recipient,
            resources.configuration_set,
        )
        sns.publish(TopicArn=resources.feedback_topic, Message=body)

    def check(to: str) -> Reply:
        return http.call(
            "POST", "/v1/policy/check", send_token, {"from": "sales@acme.test", "to": [to], "text": "x"}
        )

    def bounce() -> tuple[bool, str]:
        publish("Bounce", sales_messages[0], "client3@customer.test")
        answer = wait_for(
            lambda: (r := check("client3@customer.test")).body.get("code") == "recipient_suppressed" and r
        )
        return (
            bool(answer),
            f"SES bounce -> SNS -> feedback Lambda; a policy check now says "
            f"{check('client3@customer.test').body.get('code')}",
        )

    tour.step("A permanent bounce notification suppresses client3@customer.test", bounce)

    def complaints() -> tuple[bool, str]:
        publish("Complaint", sales_messages[1], "client4@customer.test")
        publish("Complaint", sales_messages[2], "client5@customer.test")
        disabled = wait_for(
            lambda: (
                directory.get_mailbox("sales@acme.test").status.value == "disabled"
                and directory.get_account(account.account_id).status.value == "disabled"
            )
        )
        return (
            bool(disabled),
            f"mailbox sales@: {directory.get_mailbox('sales@acme.test').status_reason}; its account: "
            f"{directory.get_account(account.account_id).status_reason}",
        )

    # The sender counts every recipient SES accepted, so the account's 100 sends today make its rates
    # count: the first complaint is 1 % of them, ten times the account's 0.1 % limit.
    tour.step("Complaints disable sales@ (2 in 24 h) and its account (1 % of its 100 sends)", complaints)
    tour.step(
        "The next send from sales@ is refused",
        refused(
            send_token,
            {"from": "sales@acme.test", "to": ["client1@customer.test"], "text": "Sorry"},
            403,
            "account_disabled",
        ),
    )

    def reenable() -> tuple[bool, str]:
        for kind, entity_id in (
            (EntityKind.ACCOUNT, account.account_id),
            (EntityKind.MAILBOX, "sales@acme.test"),
        ):
            admin.set_enabled(
                directory,
                audit,
                clock,
                kind=kind,
                entity_id=entity_id,
                enabled=True,
                reason="list cleaned, customer warned",
                actor=OPERATOR,
            )
        answer = check("client1@customer.test")
        return str(answer.body.get("code")).startswith("quota_exceeded."), (
            f"sales@ is {directory.get_mailbox('sales@acme.test').status.value}; a check now meets only "
            f"today's cap ({answer.body.get('code')})"
        )

    tour.step("The operator re-enables the account and sales@", reenable)

    # Two more customers on the same deployment, each its own SES tenant.
    def customer(name: str, domain: str) -> tuple[str, str]:
        other = admin.create_account(directory, audit, clock, name=name, plan=Plan.FREE, actor=OPERATOR)
        directory.add_domain(domain, other.account_id, now=clock.now())
        boto3.client("ses").verify_domain_identity(Domain=domain)
        directory.set_verification(domain, Verification.VERIFIED)
        tenant_life.associate_domain(other.account_id, domain)
        box = directory.create_mailbox(f"hello@{domain}", other.account_id, now=clock.now())
        token = admin.issue_token(
            directory, audit, clock, mailbox=box, actor=OPERATOR, scopes=frozenset({Scope.SEND})
        ).secret
        return other.account_id, token

    beta, beta_token = customer("Beta Co", "beta.test")
    _gamma, gamma_token = customer("Gamma Ltd", "gamma.test")

    def tenant_isolation() -> tuple[bool, str]:
        tenants.ses_pause(tenant_name(beta), "complaint rate over the strict policy")
        answers = {
            who: http.call(
                "POST",
                "/v1/messages",
                token,
                {
                    "from": f"hello@{who}.test",
                    "to": ["bob@customer.test"],
                    "subject": f"{who} news",
                    "text": "Hi",
                },
            )
            for who, token in (("beta", beta_token), ("gamma", gamma_token))
        }
        left = wait_for(
            lambda: [m for m in sent_mail(system.aws.moto_endpoint) if "gamma news" in m["raw_data"]]
        )
        beta_error = (answers["beta"].body or {}).get("error") or {}
        ok = (
            (answers["beta"].status, beta_error.get("code")) == (422, "outbound_blocked.tenant_paused")
            and answers["gamma"].status == 202
            and bool(left)
        )
        return ok, (
            f"Beta: {answers['beta'].status} {beta_error.get('code')}; "
            f"Gamma: {answers['gamma'].status}, {len(left or [])} message(s) left"
        )

    tour.step("SES pauses Beta's tenant: only Beta's outbound stops, Gamma keeps sending", tenant_isolation)
    agents(system, tour, http, tenant_life)
    return account.account_id


def agents(system: LocalSystem, tour: Tour, http: Http, tenant_life: Lifecycle) -> None:
    """Delta's help desk is run by an agent that may read and draft, never send (docs/agents.md): a
    person approves each reply. Its own account, so that Acme's caps above stay as narrated."""
    target = system.target
    assert target is not None
    directory, audit, clock = DirectoryStore(), AuditStore(), SystemClock()
    delta = admin.create_account(directory, audit, clock, name="Delta Desk", plan=Plan.FREE, actor=OPERATOR)
    directory.add_domain("delta.test", delta.account_id, now=clock.now())
    boto3.client("ses").verify_domain_identity(Domain="delta.test")
    directory.set_verification("delta.test", Verification.VERIFIED)
    tenant_life.associate_domain(delta.account_id, "delta.test")
    desk = directory.create_mailbox("desk@delta.test", delta.account_id, now=clock.now())
    agent_token = admin.issue_token(
        directory, audit, clock, mailbox=desk, actor=OPERATOR, scopes=frozenset({Scope.READ, Scope.DRAFT})
    ).secret
    host, port = (target.smtp or "").split(":")
    drafted: dict[str, Any] = {}
    announced: dict[str, Any] = {}

    # The agent runs a webhook receiver; the operator subscribes it (local mode allows http://127.0.0.1,
    # a deployed stack only public https URLs).
    receiver = Receiver(now=lambda: datetime.now(UTC)).__enter__()
    hook = webhook_admin.add(
        WebhookStore(),
        audit,
        clock,
        SocketResolver(),
        mailbox=desk,
        url=receiver.url,
        settings=webhook_admin.Settings(timeout_seconds=5),
        actor=OPERATOR,
        allow_local_http=True,
    )
    receiver.secret = hook.secret
    tour.note(f"webhook {hook.subscription_id} on desk@ -> {receiver.url} (secret shown once: whsec_…)")

    def webhook_seen() -> tuple[bool, str]:
        message = EmailMessage()
        message["From"], message["To"] = "Alice <alice@customer.test>", "desk@delta.test"
        message["Subject"], message["Message-ID"] = "Re: Aw: Broken kettle", "<kettle-2@customer.test>"
        message["References"] = "<kettle-1@customer.test>"
        message.set_content("The kettle you sent me leaks.")
        with smtplib.SMTP(host, int(port), timeout=10) as smtp:
            smtp.send_message(message)
        try:
            wait_for(lambda: receiver.requests or None)
        finally:
            receiver.__exit__(None, None, None)
        if not receiver.requests:
            return False, "no webhook request arrived"
        first = receiver.requests[0]
        announced.update(json.loads(first.body).get("data", {}))
        summary = (
            f"{len(receiver.requests)} POST, signature {'valid' if first.valid else 'INVALID'}, "
            f"webhook-id {first.headers.get('webhook-id')}: {announced.get('from')} — "
            f"{announced.get('subject')!r}, snippet {announced.get('snippet')!r}"
        )
        return first.valid and announced.get("mailbox") == "desk@delta.test", summary

    tour.step(
        "Alice mails Delta's desk; the agent's webhook receiver is told, signed (Standard Webhooks)",
        webhook_seen,
    )

    def agent_drafts() -> tuple[bool, str]:
        if not announced.get("message_id"):
            return False, "no announced message to reply to"
        body = {
            "text": "A new kettle ships tomorrow.",
            "reply": {"message_id": announced["message_id"], "quote": True},
        }
        answer = http.call("POST", "/v1/drafts", agent_token, body)
        if answer.status != 201:
            return False, f"{answer.status} {answer.body}"
        drafted.update(answer.body)
        cannot = http.call("POST", f"/v1/drafts/{drafted['id']}/send", agent_token)
        ok = (drafted["to"], drafted["subject"], cannot.status) == (
            ["alice@customer.test"],
            "Re: Broken kettle",
            403,
        )
        return ok, (
            f"201 {drafted['id']}: to {drafted['to'][0]}, {drafted['subject']!r}, In-Reply-To "
            f"{drafted['in_reply_to']}; approving it itself: {cannot.status} "
            f"{(cannot.body or {}).get('error', {}).get('code')}"
        )

    tour.step(
        "The agent (read + draft) drafts a reply to the announced message; it cannot send it", agent_drafts
    )

    def review() -> tuple[bool, str]:
        answer = http.call("GET", "/v1/drafts", agent_token)
        verdicts = [
            d["verdict"]["summary"] for d in (answer.body or {}).get("drafts", []) if d.get("verdict")
        ]
        return verdicts == [
            "would_send"
        ], f"{answer.status}: {verdicts} (a dry run: nothing counted or audited)"

    tour.step("The drafts list shows the policy's verdict before anyone approves: would_send", review)

    def operator_approves() -> tuple[bool, str]:
        operator = Session(actor=OPERATOR, preset=target)
        outcome = approve_draft(operator, str(drafted.get("id")))
        if not outcome.sent:
            return False, f"refused: {outcome.refusal}"
        sent = wait_for(
            lambda: [
                m
                for m in sent_mail(system.aws.moto_endpoint)
                if "A new kettle ships tomorrow." in m["raw_data"]
            ]
        )
        again = approve_draft(operator, str(drafted.get("id")))
        return len(sent or []) == 1 and again.already_sent, (
            f"message {outcome.draft.message_id} read back from the local SES ({len(sent or [])} message); "
            "approving again sends nothing"
        )

    tour.step("The operator approves it (litemx draft approve): the reply leaves, once", operator_approves)


def print_audit(account_id: str) -> None:
    print("\nAudit trail of the tour (oldest first):")
    for record in reversed(AuditStore().list(account_id, limit=500)):
        what = record.reason_code or ", ".join(f"{k}={v}" for k, v in sorted(record.details.items()))
        print(
            f"  {record.at:%H:%M:%S} {record.event:18} {record.outcome:9} {record.recipients_count:>2} "
            f"{(record.mailbox or ''):18} {what}"[:160]
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quiet", action="store_true", help="one line per step")
    args = parser.parse_args()
    started = time.monotonic()
    tour = Tour(args.quiet)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")  # the handlers' own logs would drown the narration
    print("LiteMX demo: the whole system on this machine, through its HTTP and SMTP ports")
    # The stand-in cannot check SPF/DKIM/DMARC offline: Alice's domain is configured as authenticated.
    system = LocalSystem(
        api_port=0, smtp_port=free_port(), verdicts=SenderVerdicts({"customer.test": "pass"})
    )
    try:
        target = system.start()
        tour.note(
            f"API {target.api_url}, SMTP {target.smtp}, DynamoDB Local {system.aws.dynamodb_endpoint}, "
            f"moto {system.aws.moto_endpoint}"
        )
        account_id = play(system, tour)
        if not args.quiet:
            print_audit(account_id)
    finally:
        system.stop()
    verdict = (
        "every step behaved as narrated" if tour.failures == 0 else f"{tour.failures} step(s) misbehaved"
    )
    print(f"\n{tour.count} steps, {verdict}, in {time.monotonic() - started:.1f} s")
    return 0 if tour.failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
