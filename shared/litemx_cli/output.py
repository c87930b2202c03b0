"""How the CLI speaks: rich tables for people (readable at 80 columns), JSON for programs, one-line errors.

Consoles are built per call, not at import, so that whatever stdout is current (a terminal, a pipe, a test
runner's buffer) receives the output.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Column, Table

# Exit codes, documented in docs/cli.md.
EXIT_REFUSED = 1  # the request was refused: not found, already exists, invalid, policy refusal
EXIT_USAGE = 2  # click's own code for bad options and arguments
EXIT_UNAVAILABLE = 3  # the target could not be reached (not running, no such stack, network)


class CliError(Exception):
    """A failure to report in one line and exit with `exit_code`."""

    def __init__(self, message: str, exit_code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def out() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def err() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def fail(message: str, exit_code: int = EXIT_REFUSED) -> NoReturn:
    raise CliError(message, exit_code)


def plain(value: Any) -> Any:
    """JSON-ready form of domain values (dataclasses, enums, datetimes, sets)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(plain(data), indent=2, sort_keys=True))


def when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%SZ")


def table(title: str | None, columns: Sequence[str | Column], rows: Iterable[Sequence[Any]]) -> Table:
    """A compact table without vertical rules; long cells wrap at spaces, then fold, instead of pushing
    the table past the terminal width. A column given by name folds; a `Column` says for itself."""
    grid = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        header_style="bold",
    )
    for column in columns:
        if isinstance(column, Column):
            grid.columns.append(column)
        else:
            grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*("-" if cell is None else str(cell) for cell in row))
    return grid


def show(*renderables: Any) -> None:
    console = out()
    for renderable in renderables:
        console.print(renderable)


def fields_table(pairs: Sequence[tuple[str, Any]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for name, value in pairs:
        grid.add_row(name, "-" if value is None else str(value))
    return grid
