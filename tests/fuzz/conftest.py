"""Everything under tests/fuzz is a fuzz test: `make fuzz` runs them (and anything else marked `fuzz`)
with HYPOTHESIS_PROFILE=fuzz, `make test` with the bounded default profile."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.fuzz)
