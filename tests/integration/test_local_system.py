"""`litemx local up` as an operator runs it: a separate process, real ports, Ctrl-C, nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

from litemx_cli.target import Target
from litemx_local.aws import free_port
from litemx_local.world import build_world

pytestmark = pytest.mark.integration


def _processes_mentioning(*needles: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(needle in text for needle in needles):
            found.append(text)
    return found


def test_local_up_serves_a_send_end_to_end_and_stops_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given `litemx local up` started as its own process
    api_port, smtp_port = free_port(), free_port()
    env = {**os.environ, "LITEMX_HOME": str(tmp_path)}
    for name in [k for k in env if k.startswith(("AWS_ENDPOINT_URL", "TABLE_"))]:
        env.pop(name)
    litemx = Path(sys.executable).with_name("litemx")
    process = subprocess.Popen(
        [str(litemx), "local", "up", "--api-port", str(api_port), "--smtp-port", str(smtp_port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    state = tmp_path / "local.json"
    try:
        deadline = time.monotonic() + 60
        while not state.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert state.exists(), process.stdout.read() if process.stdout else ""
        target = Target.from_json(state.read_text())
        assert target.api_url == f"http://127.0.0.1:{api_port}"

        # When an operator sets up a mailbox on it and a client sends through its HTTP port
        for key, value in target.env.items():
            monkeypatch.setenv(key, value)
        target.activate()
        boto3.client("ses").verify_domain_identity(Domain="example.com")
        world = build_world(target.tables)
        token = world.secrets["box0@example.com"]
        request = urllib.request.Request(
            f"{target.api_url}/v1/messages",
            method="POST",
            data=json.dumps(
                {"from": "box0@example.com", "to": ["alice@outside.test"], "text": "hi"}
            ).encode(),
            headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202
            message_id = json.load(response)["id"]

        # Then the system's own sender delivers it
        status = ""
        deadline = time.monotonic() + 30
        while status != "sent" and time.monotonic() < deadline:
            time.sleep(0.3)
            check = urllib.request.Request(
                f"{target.api_url}/v1/messages/{message_id}", headers={"Authorization": f"Bearer {token}"}
            )
            with urllib.request.urlopen(check, timeout=30) as response:
                status = json.load(response)["status"]
        assert status == "sent"
        dynamodb_port = target.env["AWS_ENDPOINT_URL_DYNAMODB"].rpartition(":")[2]
        moto_port = target.env["AWS_ENDPOINT_URL"].rpartition(":")[2]
    finally:
        # When the operator presses Ctrl-C
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)

    # Then it exits cleanly, forgets its state, and leaves no server behind
    assert process.returncode == 0, output
    assert "API" in output
    assert f"127.0.0.1:{smtp_port}" in output
    assert not state.exists()
    assert _processes_mentioning(f"-port {dynamodb_port}", f"-p {moto_port}") == []
