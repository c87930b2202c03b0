"""The handlers' Powertools tracer, which imports the X-Ray SDK only when the stack turns tracing on.

Powertools' Tracer imports `aws_xray_sdk.core` even when POWERTOOLS_TRACE_DISABLED is set, and that import
is the largest part of a handler's cold start; with tracing off (cdk.json `tracing`, off by default since
every trace costs money at LiteMX's volumes) the tracer gets a provider that does nothing instead.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

TRACE_DISABLED = "POWERTOOLS_TRACE_DISABLED"


class _NoSegment(BaseSegment):
    def close(self, end_time: int | None = None) -> None:
        return None

    def add_subsegment(self, subsegment: Any) -> None:
        return None

    def remove_subsegment(self, subsegment: Any) -> None:
        return None

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def add_exception(self, exception: BaseException, stack: list[Any], remote: bool = False) -> None:
        return None


class NoTracing(BaseProvider):
    """A tracing provider that records nothing and imports nothing."""

    @contextlib.contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Iterator[BaseSegment]:
        yield _NoSegment()

    @contextlib.asynccontextmanager
    async def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> AsyncIterator[BaseSegment]:
        yield _NoSegment()

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def patch(self, modules: Sequence[str]) -> None:
        return None

    def patch_all(self) -> None:
        return None


def tracing_enabled() -> bool:
    return not resolve_truthy_env_var_choice(env=os.getenv(TRACE_DISABLED, "false"))


def make_tracer() -> Tracer:
    """Powertools' X-Ray tracer when tracing is on; otherwise one whose provider does nothing."""
    if tracing_enabled():
        return Tracer()
    return Tracer(provider=NoTracing(), auto_patch=False)
