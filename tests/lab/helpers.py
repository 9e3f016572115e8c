"""Shared by the lab tests: running `tcpq lab --json`, finding processes by command line, and
the leak checks, which count only what this test run made: other tcpq runs (another engineer's
lab, another test session) may have namespaces and lab programs on the same host meanwhile."""

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from tcpq.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Every process this test run starts inherits the variable (`ip netns exec` and the lab pass
# the environment on), so its lab programs are ours even after their parent is gone; another
# tcpq's are not. Set, not defaulted: a test session started by another one has its own tag.
OWNER_VARIABLE = "TCPQ_TEST_OWNER"
OWNER_TAG = str(os.getpid())
os.environ[OWNER_VARIABLE] = OWNER_TAG


def lab_json(name: str, *overrides: str) -> dict[str, Any]:
    """`tcpq lab examples/NAME --json [--set ...]`; asserts success and the lab's source tag."""
    args = ["lab", str(EXAMPLES / name), "--json"]
    for override in overrides:
        args += ["--set", override]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    assert data["source"] == "lab"
    return data


def processes(match: Callable[[bytes], bool]) -> list[int]:
    """Pids of running processes whose command line (NUL-separated bytes) `match` accepts."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue  # gone meanwhile, or not ours to read
            if match(cmdline):
                found.append(int(entry.name))
    return found


def own_namespaces(owner: int) -> list[str]:
    """The lab namespaces of the tcpq process `owner` (`tcpq-<owner>-srv`, `-cli`, `-atk`)."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in listing.splitlines() if line.startswith(f"tcpq-{owner}-")]


def own_processes(match: Callable[[bytes], bool]) -> list[int]:
    """Like `processes()`, only those this test run started, directly or not (root reads
    every process's environment; a process gone meanwhile is no leak)."""
    tag = f"{OWNER_VARIABLE}={OWNER_TAG}".encode()
    own = []
    for pid in processes(match):
        try:
            environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if tag in environment:
            own.append(pid)
    return own
