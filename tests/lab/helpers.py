"""Shared by the lab tests: running `tcpq lab --json`, finding processes by command line."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from tcpq.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


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
