"""`litemx account repair|retire|set-reputation-policy|pause|resume`, and the tenant steps of
`account create` and `domain add`: every LiteMX account is an SES tenant (docs/tenants.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from litemx.directory import admin
from litemx.directory.models import EntityKind
from litemx.tenants.logic import Lifecycle, view
from litemx.tenants.models import (
    DEFAULT_POLICY,
    ReputationPolicy,
    SendingStatus,
    StepLog,
    TenantPort,
    TenantScope,
    TenantsUnavailableError,
    TenantView,
)
from litemx.tenants.ses import tenant_port_and_client
from litemx_cli.directory_commands import account_app
from litemx_cli.output import EXIT_UNAVAILABLE, emit_json, err, fail, fields_table, show
from litemx_cli.session import Session, session

JSON = typer.Option(False, "--json", help="Machine-readable JSON on stdout.")
REASON = typer.Option(..., "--reason", help="Why (kept in the audit trail).")


def tenant_port(s: Session) -> TenantPort | None:
    """The target's tenant port: SES, the local system's fake (SES_TENANTS=fake:<file>), or None (off)."""
    port, _ = tenant_port_and_client(
        s.target.env.get("SES_TENANTS", "ses"),
        s.client("sesv2"),
        region=s.target.region,
        aws_account_id=s.target.env.get("SES_SENDING_ACCOUNT_ID", ""),
        configuration_set=s.target.configuration_set,
    )
    return port


def lifecycle(s: Session) -> Lifecycle | None:
    port = tenant_port(s)
    if port is None:
        return None
    account = s.target.env.get("SES_SENDING_ACCOUNT_ID") or str(
        s.client("sts").get_caller_identity()["Account"]
    )
    scope = TenantScope(
        region=s.target.region, aws_account_id=account, configuration_set=s.target.configuration_set
    )
    return Lifecycle(port, scope, s.audit, s.clock, s.actor)


def run_step(
    s: Session,
    account_id: str,
    what: str,
    *,
    domain: str | None = None,
    policy: ReputationPolicy = DEFAULT_POLICY,
) -> StepLog | None:
    """A lifecycle step after a directory change that already happened: an unavailable service is
    reported and skipped; any other failure names the repair command."""
    life = lifecycle(s)
    if life is None:
        return None
    try:
        if domain is None:
            return life.ensure_tenant(account_id, policy=policy)
        return life.associate_domain(account_id, domain)
    except TenantsUnavailableError:
        err().print("tenants: unavailable (sending continues without a tenant; docs/tenants.md)")
        return None
    except Exception as problem:  # the directory change stands; the tenant side is repaired later
        fail(
            f"{what}, but its SES tenant step failed ({problem}); run `litemx account repair {account_id}`",
            EXIT_UNAVAILABLE,
        )


def tenant_view(s: Session, account_id: str) -> TenantView | None:
    port = tenant_port(s)
    return None if port is None else view(port, account_id)


def tenant_rows(shown: TenantView | None) -> list[tuple[str, object]]:
    if shown is None:
        return [("tenant", "off (SES_TENANTS=off)")]
    if not shown.available:
        return [("tenant", "tenants: unavailable")]
    if not shown.exists:
        return [("tenant", f"{shown.name} missing (litemx account repair)")]
    finding = shown.findings[0] if shown.findings else None
    return [
        ("tenant", shown.name),
        ("tenant sending", shown.sending_status.value if shown.sending_status else None),
        ("reputation policy", shown.policy.value if shown.policy else None),
        (
            "reputation finding",
            f"{finding.cause} ({finding.impact})" if finding and finding.cause else "none",
        ),
        ("tenant resources", len(shown.resources)),
    ]


def _life(s: Session) -> Lifecycle:
    life = lifecycle(s)
    if life is None:
        fail("tenant management is off for this target (SES_TENANTS=off)", EXIT_UNAVAILABLE)
    return life


def _report(steps: StepLog, as_json: bool, nothing: str) -> None:
    if as_json:
        emit_json({"steps": steps.steps})
        return
    show(*(steps.steps or [nothing]))


@account_app.command("repair")
def account_repair(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(help="Account id.")],
    as_json: bool = JSON,
) -> None:
    """Bring the account's SES tenant in line: create it, associate the configuration set and every
    domain; only missing steps run (audited)."""
    s = session(ctx)
    domains = [d.name for d in s.directory.list_domains(account_id)]
    s.directory.get_account(account_id)  # NotFoundError for an unknown account
    try:
        steps = _life(s).ensure_tenant(account_id, domains)
    except TenantsUnavailableError as problem:
        fail(f"tenants: unavailable ({problem})", EXIT_UNAVAILABLE)
    _report(steps, as_json, f"account {account_id}: tenant already in place")


@account_app.command("retire")
def account_retire(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(help="Account id.")],
    reason: str = REASON,
    as_json: bool = JSON,
) -> None:
    """Retire an account: disable it (audited), then dissociate and delete its SES tenant. Re-runnable."""
    s = session(ctx)
    admin.set_enabled(
        s.directory,
        s.audit,
        s.clock,
        kind=EntityKind.ACCOUNT,
        entity_id=account_id,
        enabled=False,
        reason=f"retired: {reason}",
        actor=s.actor,
    )
    try:
        steps = _life(s).retire(account_id)
    except TenantsUnavailableError as problem:
        fail(f"account {account_id} disabled; tenants: unavailable ({problem})", EXIT_UNAVAILABLE)
    _report(steps, as_json, f"account {account_id} retired; it had no tenant")


@account_app.command("set-reputation-policy")
def account_set_reputation_policy(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(help="Account id.")],
    policy: Annotated[ReputationPolicy, typer.Argument(help="none, standard or strict.")],
    as_json: bool = JSON,
) -> None:
    """Set the SES reputation policy of the account's tenant (audited)."""
    s = session(ctx)
    _report(_life(s).set_policy(account_id, policy), as_json, f"policy already {policy.value}")


def _sending(ctx: typer.Context, account_id: str, status: SendingStatus, reason: str, as_json: bool) -> None:
    _report(_life(session(ctx)).set_sending(account_id, status, reason), as_json, "unchanged")


@account_app.command("pause")
def account_pause(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(help="Account id.")],
    reason: str = REASON,
    as_json: bool = JSON,
) -> None:
    """Pause the account's SES tenant (customer-managed status DISABLED): only its outbound stops."""
    _sending(ctx, account_id, SendingStatus.DISABLED, reason, as_json)


@account_app.command("resume")
def account_resume(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(help="Account id.")],
    reason: str = REASON,
    as_json: bool = JSON,
) -> None:
    """Resume the account's SES tenant (REINSTATED) where SES allows; SES refuses while its own status
    is DISABLED (tenant_resume_refused)."""
    _sending(ctx, account_id, SendingStatus.REINSTATED, reason, as_json)


def show_tenant(ctx: typer.Context, account_id: str) -> None:
    show(fields_table(tenant_rows(tenant_view(session(ctx), account_id))))
