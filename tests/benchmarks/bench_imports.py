"""Cold imports as deployed: each handler's import, from the code asset plus the dependency layer with
their precompiled bytecode (scripts/build_assets.py), against a bare `import boto3` from the same set.

Lambda's arm64 layer cannot load on this machine, so the bench installs the same pinned distributions
(infra/lambda-requirements.lock) for this machine's platform and compiles them the way the builder does.
Each figure is the import's CPU time in a fresh `python -S` process (an import is CPU work, and its CPU
time moves less than its wall time when other work shares the machine); handler and boto3 runs
alternate, and the ratio is taken pair by pair, so that a noisy machine moves both sides alike. Prints
medians of 15 pairs (LITEMX_BENCH_IMPORT_RUNS); target ≤ 1.5x.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ("api", "sender", "inbound", "feedback", "webhooks")
RUNS = int(os.environ.get("LITEMX_BENCH_IMPORT_RUNS", "15"))
TARGET = 1.5
# What the stack sets on every function (infra/constructs/function.py) with its defaults (cdk.json
# `tracing` off): Powertools reads it at import, and with tracing on the X-Ray SDK would be imported too.
LAMBDA_ENV = {
    "POWERTOOLS_SERVICE_NAME": "litemx",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "LiteMX",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "PATH": os.environ.get("PATH", ""),
}
_PROBE = (
    "import sys, time; sys.path[:0] = sys.argv[2:]; t = time.process_time(); "
    "[__import__(m) for m in sys.argv[1].split(',')]; print(time.process_time() - t)"
)
# What every handler imports before any LiteMX code: pynamodb (and the botocore under it), pydantic with
# a first model defined (floor_model: defining one imports pydantic's fields, types and plugin loader),
# and Powertools' logger and metrics. Its ratio is the floor a handler cannot go under.
FLOOR = ",".join(
    [
        *("pynamodb.models", "pynamodb.transactions", "floor_model"),
        *("aws_lambda_powertools.logging", "aws_lambda_powertools.metrics"),
    ]
)
# The floor of each handler under the house style (docs/deploy.md §3a, the import target): the
# dependency floor plus the Powertools utility the handler is built on, imported in the handlers' order
# (Powertools before pydantic: Powertools' batch utility imports its parser's pydantic record models when
# pydantic is already loaded). The api's is the event handler with validation on; the queue consumers'
# the batch processor; the inbound handler has no more than the dependency floor.
_POWERTOOLS = ("aws_lambda_powertools.logging", "aws_lambda_powertools.metrics")
_DEPENDENCIES = ("pynamodb.models", "pynamodb.transactions", "floor_model")
HOUSE_FLOORS = {
    "floor: api (event handler)": ",".join(
        [
            *_POWERTOOLS,
            "aws_lambda_powertools.event_handler",
            "aws_lambda_powertools.event_handler.openapi.params",
            "aws_lambda_powertools.event_handler.middlewares.openapi_validation",
            *_DEPENDENCIES,
        ]
    ),
    "floor: batch (sender, …)": ",".join(
        [*_POWERTOOLS, "aws_lambda_powertools.utilities.batch", *_DEPENDENCIES]
    ),
}


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_assets", ROOT / "scripts" / "build_assets.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def deployed_set(work: Path) -> list[str]:
    """The layer's distributions for this platform and the code asset, both with builder bytecode. The
    layer is installed once per lock into build/bench/ (bench_coldstart reuses it inside the network
    namespace, where pip cannot reach an index)."""
    builder = _builder()
    lock = builder.LOCK.read_text() + builder.BUILDER_VERSION
    opt = ROOT / "build" / "bench" / f"layer-{hashlib.sha256(lock.encode()).hexdigest()[:12]}" / "opt"
    layer = opt / "python"
    if not (opt / "ready").exists():
        shutil.rmtree(opt, ignore_errors=True)
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile"),
                *("--no-warn-conflicts", "--disable-pip-version-check", "--target", str(layer)),
                *("-r", str(builder.LOCK)),
            ],
            check=True,
        )
        builder.prune_botocore(layer)
        builder.compile_bytecode(opt, "/opt")
        (opt / "ready").write_text(lock)
    builder.build_code(work)
    return [str(work / "code"), str(layer)]


def import_seconds(module: str, path: list[str]) -> float:
    # Lambda names the handler in _HANDLER before init (functions/__init__.py reads it).
    handler = {"_HANDLER": f"{module}.handler"} if module.startswith("functions.") else {}
    out = subprocess.run(
        [sys.executable, "-S", "-c", _PROBE, module, *path],
        check=True,
        capture_output=True,
        text=True,
        env=LAMBDA_ENV | handler,
        cwd=tempfile.gettempdir(),
    )
    return float(out.stdout.strip())


# What the handler's own frozen dataclasses cost to create: `@dataclass` compiles each generated method
# from source (six for a frozen class) when the class is defined, the largest part of LiteMX's import above
# the floor (docs/deploy.md §3a).
_DATACLASS_PROBE = (
    "import sys, time, dataclasses; sys.path[:0] = sys.argv[2:]; spent = [0.0, 0]; "
    "process = dataclasses._process_class\n"
    "def timed(cls, *args, **kwargs):\n"
    "    t = time.process_time(); made = process(cls, *args, **kwargs)\n"
    "    if cls.__module__.startswith(('litemx', 'functions')):\n"
    "        spent[0] += time.process_time() - t; spent[1] += 1\n"
    "    return made\n"
    "dataclasses._process_class = timed; __import__(sys.argv[1]); print(spent[0], spent[1])"
)


def dataclass_seconds(module: str, path: list[str]) -> tuple[float, int]:
    """CPU spent creating LiteMX's dataclasses while `module` imports, and how many it creates."""
    out = subprocess.run(
        [sys.executable, "-S", "-c", _DATACLASS_PROBE, module, *path],
        check=True,
        capture_output=True,
        text=True,
        env=LAMBDA_ENV | {"_HANDLER": f"{module}.handler"},
        cwd=tempfile.gettempdir(),
    )
    seconds, count = out.stdout.split()
    return float(seconds), int(count)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="litemx-imports-") as tmp:
        path = deployed_set(Path(tmp))
        print(f"Cold imports as deployed (code asset + layer, bytecode, Python {sys.version.split()[0]})")
        print(
            f"{'module':<30}{'cpu ms':>10}{'boto3 ms':>10}{'ratio':>8}  target ≤ {TARGET}x"
            "  (LiteMX dataclasses created: how many, their CPU, as a share of a bare boto3)"
        )
        rows = {f"functions.{name}.handler": f"functions.{name}.handler" for name in HANDLERS}
        rows |= {"floor: pynamodb+pydantic+PT": FLOOR, **HOUSE_FLOORS}
        for label, module in rows.items():
            where = path if label.startswith("functions.") else [*path, str(Path(__file__).resolve().parent)]
            pairs = [(import_seconds(module, where), import_seconds("boto3", path)) for _ in range(RUNS)]
            ratio = statistics.median(a / b for a, b in pairs)
            mine, bare = (statistics.median(side) * 1000 for side in zip(*pairs, strict=True))
            verdict = ("met" if ratio <= TARGET else "NOT met") if label.startswith("functions.") else ""
            if label.startswith("functions."):
                made = [dataclass_seconds(module, path) for _ in range(5)]
                spent = statistics.median(seconds for seconds, _ in made) * 1000
                verdict = f"{verdict:<8}  ({made[0][1]} dataclasses, {spent:.0f} ms, {spent / bare:.2f}x)"
            print(f"{label:<30}{mine:>10.0f}{bare:>10.0f}{ratio:>7.2f}x  {verdict}")
        print(
            "floor rows: what a handler imports before any LiteMX code (the dependencies, and with them the "
            "Powertools utility the house style prescribes), which no change to LiteMX can take below"
        )


if __name__ == "__main__":
    main()
