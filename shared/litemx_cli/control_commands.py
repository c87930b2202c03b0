"""`litemx disable|enable|suppression|usage|audit|provider|send`: controlling a running system."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Column

from litemx.audit.models import AuditRecord
from litemx.directory import admin
from litemx.directory.models import EntityKind
from litemx.plans import effective_limits
from litemx.policy.store import AccountPolicyStore
from litemx.providers.base import OutboundProvider, ProviderStatus
from litemx.quotas.models import Cap, CapUsage, counter_slots, first_contact_limit, first_contact_slot
from litemx.suppression.models import GLOBAL_SCOPE
from litemx.suppression.service import suppress, unsuppress
from litemx_cli import api_client
from litemx_cli.output import EXIT_REFUSED, emit_json, fail, fields_table, out, show, table, when
from litemx_cli.session import Session, session

suppression_app = typer.Typer(help="Addresses LiteMX will not send to.", no_args_is_help=True)
provider_app = typer.Typer(help="The outbound provider (SES or an SMTP relay).", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Machine-readable JSON on stdout.")
REASON = typer.Option(..., "--reason", help="Why (kept in the audit trail).")


# ---- disable / enable ----


def _set_enabled(ctx: typer.Context, kind: EntityKind, entity_id: str, reason: str, enabled: bool) -> None:
    s = session(ctx)
    change = admin.set_enabled(
        s.directory,
        s.audit,
        s.clock,
        kind=kind,
        entity_id=entity_id,
        enabled=enabled,
        reason=reason,
        actor=s.actor,
    )
    show(f"{kind.value} {entity_id} is now {change.status} (account {change.account_id})")


def disable(
    ctx: typer.Context,
    kind: Annotated[EntityKind, typer.Argument(help="account, domain, mailbox or token.")],
    entity_id: str = typer.Argument(..., metavar="ID", help="Account id, domain, address or token id."),
    reason: str = REASON,
) -> None:
    """Disable an account, domain, mailbox or token; the very next send decision sees it."""
    _set_enabled(ctx, kind, entity_id, reason, enabled=False)


def enable(
    ctx: typer.Context,
    kind: Annotated[EntityKind, typer.Argument(help="account, domain, mailbox or token.")],
    entity_id: str = typer.Argument(..., metavar="ID", help="Account id, domain, address or token id."),
    reason: str = REASON,
) -> None:
    """Enable again what an operator (or feedback) disabled."""
    _set_enabled(ctx, kind, entity_id, reason, enabled=True)


# ---- suppression ----


@suppression_app.command("list")
def suppression_list(
    ctx: typer.Context,
    account_id: str | None = typer.Option(None, "--account", help="The account's own list (complaints)."),
    global_: bool = typer.Option(False, "--global", help="The global list (hard bounces); the default."),
    limit: int = typer.Option(100, min=1, help="At most this many entries."),
    as_json: bool = JSON,
) -> None:
    """List suppressed addresses: the global list, or one account's."""
    if account_id and global_:
        raise typer.BadParameter("use either --account or --global", param_hint="--account/--global")
    s = session(ctx)
    entries = s.suppression.list(account_id or GLOBAL_SCOPE, limit=limit)
    if as_json:
        emit_json(entries)
        return
    now = s.clock.now()
    rows = [
        (
            e.address,
            e.reason if e.is_active(now) else f"{e.reason} (expired)",
            e.source,
            when(e.created_at),
            when(e.expires_at),
        )
        for e in entries
    ]
    scope = f"account {account_id}" if account_id else "global"
    show(table(f"Suppressed ({scope})", ["ADDRESS", "REASON", "SOURCE", "SINCE", "EXPIRES"], rows))


@suppression_app.command("add")
def suppression_add(
    ctx: typer.Context,
    address: str = typer.Argument(..., help="The address to suppress."),
    account_id: str | None = typer.Option(None, "--account", help="Only for this account (default: global)."),
    reason: str = REASON,
) -> None:
    """Suppress an address, globally or for one account (audited)."""
    s = session(ctx)
    if account_id:
        s.directory.get_account(account_id)
    entry = suppress(
        s.suppression,
        s.audit,
        s.clock,
        scope=account_id or GLOBAL_SCOPE,
        address=address,
        reason=reason,
        actor=s.actor,
    )
    show(f"{entry.address} suppressed ({entry.scope})")


@suppression_app.command("remove")
def suppression_remove(
    ctx: typer.Context,
    address: str = typer.Argument(..., help="The suppressed address."),
    account_id: str | None = typer.Option(
        None, "--account", help="From this account's list (default: global)."
    ),
    reason: str = REASON,
) -> None:
    """Lift a suppression (audited)."""
    s = session(ctx)
    entry = unsuppress(
        s.suppression,
        s.audit,
        s.clock,
        scope=account_id or GLOBAL_SCOPE,
        address=address,
        reason=reason,
        actor=s.actor,
    )
    show(f"{entry.address} no longer suppressed ({entry.scope})")


# ---- usage ----


def usage(
    ctx: typer.Context, account_id: str = typer.Argument(..., help="Account id."), as_json: bool = JSON
) -> None:
    """Each cap of the account and its mailboxes: used, limit, remaining, reset (UTC calendar windows)."""
    s = session(ctx)
    account = s.directory.get_account(account_id)
    mailboxes = s.directory.list_mailboxes(account_id)
    limits = effective_limits(account.plan, account.overrides)
    limit_of = {
        Cap.MAILBOX_DAY: limits.mailbox_day,
        Cap.ACCOUNT_DAY: limits.account_day,
        Cap.ACCOUNT_MONTH: limits.account_month,
    }
    now = s.clock.now()
    # The account's counters are the same whichever mailbox names them; a placeholder suffices.
    account_slots = [
        slot
        for slot in counter_slots(account_id=account_id, mailbox="-", now=now)
        if slot.cap in (Cap.ACCOUNT_DAY, Cap.ACCOUNT_MONTH)
    ]
    limit_of[Cap.FIRST_CONTACT] = first_contact_limit(
        account.plan, AccountPolicyStore().first_contacts(account_id)
    )
    mailbox_slots = [
        (m.address, slot)
        for m in mailboxes
        for slot in (
            *(
                s
                for s in counter_slots(account_id=account_id, mailbox=m.address, now=now)
                if s.cap is Cap.MAILBOX_DAY
            ),
            first_contact_slot(mailbox=m.address, now=now),
        )
    ]
    used = s.quotas.read([slot.key for slot in account_slots] + [slot.key for _, slot in mailbox_slots])
    lines: list[tuple[str, CapUsage]] = [
        (account_id, CapUsage(slot.cap, used.get(slot.key, 0), limit_of[slot.cap], slot.resets_at))
        for slot in account_slots
    ]
    lines += [
        (address, CapUsage(slot.cap, used.get(slot.key, 0), limit_of[slot.cap], slot.resets_at))
        for address, slot in mailbox_slots
    ]
    if as_json:
        emit_json(
            {
                "account_id": account_id,
                "plan": account.plan.value,
                "caps": [
                    {
                        "scope": scope,
                        "cap": u.cap.value,
                        "used": u.used,
                        "limit": u.limit,
                        "remaining": u.remaining,
                        "resets_at": u.resets_at.isoformat(),
                    }
                    for scope, u in lines
                ],
            }
        )
        return
    rows = [(scope, u.cap.value, u.used, u.limit, u.remaining, when(u.resets_at)) for scope, u in lines]
    title = f"Usage of {account_id} (plan {account.plan.value}, recipients)"
    show(table(title, ["SCOPE", "CAP", "USED", "LIMIT", "LEFT", "RESETS (UTC)"], rows))


# ---- audit ----


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date or time", param_hint="--since") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def audit(
    ctx: typer.Context,
    account_id: str = typer.Argument(
        ..., help="Account id; `unauthenticated` for refused unknown tokens, `global` for global lists."
    ),
    since: str | None = typer.Option(None, help="Only entries at or after this ISO time (UTC if bare)."),
    limit: int = typer.Option(50, min=1, max=1000, help="At most this many entries."),
    oldest_first: bool = typer.Option(False, help="Oldest first (default: newest first)."),
    as_json: bool = JSON,
) -> None:
    """The audit trail of an account: decisions and operator actions, newest first."""
    since_at = _since(since)
    records = session(ctx).audit.list(account_id, since=since_at, limit=limit, newest_first=not oldest_first)
    if as_json:
        emit_json(records)
        return
    rows = [(when(r.at), r.event, r.outcome, r.actor, _what(r)) for r in records]
    columns = [
        Column("AT (UTC)", max_width=10),
        Column("EVENT", overflow="fold"),
        Column("OUTCOME", min_width=7),
        Column("ACTOR", overflow="fold"),
        Column("WHAT", overflow="fold", ratio=1),
    ]
    show(table(f"Audit of {account_id}", columns, rows))


def _what(record: AuditRecord) -> str:
    """The reason code first (what an operator looks for), then the mailbox or the action's details."""
    parts = [record.reason_code] if record.reason_code else []
    if record.mailbox:
        parts.append(record.mailbox)
        if record.recipients_count:
            parts.append(f"({record.recipients_count} rcpt)")
    else:
        parts += [f"{k}={v}" for k, v in sorted(record.details.items())]
    return " ".join(parts)


# ---- provider ----


def _provider(s: Session) -> OutboundProvider:
    """The provider the target sends with: SES unless the target says it uses an SMTP relay."""
    settings = s.target.env
    if settings.get("OUTBOUND_PROVIDER") == "smtp" and settings.get("SMTP_HOST"):
        from litemx.providers.smtp import SmtpProvider, SmtpSettings

        return SmtpProvider(
            SmtpSettings(host=settings["SMTP_HOST"], port=int(settings.get("SMTP_PORT", 587)))
        )
    from litemx.providers.ses import SesProvider
    from litemx.tenants.logic import TenantStatusCache
    from litemx.tenants.sending import TenantGatedProvider
    from litemx_cli.tenant_commands import tenant_port

    ses = SesProvider(s.client("sesv2"), s.target.configuration_set, s.client("ses"), identities=True)
    port = tenant_port(s)  # issue 15: "tenants: available|unavailable" in the status
    return ses if port is None else TenantGatedProvider(ses, TenantStatusCache(port))


def _yes_no(value: bool | None, yes: str, no: str) -> str:
    return "unknown" if value is None else (yes if value else no)


@provider_app.command("status")
def provider_status(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Sandbox or production, whether sending is enabled, the SES quota."""
    s = session(ctx)
    with out().status("asking the provider..."):
        status: ProviderStatus = _provider(s).status()
    if as_json:
        emit_json(status)
        return
    show(
        fields_table(
            [
                ("provider", status.provider),
                ("mode", _yes_no(status.sandboxed, "sandbox", "production")),
                ("sending", _yes_no(status.sending_enabled, "enabled", "disabled")),
                ("max per 24 h", _number(status.max_24_hour_send)),
                ("max rate /s", _number(status.max_send_rate)),
                ("sent last 24 h", _number(status.sent_last_24_hours)),
                ("enforcement", status.enforcement_status),
                ("verified identities", len(status.verified_identities)),
                ("tenants", status.tenants),
                ("detail", status.detail or None),
            ]
        )
    )


def _number(value: float | None) -> str | None:
    return None if value is None else f"{value:g}"


# ---- send ----


def send(
    ctx: typer.Context,
    token: str = typer.Option(..., "--token", envvar="LITEMX_TOKEN", help="Token secret (or $LITEMX_TOKEN)."),
    from_: str = typer.Option(..., "--from", help="The sending mailbox."),
    to: Annotated[list[str] | None, typer.Option("--to", help="Recipient; repeatable.")] = None,
    cc: Annotated[list[str] | None, typer.Option("--cc", help="Cc recipient; repeatable.")] = None,
    subject: str = typer.Option("", "--subject", help="Subject."),
    text: str = typer.Option("", "--text", help="Plain-text body."),
    idempotency_key: str | None = typer.Option(None, help="Retry-safe key (same key, same body: one send)."),
    api_url: str | None = typer.Option(None, help="The API's base URL (default: the target's)."),
    as_json: bool = JSON,
) -> None:
    """Send a message through the target's HTTP API, as a client would."""
    base = api_url or session(ctx).target.api_url
    payload: dict[str, Any] = {"from": from_, "to": to or [], "cc": cc or []}
    payload |= {"subject": subject, "text": text}
    answer = api_client.post(
        f"{base.rstrip('/')}/v1/messages", token, payload, idempotency_key=idempotency_key
    )
    if as_json:
        emit_json({"http_status": answer.status, **answer.body})
        if not answer.ok:
            raise typer.Exit(EXIT_REFUSED)
        return
    if not answer.ok:
        fail(f"refused ({answer.status} {answer.error_code}): {answer.error_message}")
    show(f"message {answer.body.get('id')} {answer.body.get('status')}")
