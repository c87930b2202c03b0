"""Property tests over generated hostile input. Every test here is marked `fuzz`.

The hypothesis profile comes from LITEMX_FUZZ_PROFILE: `bounded` (the default, what `make test` runs: a
quick sample) or `fuzz` (what `make fuzz` runs: at least 10,000 cases per property). Examples are derived
from the test's name (`derandomize`) in the bounded profile, so `make test` is repeatable.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

FUZZ_EXAMPLES = 10_000
BOUNDED_EXAMPLES = 50

settings.register_profile(
    "bounded",
    max_examples=BOUNDED_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.register_profile(
    "fuzz",
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("LITEMX_FUZZ_PROFILE", "bounded"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/fuzz/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.fuzz)


@pytest.fixture(autouse=True)
def _no_sockets(socket_disabled: None) -> None:
    """Fuzzing runs on in-memory fakes: any network access fails it."""
    return None
