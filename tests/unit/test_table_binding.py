"""Binding models to tables: a rebind to the same table keeps the model's connection (a new connection is
a new botocore client, about 0.2 s), a rebind elsewhere drops it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from litemx.storage.tables import _ENTITY_MODELS, MailboxRecord, TableNames, bind_tables


@pytest.fixture
def restore_binding() -> Iterator[None]:
    """Put every model back as it was, so later tests see the binding they made."""
    models = [model for group in _ENTITY_MODELS.values() for model in group]
    saved = [(model, dict(vars(model.Meta)), model._connection) for model in models]
    yield
    for model, meta, connection in saved:
        for key in ("table_name", "region"):
            if key in meta:
                setattr(model.Meta, key, meta[key])
        model._connection = connection


def test_a_rebind_to_the_same_table_keeps_the_connection(restore_binding: None) -> None:
    bind_tables(TableNames.with_prefix("bind"), region="eu-west-1")
    connection = MailboxRecord._get_connection()
    bind_tables(TableNames.with_prefix("bind"), region="eu-west-1")
    assert MailboxRecord._get_connection() is connection


@pytest.mark.parametrize(("prefix", "region"), [("other", "eu-west-1"), ("bind", "us-east-1")])
def test_a_rebind_elsewhere_takes_a_new_connection(restore_binding: None, prefix: str, region: str) -> None:
    bind_tables(TableNames.with_prefix("bind"), region="eu-west-1")
    connection = MailboxRecord._get_connection()
    bind_tables(TableNames.with_prefix(prefix), region=region)
    assert MailboxRecord._get_connection() is not connection
    assert MailboxRecord._get_connection().table_name == MailboxRecord.Meta.table_name
