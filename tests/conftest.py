"""Shared fixtures. The local AWS starts once per session, only when a test asks for it."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from litemx.storage.tables import TableNames

# Hypothesis profiles: `default` is bounded for `make test`; `make fuzz` sets HYPOTHESIS_PROFILE=fuzz.
settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=2_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

_table_sets = itertools.count(1)

# What the stack sets on every function (infra/constructs/function.py). Set before any handler module is
# imported, since Powertools reads them when a handler's Logger, Tracer and Metrics are created.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "litemx-test")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "LiteMX")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")


@pytest.fixture(scope="session")
def local_aws() -> Iterator[object]:
    from litemx_local.aws import LocalAws

    with LocalAws() as aws:
        saved = {key: os.environ.get(key) for key in aws.environment()}
        os.environ.update(aws.environment())
        try:
            yield aws
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@pytest.fixture
def tables(local_aws) -> Iterator[TableNames]:
    """Fresh tables for each test, created from the pynamodb models, dropped afterwards."""
    names = TableNames.with_prefix(f"t{next(_table_sets)}")
    local_aws.create_tables(names)
    yield names
    local_aws.delete_tables(names)
    local_aws.reset_moto()
