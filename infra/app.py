"""CDK entry point (`npx cdk synth`, or `.venv/bin/python -m infra.app`): config, stack, cdk-nag.

Run as a module from the repository root (cdk.json does): as a script, infra/ would lead sys.path and
infra/constructs would shadow the `constructs` library.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import App, Aspects
from cdk_nag import AwsSolutionsChecks

from infra.config import LiteMXConfig
from infra.constructs.function import FunctionAssets
from infra.stack import LiteMXStack

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ASSETS = FunctionAssets(
    code_dir=ROOT / "build" / "assets" / "code", layer_zip=ROOT / "build" / "assets" / "layer.zip"
)


def build(app: App, assets: FunctionAssets = DEFAULT_ASSETS) -> LiteMXStack:
    """The stack with cdk-nag's AwsSolutions checks on: every synth runs them, findings are errors."""
    config = LiteMXConfig.from_context(app.node.try_get_context)
    stack = LiteMXStack(app, config=config, assets=assets)
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return stack


def main(**app_kwargs: Any) -> None:
    app = App(**app_kwargs)
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
