"""Run a few shell commands side by side and report each as a whole: `make test` uses both cores.

    python scripts/lanes.py NAME='command' [NAME='command' ...]

Each lane's output goes to build/lanes/NAME.log while it runs (interleaved output would be unreadable) and
is printed in full when the lane ends, with its duration. The exit status is the first failing lane's, or
0 when every lane passed. A lane that fails does not stop the others: CI shows every failure at once.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

LOG_DIR = Path("build/lanes")


@dataclass
class Lane:
    name: str
    command: str
    process: subprocess.Popen[bytes]
    log: Path
    started: float


def start(spec: str) -> Lane:
    name, separator, command = spec.partition("=")
    if not separator or not name or not command:
        raise SystemExit(f"lanes: expected NAME=COMMAND, got {spec!r}")
    log = LOG_DIR / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(  # noqa: S602 - the commands are the Makefile's own
            command, shell=True, stdout=sink, stderr=subprocess.STDOUT
        )
    print(f"lanes: {name} started: {command}", flush=True)
    return Lane(name, command, process, log, time.monotonic())


def main(specs: list[str]) -> int:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    running = [start(spec) for spec in specs]
    status = 0
    while running:
        time.sleep(0.5)
        for lane in [lane for lane in running if lane.process.poll() is not None]:
            running.remove(lane)
            code = lane.process.returncode
            elapsed = time.monotonic() - lane.started
            verdict = "passed" if code == 0 else f"FAILED (exit {code})"
            sys.stdout.write(f"\n===== lane {lane.name}: {verdict} in {elapsed:.0f} s =====\n")
            sys.stdout.write(lane.log.read_text(errors="replace"))
            sys.stdout.write(f"===== end of lane {lane.name} =====\n")
            sys.stdout.flush()
            if code != 0 and status == 0:
                status = code
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
