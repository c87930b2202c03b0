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
# LiteMX's own modules a handler's init leaves out: the api's mailbox and agent routes load their domain when
# one of them first runs (most api cold starts only send), the api never delivers (the reputation models) and
# builds its OpenAPI document only when asked (the webhook's models); the sender never loads the send path,
# the inbound handler neither the outbound settings nor the audit store, the feedback handler reads an
# event's tenant without the tenant types, and the webhook delivery function sends a job without the
# inbound models the event was built from.
NOT_AT_INIT = {
    "api": (
        *("litemx.drafts.logic", "litemx.drafts.store", "litemx.mail.reply", "litemx.inbound.replies"),
        *(
            "litemx.inbound.logic",
            "litemx.inbound.models",
            "litemx.inbound.store",
            "litemx.outbound.delivery",
        ),
    ),
    "sender": (
        *("litemx.outbound.service", "litemx.policy.logic", "litemx.policy.fanout", "litemx.mail.compose"),
        *("litemx.outbound.uploads", "litemx.directory.auth"),
    ),
    "inbound": ("functions.outbound_settings", "litemx.audit.store", "litemx.providers.base"),
    "feedback": ("litemx.tenants.models",),
    "webhooks": ("litemx.inbound.models", "litemx.webhooks.events"),
}


def _imported_by(handler: str, modules: tuple[str, ...] = ON_DEMAND) -> set[str]:
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
        [sys.executable, "-c", probe, *modules],
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


@pytest.mark.parametrize("handler", sorted(NOT_AT_INIT))
def test_a_handler_leaves_the_litemx_modules_of_other_paths_out_of_its_init(handler: str) -> None:
    # Given a fresh interpreter with the stack's default environment
    # When it imports the handler module
    imported = _imported_by(handler, NOT_AT_INIT[handler])
    # Then none of the domain modules only other routes or other handlers use is loaded
    assert imported == set()


_GC_PROBE = (
    "import gc, json, sys; import functions; during = gc.isenabled(); "
    "__import__(f'functions.{sys.argv[1]}.handler'); "
    "print(json.dumps([during, gc.isenabled(), gc.get_freeze_count() > 0]))"
)


def _collector(handler: str, environ: dict[str, str]) -> list[bool]:
    env = os.environ | {"POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1", **environ}
    env.pop("_HANDLER", None) if "_HANDLER" not in environ else None
    out = subprocess.run(
        [sys.executable, "-c", _GC_PROBE, handler],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    found: list[bool] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize("handler", ["api", "sender", "inbound", "feedback", "webhooks"])
def test_in_lambda_a_ready_handler_loads_without_the_collector_and_freezes_what_init_made(
    handler: str,
) -> None:
    # Given Lambda's init of this handler (Lambda names it in _HANDLER)
    environ = {"_HANDLER": f"functions.{handler}.handler.handler"}
    # When the handler module is imported
    during, after, frozen = _collector(handler, environ)
    # Then the collector was off while it loaded, and is on again with init's objects frozen
    assert (during, after, frozen) == (False, True, True)


@pytest.mark.parametrize(
    ("handler", "environ"),
    [("api", {}), ("api", {"_HANDLER": "litemx_custom.handler.handler"})],
)
def test_elsewhere_the_collector_is_left_as_it_is(handler: str, environ: dict[str, str]) -> None:
    # Given an import outside Lambda (no _HANDLER), or while Lambda initializes some other handler
    # When the handler module is imported
    during, after, _ = _collector(handler, environ)
    # Then the collector stayed on throughout
    assert (during, after) == (True, True)


def test_every_ready_handler_ends_its_module_with_ready() -> None:
    # Given the handlers functions/__init__.py turns the collector off for
    from functions import READY_HANDLERS

    for module in READY_HANDLERS:
        # When its module's last statement is read
        last = ROOT.joinpath(*module.split(".")).with_suffix(".py").read_text().strip().splitlines()[-1]
        # Then it is ready(): nothing after it runs with the collector off
        assert last == "ready()", module


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
