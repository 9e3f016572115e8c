"""Running `tcpq simulate --json` in-process for tests."""

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from tcpq.cli import main


def simulate_json(path: Path, *overrides: str) -> dict[str, Any]:
    """`tcpq simulate PATH --json [--set KEY=VALUE ...]`; asserts exit status 0."""
    args = ["simulate", str(path), "--json"]
    for override in overrides:
        args += ["--set", override]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data
