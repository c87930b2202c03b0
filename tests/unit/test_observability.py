"""The handlers' tracer: X-Ray only when the stack turns tracing on."""

from __future__ import annotations

import subprocess
import sys

import pytest

_PROBE = """
from functions.observability import make_tracer
tracer = make_tracer()

@tracer.capture_lambda_handler
def handler(event, context):
    return event["n"] + 1

import sys
print(handler({"n": 41}, None), "aws_xray_sdk.core" in sys.modules)
"""


@pytest.mark.parametrize(("disabled", "imports_xray"), [("true", False), ("false", True)])
def test_the_xray_sdk_is_imported_only_when_tracing_is_on(disabled, imports_xray, monkeypatch):
    # Given a fresh interpreter with the stack's POWERTOOLS_TRACE_DISABLED
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", disabled)
    monkeypatch.setenv("AWS_XRAY_SDK_ENABLED", "false")
    # When a handler decorated by the tracer runs
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True)
    # Then it answers, and the X-Ray SDK was loaded only with tracing on
    assert out.stdout.split() == ["42", str(imports_xray)]
