"""The Docker-free asset builder: same inputs, byte-identical layer zip (so CDK asset hashes are stable)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import botocore
import botocore.serialize
import botocore.session
import botocore.validate
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
    # Given botocore's data as pip installs it: its own files and a model folder per service, compressed
    builder = _builder()
    data = tmp_path / "python" / "botocore" / "data"
    shapes = {
        "Doc": {"type": "structure", "members": {"documentation": {"shape": "S"}}, "documentation": "x"}
    }
    model = {"metadata": {"endpointPrefix": "dynamodb"}, "documentation": "prose", "shapes": shapes}
    files = {
        "endpoints.json": json.dumps(
            {"partitions": [{"partition": "aws", "services": {"dynamodb": {"x": 1}, "ec2": {"y": 2}}}]}
        ).encode(),
        "partitions.json": b"{}",
        "dynamodb/2012-08-10/service-2.json.gz": gzip.compress(json.dumps(model).encode()),
        "ec2/x.json": b"{}",
    }
    for name, content in files.items():
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_bytes(content)
    # When the layer is pruned
    builder.prune_botocore(tmp_path / "python")
    # Then the services the handlers call and botocore's own files stay, the others go
    assert sorted(p.name for p in data.iterdir()) == ["dynamodb", "endpoints.json", "partitions.json"]
    assert "dynamodb" in builder.LAYER_SERVICES
    # and a kept model is stored uncompressed, without its prose (a member named `documentation` stays),
    # and endpoints.json names the kept services only
    assert [p.name for p in (data / "dynamodb" / "2012-08-10").iterdir()] == ["service-2.json"]
    assert json.loads((data / "dynamodb" / "2012-08-10" / "service-2.json").read_text()) == {
        "metadata": {"endpointPrefix": "dynamodb"},
        "shapes": {"Doc": {"type": "structure", "members": {"documentation": {"shape": "S"}}}},
    }
    endpoints = json.loads((data / "endpoints.json").read_text())
    assert endpoints == {"partitions": [{"partition": "aws", "services": {"dynamodb": {"x": 1}}}]}


def test_a_pruned_botocore_still_builds_every_client_the_layer_keeps(tmp_path, monkeypatch):
    # Given a copy of the installed botocore's data, pruned as the layer is (and AWS's own endpoints)
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    builder = _builder()
    source = Path(botocore.__file__).parent / "data"
    data = tmp_path / "python" / "botocore" / "data"
    data.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.is_file():
            shutil.copyfile(entry, data / entry.name)
        elif entry.name in builder.LAYER_SERVICES:
            shutil.copytree(entry, data / entry.name)
    builder.prune_botocore(tmp_path / "python")
    assert not list(data.rglob("*.json.gz"))
    # When a session reads its data from that copy first
    session = botocore.session.Session()
    session.set_config_variable("data_path", str(data))
    loader = session.get_component("data_loader")
    # Then every kept service's client resolves its endpoint, in every commercial region it is offered in
    for service in builder.LAYER_SERVICES:
        assert session.get_service_model(service).client_context_parameters is not None
        regions = session.get_available_regions(service)
        assert regions, service
        for region in ("us-east-1", "eu-west-1", regions[-1]):
            client = session.create_client(
                service, region_name=region, aws_access_key_id="k", aws_secret_access_key="s"
            )
            assert client.meta.endpoint_url.startswith("https://"), (service, region)
    # and a request still validates and serializes from the undocumented models
    calls = {
        "dynamodb": ("PutItem", {"TableName": "t", "Item": {"pk": {"S": "a"}}}),
        "sesv2": ("SendEmail", {"Content": {"Raw": {"Data": b"x"}}, "TenantName": "litemx-a"}),
    }
    for service, (operation, params) in calls.items():
        model = session.get_service_model(service).operation_model(operation)
        assert model.input_shape is not None
        botocore.validate.validate_parameters(params, model.input_shape)
        serializer = botocore.serialize.create_serializer(model.metadata["protocol"])
        assert serializer.serialize_to_request(params, model)["body"], service
    # and from the pruned files, not the installed ones
    assert loader.load_data_with_path("endpoints")[1].startswith(str(data))
