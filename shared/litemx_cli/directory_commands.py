"""`litemx account|domain|mailbox|token ...`: the directory, through the same functions the system uses."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError, ClientError

from litemx.directory import admin
from litemx.directory.models import Account, Scope, Token, Verification
from litemx.errors import AlreadyExistsError
from litemx.plans import LimitOverrides, Plan, effective_limits
from litemx.policy.overrides import set_first_contact_limit, set_warmup_waived
from litemx.policy.store import AccountPolicyStore
from litemx.tenants.models import DEFAULT_POLICY, ReputationPolicy
from litemx_cli.dns import records_for
from litemx_cli.output import EXIT_UNAVAILABLE, emit_json, fail, fields_table, out, show, table, when
from litemx_cli.ses_identity import IdentityState, SesIdentities
from litemx_cli.session import session

account_app = typer.Typer(help="Accounts: create, list, show, change plan.", no_args_is_help=True)
domain_app = typer.Typer(help="Mail domains: register with SES, check verification.", no_args_is_help=True)
mailbox_app = typer.Typer(help="Mailboxes of an account.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens of a mailbox.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Machine-readable JSON on stdout.")
ACCOUNT = typer.Option(..., "--account", help="Account id (acc-...).")


def _account_json(account: Account) -> dict[str, object]:
    limits = effective_limits(account.plan, account.overrides)
    return {
        "account_id": account.account_id,
        "name": account.name,
        "plan": account.plan.value,
        "status": account.status.value,
        "status_reason": account.status_reason,
        "overrides": {k: v for k, v in vars(account.overrides).items() if v is not None},
        "limits": vars(limits),
    }


# ---- account ----


@account_app.command("create")
def account_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The customer's name.")],
    plan: Annotated[Plan, typer.Option("--plan", help="Plan: free, starter or scale.")],
    reputation_policy: Annotated[
        ReputationPolicy,
        typer.Option("--reputation-policy", help="SES tenant policy: none, standard, strict."),
    ] = DEFAULT_POLICY,
    as_json: bool = JSON,
) -> None:
    """Create an account on a plan, and its SES tenant (audited; docs/tenants.md)."""
    from litemx_cli.tenant_commands import run_step  # tenant_commands registers on account_app

    s = session(ctx)
    account = admin.create_account(s.directory, s.audit, s.clock, name=name, plan=plan, actor=s.actor)
    created = f"account {account.account_id} created"
    steps = run_step(s, account.account_id, created, policy=reputation_policy)
    if as_json:
        emit_json(_account_json(account) | {"tenant_steps": steps.steps if steps else []})
        return
    show(f"{created}: {account.name!r} on plan {account.plan.value}")


@account_app.command("list")
def account_list(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List every account."""
    accounts = session(ctx).directory.list_accounts()
    if as_json:
        emit_json([_account_json(a) for a in accounts])
        return
    rows = [(a.account_id, a.name, a.plan.value, a.status.value) for a in accounts]
    show(table(None, ["ID", "NAME", "PLAN", "STATUS"], rows))


@account_app.command("reindex")
def account_reindex(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Once, after upgrading: list accounts created before `account list` had its index."""
    indexed = session(ctx).directory.index_accounts()
    if as_json:
        emit_json({"indexed": indexed})
        return
    show(f"{indexed} account(s) indexed")


@account_app.command("show")
def account_show(
    ctx: typer.Context, account_id: str = typer.Argument(..., help="Account id."), as_json: bool = JSON
) -> None:
    """An account with its limits, domains, mailboxes, tokens and SES tenant."""
    from litemx_cli.tenant_commands import tenant_rows, tenant_view

    directory = session(ctx).directory
    account = directory.get_account(account_id)
    domains = directory.list_domains(account_id)
    mailboxes = directory.list_mailboxes(account_id)
    tokens = directory.list_tokens(account_id)
    if as_json:
        emit_json(
            _account_json(account)
            | {
                "domains": domains,
                "mailboxes": mailboxes,
                "tokens": [_token_json(t) for t in tokens],
                "tenant": (lambda v: v.as_json() if v else None)(tenant_view(session(ctx), account_id)),
            }
        )
        return
    limits = effective_limits(account.plan, account.overrides)
    overridden = {k for k, v in vars(account.overrides).items() if v is not None}

    def limit(name: str) -> str:
        value = f"{getattr(limits, name):,}"
        return f"{value} (override)" if name in overridden else value

    show(
        fields_table(
            [
                ("account", account.account_id),
                ("name", account.name),
                ("plan", account.plan.value),
                ("status", _status(account.status.value, account.status_reason)),
                ("mailbox/day", limit("mailbox_day")),
                ("account/day", limit("account_day")),
                ("account/month", limit("account_month")),
                ("recipients/message", limit("recipients_per_message")),
                *tenant_rows(tenant_view(session(ctx), account_id)),
            ]
        ),
        "",
        table(
            "Domains",
            ["DOMAIN", "VERIFICATION", "STATUS"],
            [(d.name, d.verification.value, _status(d.status.value, d.status_reason)) for d in domains],
        ),
        "",
        table(
            "Mailboxes",
            ["MAILBOX", "STATUS"],
            [(m.address, _status(m.status.value, m.status_reason)) for m in mailboxes],
        ),
        "",
        table(
            "Tokens",
            ["TOKEN", "MAILBOX", "SCOPES", "STATUS", "EXPIRES"],
            [
                (
                    t.token_id,
                    t.mailbox,
                    _scopes(t),
                    _status(t.status.value, t.status_reason),
                    when(t.expires_at),
                )
                for t in tokens
            ],
        ),
    )


@account_app.command("set-plan")
def account_set_plan(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(help="Account id.")],
    plan: Annotated[Plan, typer.Argument(help="free, starter or scale.")],
    mailbox_day: int | None = typer.Option(None, min=0, help="Override: recipients per mailbox per day."),
    account_day: int | None = typer.Option(None, min=0, help="Override: recipients per account per day."),
    account_month: int | None = typer.Option(None, min=0, help="Override: recipients per account per month."),
    recipients: int | None = typer.Option(None, min=1, help="Override: recipients per message."),
    first_contacts: int | None = typer.Option(
        None, min=0, help="Override: first contacts per mailbox per day (new recipients)."
    ),
    account_first_contacts: int | None = typer.Option(
        None, min=0, help="Override: first contacts per day across all the account's mailboxes."
    ),
    waive_warmup: bool | None = typer.Option(
        None, "--waive-warmup/--keep-warmup", help="Lift (or restore) the 14-day warm-up of a new account."
    ),
    clear_overrides: bool = typer.Option(False, help="Drop every override (before applying new ones)."),
    as_json: bool = JSON,
) -> None:
    """Change an account's plan; overrides given here replace those already set, others are kept."""
    s = session(ctx)
    current = s.directory.get_account(account_id)
    base = LimitOverrides() if clear_overrides else current.overrides
    changes = {
        "mailbox_day": mailbox_day,
        "account_day": account_day,
        "account_month": account_month,
        "recipients_per_message": recipients,
    }
    overrides = replace(base, **{k: v for k, v in changes.items() if v is not None})
    admin.set_plan(
        s.directory, s.audit, s.clock, account_id=account_id, plan=plan, overrides=overrides, actor=s.actor
    )
    if first_contacts is not None or account_first_contacts is not None or clear_overrides:
        set_first_contact_limit(
            AccountPolicyStore(),
            s.audit,
            s.clock,
            account_id=account_id,
            limit=first_contacts,
            account_limit=account_first_contacts,
            actor=s.actor,
            reason=f"set-plan {plan.value}",
        )
    if waive_warmup is not None:
        set_warmup_waived(
            AccountPolicyStore(),
            s.audit,
            s.clock,
            account_id=account_id,
            waived=waive_warmup,
            actor=s.actor,
            reason=f"set-plan {plan.value}",
        )
    account = s.directory.get_account(account_id)
    if as_json:
        emit_json(_account_json(account))
        return
    limits = effective_limits(account.plan, account.overrides)
    show(
        f"account {account_id} is on plan {plan.value}: {limits.mailbox_day:,}/mailbox/day, "
        f"{limits.account_day:,}/account/day, {limits.account_month:,}/month, "
        f"{limits.recipients_per_message} recipients/message"
    )


# ---- domain ----


@domain_app.command("add")
def domain_add(
    ctx: typer.Context,
    domain: str = typer.Argument(..., help="The mail domain, e.g. example.com."),
    account_id: str = ACCOUNT,
    as_json: bool = JSON,
) -> None:
    """Register a domain to an account, start SES verification (Easy DKIM), print the DNS records."""
    s = session(ctx)
    try:
        name = admin.add_domain(
            s.directory, s.audit, s.clock, name=domain, account_id=account_id, actor=s.actor
        ).name
    except AlreadyExistsError:
        existing = s.directory.get_domain(domain)  # re-running restarts SES verification for its owner
        if existing.account_id != account_id:
            raise
        name = existing.name
    try:
        with out().status(f"asking SES to verify {name}..."):
            state = SesIdentities(s.client("sesv2")).start_verification(name)
    except (ClientError, BotoCoreError) as problem:
        fail(
            f"domain {name} is registered, but SES did not start verification ({problem}); "
            f"run `litemx domain add {name} --account {account_id}` again",
            EXIT_UNAVAILABLE,
        )
    from litemx_cli.tenant_commands import run_step  # the identity exists in SES now: join the tenant

    run_step(s, account_id, f"domain {name} is registered", domain=name)
    _print_records(name, s.target.region, state, as_json)


def _print_records(domain: str, region: str, state: IdentityState, as_json: bool) -> None:
    records = records_for(domain, region, state.dkim_tokens)
    if as_json:
        emit_json(
            {
                "domain": domain,
                "verification": state.verification.value,
                "dkim_status": state.dkim_status,
                "records": records,
            }
        )
        return
    show(
        f"domain {domain}: verification {state.verification.value} (SES DKIM {state.dkim_status})",
        table(
            "Publish these DNS records",
            ["TYPE", "NAME", "VALUE"],
            [(r.type, r.name, r.value) for r in records],
        ),
    )
    if not state.dkim_tokens:
        show("SES returned no DKIM tokens yet: `litemx domain status` shows them once it does.")
    show(f"Then run `litemx domain status {domain}` until it says verified.")


@domain_app.command("status")
def domain_status(
    ctx: typer.Context, domain: str = typer.Argument(..., help="The mail domain."), as_json: bool = JSON
) -> None:
    """Ask SES how verification is going and record the answer in the directory."""
    s = session(ctx)
    registered = s.directory.get_domain(domain)
    with out().status(f"asking SES about {registered.name}..."):
        state = SesIdentities(s.client("sesv2")).state(registered.name)
    updated = s.directory.set_verification(registered.name, state.verification)
    if as_json:
        emit_json(
            {
                "domain": updated.name,
                "account_id": updated.account_id,
                "verification": updated.verification.value,
                "previous": registered.verification.value,
                "dkim_status": state.dkim_status,
                "verified_for_sending": state.verified_for_sending,
                "status": updated.status.value,
                "records": records_for(updated.name, s.target.region, state.dkim_tokens),
            }
        )
        return
    show(
        fields_table(
            [
                ("domain", updated.name),
                ("account", updated.account_id),
                ("verification", f"{updated.verification.value} (was {registered.verification.value})"),
                ("SES DKIM", state.dkim_status),
                ("SES sending", "verified" if state.verified_for_sending else "not yet"),
                ("status", _status(updated.status.value, updated.status_reason)),
            ]
        )
    )
    if updated.verification is not Verification.VERIFIED:
        records = records_for(updated.name, s.target.region, state.dkim_tokens)
        show(
            table(
                "DNS records to publish",
                ["TYPE", "NAME", "VALUE"],
                [(r.type, r.name, r.value) for r in records],
            )
        )


# ---- mailbox ----


@mailbox_app.command("create")
def mailbox_create(
    ctx: typer.Context,
    address: str = typer.Argument(..., help="The mailbox address, in a domain of the account."),
    account_id: str = ACCOUNT,
    as_json: bool = JSON,
) -> None:
    """Create a mailbox (audited)."""
    s = session(ctx)
    mailbox = admin.create_mailbox(
        s.directory, s.audit, s.clock, address=address, account_id=account_id, actor=s.actor
    )
    if as_json:
        emit_json(mailbox)
        return
    show(f"mailbox {mailbox.address} created in account {mailbox.account_id}")


@mailbox_app.command("list")
def mailbox_list(ctx: typer.Context, account_id: str = ACCOUNT, as_json: bool = JSON) -> None:
    """List an account's mailboxes."""
    directory = session(ctx).directory
    directory.get_account(account_id)
    mailboxes = directory.list_mailboxes(account_id)
    if as_json:
        emit_json(mailboxes)
        return
    rows = [(m.address, m.domain, _status(m.status.value, m.status_reason)) for m in mailboxes]
    show(table(None, ["MAILBOX", "DOMAIN", "STATUS"], rows))


# ---- token ----


def _token_json(token: Token) -> dict[str, object]:
    return {
        "token_id": token.token_id,
        "account_id": token.account_id,
        "mailbox": token.mailbox,
        "scopes": sorted(scope.value for scope in token.scopes),
        "status": token.status.value,
        "status_reason": token.status_reason,
        "expires_at": None if token.expires_at is None else token.expires_at.isoformat(),
        "description": token.description,
    }


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    mailbox: Annotated[str, typer.Option("--mailbox", help="The mailbox the token acts for.")],
    scopes: Annotated[
        list[Scope], typer.Option("--scope", help="send, send:reply, read or draft (alone); repeatable.")
    ],
    expires_days: int | None = typer.Option(None, min=1, help="Expire after N days (default: never)."),
    description: str = typer.Option("", help="A note on what the token is for."),
    as_json: bool = JSON,
) -> None:
    """Issue a token; its secret is printed once and only its hash is stored."""
    s = session(ctx)
    box = s.directory.get_mailbox(mailbox)
    expires_at = None if expires_days is None else s.clock.now() + timedelta(days=expires_days)
    issued = admin.issue_token(
        s.directory,
        s.audit,
        s.clock,
        mailbox=box,
        scopes=frozenset(scopes),
        actor=s.actor,
        expires_at=expires_at,
        description=description,
    )
    if as_json:
        emit_json(_token_json(issued.token) | {"secret": issued.secret})
        return
    show(
        fields_table(
            [
                ("token", issued.token.token_id),
                ("mailbox", issued.token.mailbox),
                ("scopes", _scopes(issued.token)),
                ("expires", when(issued.token.expires_at)),
            ]
        )
    )
    typer.echo(f"secret: {issued.secret}")
    show("This secret is shown once; store it now (only its hash is kept).")


@token_app.command("list")
def token_list(ctx: typer.Context, account_id: str = ACCOUNT, as_json: bool = JSON) -> None:
    """List an account's tokens (never their secrets)."""
    tokens = session(ctx).directory.list_tokens(account_id)
    if as_json:
        emit_json([_token_json(t) for t in tokens])
        return
    rows = [
        (t.token_id, t.mailbox, _scopes(t), _status(t.status.value, t.status_reason), when(t.expires_at))
        for t in tokens
    ]
    show(table(None, ["TOKEN", "MAILBOX", "SCOPES", "STATUS", "EXPIRES"], rows))


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    token_id: str = typer.Argument(..., help="Token id (tok-...)."),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit trail)."),
) -> None:
    """Revoke a token for good (audited)."""
    s = session(ctx)
    admin.revoke_token(s.directory, s.audit, s.clock, token_id=token_id, reason=reason, actor=s.actor)
    show(f"token {token_id} revoked")


def _scopes(token: Token) -> str:
    return ",".join(sorted(scope.value for scope in token.scopes))


def _status(status: str, reason: str | None) -> str:
    return f"{status} ({reason})" if reason and status != "active" else status
