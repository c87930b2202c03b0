"""One synth per configuration per session: jsii start-up costs ~2 s, later synths ~0.1 s.

The App gets its context from cdk.json, as `cdk synth` does, so feature flags and LiteMX settings in
the tests are the ones that deploy. The Lambda assets are small stand-ins made here: the template does not
depend on their content, and the tests need neither `make assets` nor the network.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from infra.app import build
from infra.constructs.function import FunctionAssets
from infra.stack import LiteMXStack

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("api", "sender", "inbound", "feedback", "webhooks")


def cdk_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


@dataclass
class Synth:
    stack: LiteMXStack
    template: Template

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.template.to_json()["Resources"]
        return resources

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == cfn_type}

    def logical_id(self, construct: Any) -> str:
        return str(self.stack.get_logical_id(construct.node.default_child))

    def properties(self, construct: Any) -> dict[str, Any]:
        properties: dict[str, Any] = self.resources[self.logical_id(construct)]["Properties"]
        return properties


@pytest.fixture(scope="session")
def fake_assets(tmp_path_factory: pytest.TempPathFactory) -> FunctionAssets:
    base = tmp_path_factory.mktemp("assets")
    for name in FUNCTIONS:
        handler = base / "code" / "functions" / name / "handler.py"
        handler.parent.mkdir(parents=True)
        handler.write_text("def handler(event, context):\n    return None\n")
    with zipfile.ZipFile(base / "layer.zip", "w") as layer:
        layer.writestr("python/placeholder.py", "")
    return FunctionAssets(code_dir=base / "code", layer_zip=base / "layer.zip")


@pytest.fixture(scope="session")
def synth_with(tmp_path_factory: pytest.TempPathFactory, fake_assets: FunctionAssets) -> Callable[..., Synth]:
    def _synth(**overrides: Any) -> Synth:
        context = cdk_context() | {f"litemx:{k}": v for k, v in overrides.items()}
        app = App(context=context, outdir=str(tmp_path_factory.mktemp("cdk.out")))
        stack = build(app, fake_assets)
        return Synth(stack=stack, template=Template.from_stack(stack))

    return _synth


@pytest.fixture(scope="session")
def default(synth_with: Callable[..., Synth]) -> Synth:
    """The stack exactly as cdk.json configures it."""
    return synth_with()


@pytest.fixture(scope="session")
def variant(synth_with: Callable[..., Synth]) -> Synth:
    """SMTP relay, rule-set activation, two domains, sandbox recipients and Delivery events: every optional
    path on."""
    return synth_with(
        outboundProvider="smtp",
        smtpSecret="litemx/smtp-relay",
        smtpHost="smtp.example.net",
        activateRuleSet=True,
        domains=["example.com", "example.org"],
        verifiedRecipients=["tester@example.net"],
        rawMailExpirationDays=365,
        sesSendRate=14,
        recordDeliveries=True,
    )
