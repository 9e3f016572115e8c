"""`tcpq lab verify` passes on this kernel (root; CI is root)."""

import json
import os

import pytest
from click.testing import CliRunner

from tcpq.app.verify import CHECKS, ScenarioCheck
from tcpq.cli import main


@pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (CI runs as root)")
def test_verify_passes_on_this_kernel() -> None:
    result = CliRunner().invoke(main, ["lab", "verify", "--json"])
    checks = json.loads(result.stdout)["checks"]
    failed = [check for check in checks if check["verdict"] == "fail"]
    assert result.exit_code == 0 and not failed, failed
    assert {check["id"] for check in checks} == {check.id for check in CHECKS}
    assert all(set(check) >= {"id", "claim", "kernel", "model", "verdict"} for check in checks)
    skipped = {check["id"] for check in checks if check["verdict"] == "skipped"}
    assert skipped == {check.id for check in CHECKS if isinstance(check, ScenarioCheck) and check.long}
