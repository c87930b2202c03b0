"""What a command needs from its invocation: the target (resolved lazily, only by commands that touch AWS),
the operator's identity for audit entries, the clock and the stores."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import typer

from litemx.audit.store import AuditStore
from litemx.clock import Clock, SystemClock
from litemx.directory.store import DirectoryStore
from litemx.quotas.store import QuotaStore
from litemx.suppression.store import SuppressionStore
from litemx_cli.output import EXIT_UNAVAILABLE, CliError
from litemx_cli.target import Target, TargetError, resolve


def operator_actor() -> str:
    """Audit entries name the operator as `operator:<login>`."""
    try:
        user = os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"operator:{user}"


@dataclass
class Session:
    stack: str | None = None
    region: str | None = None
    clock: Clock = field(default_factory=SystemClock)
    actor: str = field(default_factory=operator_actor)
    preset: Target | None = None  # a target already known (the demo's local system), not resolved

    @cached_property
    def target(self) -> Target:
        if self.preset is not None:
            self.preset.activate()
            return self.preset
        try:
            target = resolve(self.stack, self.region)
        except TargetError as problem:
            raise CliError(str(problem), EXIT_UNAVAILABLE) from problem
        target.activate()
        return target

    @cached_property
    def directory(self) -> DirectoryStore:
        _ = self.target
        return DirectoryStore()

    @cached_property
    def audit(self) -> AuditStore:
        _ = self.target
        return AuditStore()

    @cached_property
    def suppression(self) -> SuppressionStore:
        _ = self.target
        return SuppressionStore()

    @cached_property
    def quotas(self) -> QuotaStore:
        _ = self.target
        return QuotaStore()

    def client(self, service: str) -> Any:
        """A boto3 client for the target's region (endpoints come from the target's environment)."""
        import boto3

        return boto3.client(service, region_name=self.target.region)  # type: ignore[call-overload]


def session(ctx: typer.Context) -> Session:
    root = ctx.find_root()
    if not isinstance(root.obj, Session):
        root.obj = Session()
    return root.obj
