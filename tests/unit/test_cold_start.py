"""Cold start: what a handler imports before its first event, and the one botocore session its clients
share (docs/deploy.md, "Cold start"). The figures themselves are in `make bench` (bench_imports,
bench_coldstart); these tests fail when a change brings back what was taken out."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.loaders
import pytest

from litemx.feedback.store import DynamoFeedbackLedger
from litemx.messages.store import MessageStore
from litemx.policy.store import DynamoPolicyStore
from litemx.quotas.store import QuotaStore
from litemx.storage import tables
from litemx.storage.session import aws_session, client, lazy_client, reset_session, shared_connection
from litemx.storage.tables import TableNames, bind_tables

ROOT = Path(__file__).resolve().parents[2]
# Imported only by the route, record or configuration that needs it.
ON_DEMAND = (
    "boto3",  # clients come from botocore; boto3 only with Powertools' idempotency
    "s3transfer",
    "aws_lambda_powertools.utilities.idempotency",  # only a send with an Idempotency-Key
    "aws_lambda_powertools.event_handler.openapi.models",  # only GET /v1/openapi.json
    "aws_xray_sdk.core",  # only with tracing on (cdk.json `tracing`)
    "smtplib",  # only OUTBOUND_PROVIDER=smtp
    "litemx.providers.smtp",
    "litemx.providers.ses",  # the provider is built on first use
    "litemx.tenants.ses",
    "litemx.inbound.mime",  # the MIME parser: where mail is parsed
    "idna",  # only an internationalized domain (litemx.addresses)
    # Powertools' batch utility imports its parser's pydantic record models when pydantic is loaded
    # before it; the handlers import Powertools first, and parse their records with their own models.
    "aws_lambda_powertools.utilities.parser.models",
)
PARSES_MAIL = {"inbound": {"litemx.inbound.mime"}}


def _imported_by(handler: str) -> set[str]:
    probe = (
        f"import json, sys; import functions.{handler}.handler; "
        "print(json.dumps(sorted(m for m in sys.argv[1:] if m in sys.modules)))"
    )
    env = os.environ | {
        "POWERTOOLS_SERVICE_NAME": "litemx",
        "POWERTOOLS_METRICS_NAMESPACE": "LiteMX",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    out = subprocess.run(
        [sys.executable, "-c", probe, *ON_DEMAND],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("handler", ["api", "sender", "feedback", "inbound", "webhooks"])
def test_a_handler_imports_nothing_its_first_event_may_not_need(handler: str) -> None:
    # Given a fresh interpreter with the stack's default environment (tracing off, SES provider)
    # When it imports the handler module, as Lambda's init does
    imported = _imported_by(handler)
    # Then nothing that only some routes, records or configurations need is loaded yet
    assert imported == PARSES_MAIL.get(handler, set())


def test_the_api_builds_its_shapes_validators_on_first_use_not_at_import() -> None:
    # Given a fresh interpreter with the stack's default environment
    probe = (
        "import json; import functions.api.handler; from functions.api.models import ApiModel\n"
        "def subs(c):\n    for s in c.__subclasses__():\n        yield s\n        yield from subs(s)\n"
        "print(json.dumps(sorted(s.__name__ for s in subs(ApiModel) if s.__pydantic_complete__)))"
    )
    env = os.environ | {"POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    # When it imports the api handler
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT, check=True
    )
    built = json.loads(out.stdout.strip().splitlines()[-1])
    # Then no API shape has built its validator yet (a route builds those it uses when first called), but
    # the one whose instance is another shape's field default (UsageOut.warmup)
    assert built == ["WarmupOut"]


@pytest.fixture
def fresh_session(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """A new process session in a region with dummy credentials, counting the botocore data files read."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "unit")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    reads: Counter[str] = Counter()
    load_file = botocore.loaders.JSONFileLoader.load_file

    def counted(self: Any, file_path: str) -> Any:
        found = load_file(self, file_path)
        if found is not None:
            reads[file_path.split("/data/")[-1]] += 1
        return found

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", counted)
    reset_session()
    yield reads
    reset_session()


def test_every_table_model_and_store_goes_through_one_connection_and_session(fresh_session) -> None:
    # Given the tables bound as a handler binds them
    bind_tables(TableNames.with_prefix("coldstart-unit"))
    # When each table model and each store asks for its connection
    models = [model for group in tables._ENTITY_MODELS.values() for model in group]
    connections = {id(model._get_connection().connection) for model in models}
    stores: list[Any] = [DynamoPolicyStore(), QuotaStore(), MessageStore(), DynamoFeedbackLedger()]
    # Then there is one connection, with the process's botocore session
    assert connections == {id(shared_connection())}
    assert {id(store._connection) for store in stores} == {id(shared_connection())}
    assert shared_connection().session is aws_session()


def test_a_first_call_loads_each_service_model_once(fresh_session) -> None:
    # Given the tables bound
    bind_tables(TableNames.with_prefix("coldstart-unit"))
    # When every model's DynamoDB client is asked for, a store's too, and the handlers' other clients
    dynamodb = {
        id(model._get_connection().connection.client) for model in (tables.MessageRecord, tables.AuditEntry)
    }
    dynamodb.add(id(DynamoPolicyStore().client))
    s3, sqs = client("s3"), lazy_client("sqs")
    # Then one DynamoDB client serves them all, and each model and botocore's endpoints are read once
    assert len(dynamodb) == 1
    assert client("s3") is s3
    models = {path: count for path, count in fresh_session.items() if path.endswith("service-2")}
    assert models == {"dynamodb/2012-08-10/service-2": 1, "s3/2006-03-01/service-2": 1}
    assert fresh_session["endpoints"] == 1
    # and a lazy client is made on its first use, from the same session
    assert sqs.meta.service_model.service_name == "sqs"
    assert fresh_session["sqs/2012-11-05/service-2"] == 1


def test_the_layer_keeps_the_model_of_every_service_the_code_calls() -> None:
    # Given the services the handlers' code names a client of (and pynamodb's DynamoDB)
    builder = _load_builder()
    sources = [*ROOT.joinpath("functions").rglob("*.py"), *ROOT.joinpath("shared", "litemx").rglob("*.py")]
    named = {
        match
        for path in sources
        for match in re.findall(r"""client\(\s*["']([a-z0-9-]+)["']""", path.read_text())
    }
    # When the layer is pruned to the builder's services
    kept = set(builder.LAYER_SERVICES)
    # Then none of them is missing (a missing model is an UnknownServiceError on a deployed first call)
    assert named | {"dynamodb"} <= kept
    assert {"s3", "sqs", "sesv2"} <= named


def _load_builder() -> Any:
    spec = importlib.util.spec_from_file_location("build_assets", ROOT / "scripts" / "build_assets.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
