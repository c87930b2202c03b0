"""`litemx local ...`: the whole system on this machine (implemented in litemx_local.system)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run the whole LiteMX system on this machine.", no_args_is_help=True)


@app.command()
def up(
    api_port: int = typer.Option(8080, help="HTTP port of the API on 127.0.0.1"),
    smtp_port: int = typer.Option(2525, help="SMTP port of the inbound listener on 127.0.0.1"),
) -> None:
    """Start the local AWS and run the real handlers until Ctrl-C."""
    from litemx_local.system import run

    raise typer.Exit(run(api_port=api_port, smtp_port=smtp_port))
