import json
from pathlib import Path

import pytest


def test_docs_openapi_json_is_the_generated_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/openapi.json is what `make openapi` writes; regenerate it when the API changes."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray emitter socket in a unit test
    from functions.api.handler import openapi_document

    committed = json.loads(Path("docs/openapi.json").read_text(encoding="utf-8"))
    assert committed == json.loads(openapi_document())


def test_the_guards_route_table_is_the_openapi_document(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    from functions.api import guard
    from functions.api.handler import openapi_document

    document = json.loads(openapi_document())
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    guarded = {(r.method, r.pattern.pattern) for r in guard.ROUTES if r.scopes is not None}
    expected = {(m, "^" + p.replace("{", "(?P<").replace("}", ">[^/]+)") + "$") for m, p in documented}
    assert guarded == expected
