"""Schemathesis against the real api handler on the local AWS, in-process (WSGI → API Gateway events).

Every operation of docs/openapi.json, with data that fits the schema and data that does not, sent with a
valid token (send, send:reply and read), a `draft` token, without a token and with a forged one (real
ids, wrong secret). The test fails on any 5xx, any exception out of the handler (a dropped connection),
any status the document does not list for the operation, and any body, header or content type that does
not match it. The other checks (negative data rejection, positive data acceptance, …) are counted and
printed, not enforced.

`make test` runs a bounded number of cases; `make fuzz` (HYPOTHESIS_PROFILE=fuzz) at least 5,000.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks

from functions import wiring
from litemx.directory import admin
from litemx.directory.models import Scope
from litemx.directory.tokens import parse_secret
from tests.integration.outbound import Pipeline, make_pipeline
from tests.wsgi import lambda_wsgi

pytestmark = pytest.mark.integration

# Cases per (operation, token, generation mode): 14 operations x 4 tokens x 2 modes = 112 combinations.
CASES_PER_COMBINATION = {"fuzz": 125}
BOUNDED = 3
ENFORCED = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
# Stateless checks that need no links between operations; counted, not enforced.
REPORTED = (
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "ignored_auth",
)
FIGURES = Path("build/schemathesis-figures.json")


@pytest.fixture
def api(tables, local_aws, monkeypatch) -> Iterator[tuple[Pipeline, dict[str, str]]]:
    import boto3

    pipeline = make_pipeline(tables, local_aws, monkeypatch, RAW_MAIL_BUCKET="litemx-raw-fuzz")
    boto3.client("s3").create_bucket(Bucket="litemx-raw-fuzz")
    from functions.api import mailbox_routes

    mailbox_routes.runtime.cache_clear()
    world = pipeline.world
    secret = admin.issue_token(
        world.directory,
        world.audit,
        world.clock,
        mailbox=world.mailboxes[0],
        scopes=frozenset({Scope.SEND, Scope.SEND_REPLY, Scope.READ}),
        actor="op",
    ).secret
    drafter = admin.issue_token(
        world.directory,
        world.audit,
        world.clock,
        mailbox=world.mailboxes[0],
        scopes=frozenset({Scope.DRAFT}),
        actor="op",
    ).secret
    claims = parse_secret(secret)
    assert claims is not None
    tokens = {
        "valid": f"Bearer {secret}",
        "draft": f"Bearer {drafter}",  # drafts' routes, and every send route refusing it
        "forged": f"Bearer lmx_{claims.account_id}_{claims.token_id}_{'A' * 43}",
        "none": "",
    }
    yield pipeline, tokens
    mailbox_routes.runtime.cache_clear()
    wiring.reset_for_tests()


def _profile_cases() -> int:
    return CASES_PER_COMBINATION.get(settings._current_profile or "", BOUNDED)


class Tally:
    def __init__(self, app: Any, mailbox: str) -> None:
        self.mailbox = mailbox
        load_all_checks()
        self.app = app
        self.checks = {check.__name__: check for check in CHECKS.get_all()}
        self.figures: Counter[str] = Counter()
        self.failures: dict[str, list[str]] = {}
        self.samples: dict[str, list[str]] = {}

    def one(self, case: Any, token: str, authorization: str) -> None:
        headers = {"Authorization": authorization} if authorization else {}
        if (
            token == "valid"
            and isinstance(case.body, dict)
            and "from" in case.body
            and self.figures["cases"] % 2
        ):
            case.body["from"] = self.mailbox  # half the sends get past From to the deeper checks
        for name in [n for n in (case.headers or {}) if n.lower() == "authorization"]:
            del case.headers[name]
        self.figures["cases"] += 1
        self.figures[f"cases.{token}"] += 1
        try:
            response = case.call(app=self.app, headers=headers)
        except Exception as crash:  # the handler let something escape: a dropped connection
            self.figures["failed.dropped_connection"] += 1
            self.failures.setdefault("dropped_connection", []).append(repr(crash)[:300])
            return
        self.figures[f"status.{response.status_code}"] += 1
        # Negative cases may violate the required Authorization header: schemathesis then drops the one
        # given here, and the request carries none. Filed by what was sent, not by what was handed over.
        sent = {name.lower() for name in response.request.headers}
        if authorization and "authorization" not in sent:
            token = "dropped"
        self.figures[f"status.{token}.{response.status_code}"] += 1
        if token == "valid" and response.status_code == 401:
            self.samples.setdefault("valid-401", []).append(
                f"{case.method} {case.formatted_path} {case.headers} {response.text[:200]}"
            )
        for name in (*ENFORCED, *REPORTED):
            try:
                case.validate_response(
                    response, checks=[self.checks[name]], headers=headers, transport_kwargs={"app": self.app}
                )
            except (Exception, BaseExceptionGroup) as failed:
                self.figures[f"failed.{name}"] += 1
                self.samples.setdefault(name, []).append(
                    f"{case.method} {case.formatted_path} [{token}] -> {response.status_code}: "
                    f"{str(failed)[:400]}"
                )
                if name in ENFORCED:
                    self.failures.setdefault(name, []).append(
                        f"{case.method} {case.formatted_path} [{token}] -> {response.status_code}: "
                        f"{str(failed)[:600]}"
                    )

    def run(
        self, operation: Any, mode: GenerationMode, token: str, authorization: str, examples: int
    ) -> None:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def cases(case: Any) -> None:
            self.one(case, token, authorization)

        cases()


def test_the_api_matches_its_openapi_document_under_schemathesis(api) -> None:
    from functions.api import handler

    pipeline, tokens = api
    tally = Tally(lambda_wsgi(handler.handler), pipeline.world.mailboxes[0].address)
    schema = schemathesis.openapi.from_dict(json.loads(handler.openapi_document()))
    schema.app = tally.app  # checks that send again (ignored_auth, …) reach the handler too
    per_combination = _profile_cases()

    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        for token, authorization in tokens.items():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                tally.run(operation, mode, token, authorization, per_combination)

    figures = dict(sorted(tally.figures.items()))
    FIGURES.parent.mkdir(exist_ok=True)
    FIGURES.write_text(
        json.dumps({"figures": figures, "samples": {k: v[:5] for k, v in tally.samples.items()}}, indent=2),
        encoding="utf-8",
    )
    print("\nschemathesis figures:", json.dumps(figures))
    assert figures["cases"] >= 42 * per_combination * 0.5
    assert not tally.failures, json.dumps({k: v[:3] for k, v in tally.failures.items()}, indent=1)
