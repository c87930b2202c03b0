"""`litemx webhook add|list|remove|deliveries`: a mailbox's webhooks for new mail (docs/agents.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from litemx.webhooks import admin
from litemx.webhooks.destinations import SocketResolver
from litemx.webhooks.models import (
    DEFAULT_CONCURRENCY,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_CONCURRENCY,
    MAX_TIMEOUT_SECONDS,
    Delivery,
    Subscription,
)
from litemx.webhooks.store import WebhookStore
from litemx_cli.output import emit_json, fields_table, show, table, when
from litemx_cli.session import Session, session

webhook_app = typer.Typer(help="Webhooks for new mail, per mailbox.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Machine-readable JSON on stdout.")
MAILBOX = typer.Option(..., "--mailbox", help="The mailbox (a@b).")


def _store(s: Session) -> WebhookStore:
    _ = s.target
    return WebhookStore()


def _subscription_json(sub: Subscription) -> dict[str, object]:
    return {
        "id": sub.subscription_id,
        "mailbox": sub.mailbox,
        "url": sub.url,
        "include_spam": sub.include_spam,
        "timeout_seconds": sub.timeout_seconds,
        "concurrency": sub.concurrency,
        "created_at": sub.created_at,
    }


@webhook_app.command("add")
def webhook_add(
    ctx: typer.Context,
    mailbox: str = MAILBOX,
    url: Annotated[str, typer.Option("--url", help="https:// URL that receives the events.")] = "",
    include_spam: bool = typer.Option(False, "--include-spam", help="Also announce mail filed as spam."),
    timeout: int = typer.Option(
        DEFAULT_TIMEOUT_SECONDS, "--timeout", min=1, max=MAX_TIMEOUT_SECONDS, help="Seconds per attempt."
    ),
    concurrency: int = typer.Option(
        DEFAULT_CONCURRENCY, "--concurrency", min=1, max=MAX_CONCURRENCY, help="Attempts in flight at once."
    ),
    as_json: bool = JSON,
) -> None:
    """Subscribe a URL to the mailbox's new mail; the signing secret is printed once (audited)."""
    s = session(ctx)
    box = s.directory.get_mailbox(mailbox)
    created = admin.add(
        _store(s),
        s.audit,
        s.clock,
        SocketResolver(),
        mailbox=box,
        url=url,
        settings=admin.Settings(include_spam=include_spam, timeout_seconds=timeout, concurrency=concurrency),
        actor=s.actor,
        allow_local_http=s.target.is_local,  # `litemx local up` only: http://127.0.0.1
    )
    if as_json:
        emit_json(_subscription_json(created) | {"secret": created.secret})
        return
    show(fields_table([(k, v) for k, v in _subscription_json(created).items()]))
    typer.echo(f"secret: {created.secret}")
    show("This signing secret is shown once; store it now. Verify events with it: docs/agents.md.")


@webhook_app.command("list")
def webhook_list(ctx: typer.Context, mailbox: str = MAILBOX, as_json: bool = JSON) -> None:
    """The mailbox's webhooks (never their secrets)."""
    s = session(ctx)
    box = s.directory.get_mailbox(mailbox)
    subs = _store(s).subscriptions(box.address)
    if as_json:
        emit_json([_subscription_json(sub) for sub in subs])
        return
    rows = [
        (w.subscription_id, w.url, "yes" if w.include_spam else "no", w.timeout_seconds, w.concurrency)
        for w in subs
    ]
    show(table(None, ["WEBHOOK", "URL", "SPAM", "TIMEOUT S", "CONCURRENCY"], rows))


@webhook_app.command("remove")
def webhook_remove(
    ctx: typer.Context,
    webhook_id: str = typer.Argument(..., help="Webhook id (whk-...)."),
    mailbox: str = MAILBOX,
) -> None:
    """Remove a webhook; events already queued for it are dropped (audited)."""
    s = session(ctx)
    box = s.directory.get_mailbox(mailbox)
    admin.remove(_store(s), s.audit, s.clock, mailbox=box, subscription_id=webhook_id, actor=s.actor)
    show(f"webhook {webhook_id} removed")


def _delivery_json(d: Delivery) -> dict[str, object]:
    return {
        "webhook_id": d.webhook_id,
        "webhook": d.subscription_id,
        "message_id": d.message_id,
        "status": d.status.value,
        "attempts": d.attempts,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "last_attempt_at": d.last_attempt_at,
        "next_attempt_at": d.next_attempt_at,
        "in_dlq": d.status.value == "dead",
    }


@webhook_app.command("deliveries")
def webhook_deliveries(
    ctx: typer.Context,
    mailbox: str = MAILBOX,
    limit: int = typer.Option(20, "--limit", min=1, max=100),
    as_json: bool = JSON,
) -> None:
    """Recent deliveries, newest first: status, attempts, last error; `dead` ones are in the DLQ."""
    s = session(ctx)
    box = s.directory.get_mailbox(mailbox)
    found = _store(s).deliveries(box.address, limit=limit)
    if as_json:
        emit_json([_delivery_json(d) for d in found])
        return
    rows = [
        (
            d.message_id,
            d.subscription_id,
            d.status.value + (" (in DLQ)" if d.status.value == "dead" else ""),
            d.attempts,
            d.last_error or (str(d.last_status_code) if d.last_status_code else ""),
            when(d.next_attempt_at) if d.status.value == "retrying" else "",
        )
        for d in found
    ]
    show(table(None, ["MESSAGE", "WEBHOOK", "STATUS", "ATTEMPTS", "LAST ERROR", "NEXT ATTEMPT"], rows))
