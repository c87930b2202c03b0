import json
from pathlib import Path

import pytest


def test_docs_openapi_json_is_the_generated_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/openapi.json is what `make openapi` writes; regenerate it when the API changes."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray emitter socket in a unit test
    from functions.api.handler import openapi_document

    committed = json.loads(Path("docs/openapi.json").read_text(encoding="utf-8"))
    assert committed == json.loads(openapi_document())
