"""The `litemx` console script: operator commands against the local system or a deployed stack."""

from __future__ import annotations

from typing import Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException
from typer.core import TyperGroup

from litemx.directory.auth import AuthError
from litemx.errors import LiteMXError
from litemx_cli.control_commands import audit, disable, enable, provider_app, send, suppression_app, usage
from litemx_cli.directory_commands import account_app, domain_app, mailbox_app, token_app
from litemx_cli.draft_commands import draft_app
from litemx_cli.local import app as local_app
from litemx_cli.output import EXIT_REFUSED, EXIT_UNAVAILABLE, CliError, err
from litemx_cli.queue_commands import queue_app
from litemx_cli.session import Session
from litemx_cli.tenant_commands import account_repair as _registers_tenant_commands  # noqa: F401
from litemx_cli.webhook_commands import webhook_app


def _explain(problem: Exception) -> tuple[str, int]:
    """One line and an exit code for each failure a command can meet; anything else is a bug."""
    if isinstance(problem, CliError):
        return problem.message, problem.exit_code
    if isinstance(problem, LiteMXError):
        return f"{problem} ({problem.code})", EXIT_REFUSED
    if isinstance(problem, AuthError):
        return f"{problem} ({problem.reason.code})", EXIT_REFUSED
    if isinstance(problem, ClientError):
        error = problem.response.get("Error", {})
        return f"AWS refused: {error.get('Code', '?')}: {error.get('Message', '')}", EXIT_UNAVAILABLE
    if isinstance(problem, BotoCoreError):
        return f"cannot reach AWS: {problem}", EXIT_UNAVAILABLE
    if isinstance(problem, PynamoDBException):
        return f"DynamoDB failed: {problem.msg or problem}", EXIT_UNAVAILABLE
    raise problem


class LiteMXGroup(TyperGroup):
    """The root group: turns expected failures into `error: ...` on stderr and an exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (CliError, LiteMXError, AuthError, ClientError, BotoCoreError, PynamoDBException) as problem:
            message, code = _explain(problem)
            err().print(f"error: {message}", markup=False)
            raise typer.Exit(code) from None


app = typer.Typer(
    name="litemx",
    cls=LiteMXGroup,
    help="Operate LiteMX: accounts, domains, mailboxes, tokens, kill switches, suppression, audit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    ctx: typer.Context,
    stack: str | None = typer.Option(
        None, "--stack", envvar="LITEMX_STACK", help="A deployed stack (default: the local system)."
    ),
    region: str | None = typer.Option(None, "--region", envvar="AWS_REGION", help="The stack's region."),
) -> None:
    """The target is resolved only when a command needs it."""
    ctx.obj = Session(stack=stack, region=region)


app.add_typer(account_app, name="account")
app.add_typer(domain_app, name="domain")
app.add_typer(mailbox_app, name="mailbox")
app.add_typer(token_app, name="token")
app.add_typer(suppression_app, name="suppression")
app.add_typer(provider_app, name="provider")
app.add_typer(queue_app, name="queue")
app.add_typer(draft_app, name="draft")
app.add_typer(webhook_app, name="webhook")
app.command("disable")(disable)
app.command("enable")(enable)
app.command("usage")(usage)
app.command("audit")(audit)
app.command("send")(send)
app.add_typer(local_app, name="local")


def main() -> None:
    app()
