"""Receiving mail on the local AWS as SES does: the raw message put in the (moto) raw-mail bucket under
the receipt rule's prefix, then the receipt event handed to the real inbound handler."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from litemx.storage.tables import TableNames
from litemx_local.testclock import anchored_now
from tests.events import FakeLambdaContext, receipt_event

BUCKET = "litemx-raw-mail-test"
PREFIX = "inbound/"
WEBHOOK_FUNCTION = "webhooks"  # answered in-process where a test needs it (litemx_local.invocations)
_ids = itertools.count(1)


def environment(tables: TableNames, **extra: str) -> dict[str, str]:
    env = {f"TABLE_{role.upper()}": name for role, name in vars(tables).items()}
    return env | {
        "RAW_MAIL_BUCKET": BUCKET,
        "RAW_MAIL_PREFIX": PREFIX,
        "WEBHOOK_FUNCTION_NAME": WEBHOOK_FUNCTION,
        "POWERTOOLS_SERVICE_NAME": "litemx-inbound",
        "POWERTOOLS_METRICS_NAMESPACE": "LiteMX",
        "POWERTOOLS_TRACE_DISABLED": "true",
        **extra,
    }


@dataclass
class Mailroom:
    s3: Any = field(default_factory=lambda: boto3.client("s3"))

    def receive(self, raw: bytes, recipients: list[str], *, ses_id: str | None = None, **event: Any) -> str:
        """Store `raw` as SES's S3 action would, invoke the inbound handler; returns the SES message id."""
        from functions.inbound import handler

        ses_id = ses_id or f"sesid{next(_ids):06d}abcdefghij"
        event.setdefault("timestamp", anchored_now())
        self.s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}{ses_id}", Body=raw)
        answer = handler.handler(receipt_event(ses_id, recipients, **event), FakeLambdaContext())
        assert answer == {"disposition": "CONTINUE"}
        return ses_id


@contextmanager
def mailroom(tables: TableNames, monkeypatch: pytest.MonkeyPatch, **extra: str) -> Iterator[Mailroom]:
    for key, value in environment(tables, **extra).items():
        monkeypatch.setenv(key, value)
    # Imported once the environment is set: Powertools reads its service and namespace when created.
    from functions.inbound import handler

    # Powertools read its namespace when the module was first imported (maybe at collection): set it.
    monkeypatch.setattr(handler.metrics, "namespace", "LiteMX")
    handler.runtime.cache_clear()
    room = Mailroom()
    room.s3.create_bucket(Bucket=BUCKET)
    try:
        yield room
    finally:
        handler.runtime.cache_clear()
