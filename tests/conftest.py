"""Shared fixtures. The local AWS starts once per session, only when a test asks for it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings

from litemx.clock import SystemClock
from litemx.storage.tables import TableNames, bind_tables
from litemx_local.testclock import anchored_now, dynamodb_clock_offset

# Hypothesis profiles: `default` is bounded for `make test`; `make fuzz` sets HYPOTHESIS_PROFILE=fuzz.
settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=2_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# What the stack sets on every function (infra/constructs/function.py). Set before any handler module is
# imported, since Powertools reads them when a handler's Logger, Tracer and Metrics are created.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "litemx-test")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "LiteMX")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")


@pytest.fixture(scope="session", autouse=True)
def anchored_system_clock() -> Iterator[None]:
    """Handlers run in-process build a SystemClock: it reads the tests' one clock, anchored to the real
    start of the run or to LITEMX_TEST_NOW (litemx_local.testclock), so a shifted run shifts them too."""
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

    def idempotency_expiry(layer: BasePersistenceLayer) -> int:
        # Powertools stamps its records' TTL from the wall clock; on a shifted anchor DynamoDB Local's TTL
        # clock is the anchor's, so the records must be stamped from it too (on AWS the two are one).
        return int((anchored_now() + timedelta(seconds=layer.expires_after_seconds)).timestamp())

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SystemClock, "now", lambda self: anchored_now())
        patch.setattr(BasePersistenceLayer, "_get_expiry_timestamp", idempotency_expiry)
        yield


@pytest.fixture(scope="session")
def local_aws() -> Iterator[object]:
    from litemx_local.aws import LocalAws

    # DynamoDB Local's TTL clock follows a shifted anchor (a relative faketime offset on its JVM only).
    with LocalAws(clock_offset=dynamodb_clock_offset()) as aws:
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


@pytest.fixture(scope="session")
def _run_tables(local_aws) -> TableNames:
    """One set of tables per test run, created from the pynamodb models (creating nine tables costs
    about 1.5 s on DynamoDB Local; clearing them between tests costs a few milliseconds)."""
    names = TableNames.with_prefix("t1")
    local_aws.create_tables(names)
    return names


@pytest.fixture
def tables(local_aws, _run_tables: TableNames) -> Iterator[TableNames]:
    """Empty tables for each test (cleared afterwards), and a fresh moto server."""
    from litemx_local.aws import REGION

    bind_tables(_run_tables, region=REGION)
    yield _run_tables
    local_aws.clear_tables(_run_tables)
    local_aws.reset_moto()
