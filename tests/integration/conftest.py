"""Integration fixtures: a real directory in DynamoDB Local, built through the operator functions."""

from __future__ import annotations

import pytest

from litemx.storage.tables import TableNames
from litemx_local.world import World, build_world

__all__ = ["World", "build_world", "recipients"]


@pytest.fixture
def world(tables: TableNames) -> World:
    return build_world(tables)


def recipients(count: int, start: int = 0, domain: str = "outside.test") -> list[str]:
    return [f"person{start + i}@{domain}" for i in range(count)]
