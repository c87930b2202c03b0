"""The Docker-free asset builder: same inputs, byte-identical layer zip (so CDK asset hashes are stable)."""

from __future__ import annotations

import importlib.util
import os
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_assets", ROOT / "scripts" / "build_assets.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tree(base: Path, shebang: str, mtime: int) -> Path:
    files = {
        "python/pkg/__init__.py": "VALUE = 1\n",
        "python/pkg/__pycache__/__init__.cpython-312.pyc": "stale",
        "python/bin/jp.py": f"#!{shebang}\n",
        "python/pkg-1.0.dist-info/RECORD": (
            f"pkg/__init__.py,sha256=abc,10\n../../bin/jp.py,sha256={shebang},9\n"
        ),
    }
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.utime(path, (mtime, mtime))
    return base


def test_layer_zip_is_byte_identical_across_builders(tmp_path):
    # Given the same packages installed by two machines (other interpreter path, other file times)
    builder = _builder()
    first = _tree(tmp_path / "a", "/home/one/.venv/bin/python", 1_000_000_000)
    second = _tree(tmp_path / "b", "/srv/two/.venv/bin/python", 1_700_000_000)
    # When each is zipped
    for tree in (first, second):
        entries = [(f.relative_to(tree).as_posix(), f) for f in builder._files(tree)]
        builder.deterministic_zip(entries, tree.with_suffix(".zip"))
    # Then the archives are identical, without bytecode, console scripts or their RECORD lines
    assert first.with_suffix(".zip").read_bytes() == second.with_suffix(".zip").read_bytes()
    with zipfile.ZipFile(first.with_suffix(".zip")) as archive:
        assert archive.namelist() == ["python/pkg-1.0.dist-info/RECORD", "python/pkg/__init__.py"]
        assert b"../" not in archive.read("python/pkg-1.0.dist-info/RECORD")


@pytest.mark.skipif(sys.version_info[:2] != (3, 12), reason="bytecode is compiled only by Lambda's 3.12")
def test_bytecode_is_compiled_for_lambda_and_reproducible(tmp_path):
    # Given the same sources in two places, with other file times and a stale cache
    builder = _builder()
    trees = [_tree(tmp_path / name, "/x/python", mtime) for name, mtime in (("a", 1), ("b", 1_700_000_000))]
    for tree in trees:
        (tree / "python/pkg/consts.py").write_text("NAMES = frozenset({'a', 'b', 'c', 'd'})\n")
    # When each is compiled and zipped
    for tree in trees:
        assert builder.compile_bytecode(tree, "/opt")
        entries = [(f.relative_to(tree).as_posix(), f) for f in builder._files(tree, bytecode=True)]
        builder.deterministic_zip(entries, tree.with_suffix(".zip"))
    # Then both hold fresh 3.12 bytecode for every module (not the stale file), byte for byte the same
    assert trees[0].with_suffix(".zip").read_bytes() == trees[1].with_suffix(".zip").read_bytes()
    with zipfile.ZipFile(trees[0].with_suffix(".zip")) as archive:
        compiled = archive.read("python/pkg/__pycache__/__init__.cpython-312.pyc")
        assert compiled.startswith(importlib.util.MAGIC_NUMBER)
        assert int.from_bytes(compiled[4:8], "little") == 0b01  # hash-based, unchecked: no timestamps
        assert "python/pkg/__pycache__/consts.cpython-312.pyc" in archive.namelist()
        assert b"/opt/python/pkg/__init__.py" in compiled  # where Lambda finds the layer


def test_lock_pins_every_distribution_exactly():
    lines = [
        line
        for line in (ROOT / "infra" / "lambda-requirements.lock").read_text().splitlines()
        if not line.startswith("#")
    ]
    assert lines
    assert all("==" in line for line in lines)
    names = {line.split("==")[0] for line in lines}
    assert {"aws_lambda_powertools", "pynamodb", "boto3", "botocore", "pydantic"} <= names


def test_the_layer_keeps_botocore_models_of_the_services_called_and_its_own_files(tmp_path):
    # Given botocore's data as pip installs it: its own files and a model folder per service
    builder = _builder()
    data = tmp_path / "python" / "botocore" / "data"
    for name in ("endpoints.json", "partitions.json", "dynamodb/2012-08-10/service-2.json.gz", "ec2/x.json"):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_text("{}")
    # When the layer is pruned
    builder.prune_botocore(tmp_path / "python")
    # Then the services the handlers call and botocore's own files stay, the others go
    assert sorted(p.name for p in data.iterdir()) == ["dynamodb", "endpoints.json", "partitions.json"]
    assert "dynamodb" in builder.LAYER_SERVICES
