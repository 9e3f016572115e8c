"""The command line: exit codes, JSON shape (the contract), rendering and --out."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpq.cli import main

E1 = Path(__file__).parent / "sim" / "scenarios" / "e1_backlog.toml"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_json_contract_keys() -> None:
    code, output = run("simulate", str(E1), "--json")
    assert code == 0
    data = json.loads(output)
    assert {
        "source",
        "scenario",
        "kernel",
        "listener",
        "clients",
        "counters",
        "client_counters",
        "timeseries",
    } <= set(data)
    assert set(data["kernel"]) >= {"version", "sysctl"}
    assert data["kernel"]["sysctl"]["net.core.somaxconn"] == 4096
    assert set(data["listener"]) >= {
        "port",
        "backlog",
        "accept_queue_limit",
        "accept_queue_peak",
        "syn_queue_peak",
    }
    assert set(data["clients"]) >= {
        "attempted",
        "connected",
        "refused",
        "reset",
        "timed_out",
        "pending",
        "connect_time_s",
    }
    assert set(data["clients"]["connect_time_s"]) == {"p50", "p90", "p99", "max"}
    assert set(data["timeseries"]) >= {"t_s", "accept_queue", "syn_queue"}
    series = data["timeseries"]
    assert len(series["t_s"]) == len(series["accept_queue"]) == len(series["syn_queue"]) > 0
    for name in (
        "TcpExtListenOverflows",
        "TcpExtTCPReqQFullDoCookies",
        "TcpExtSyncookiesFailed",
        "TcpExtTWRecycled",
        "TcpActiveOpens",
        "TcpOutRsts",
        "TcpRetransSegs",
        "TcpExtEmbryonicRsts",
    ):
        assert name in data["counters"] and name in data["client_counters"]


def test_terminal_report_shows_netstat_wording() -> None:
    code, output = run("simulate", str(E1))
    assert code == 0
    assert "16 times the listen queue of a socket overflowed" in output
    assert "16 SYNs to LISTEN sockets dropped" in output
    assert "pending at the end" in output


def test_seed_and_out(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    code, _ = run("simulate", str(E1), "--seed", "3", "--out", str(out))
    assert code == 0
    assert json.loads(out.read_text())["listener"]["accept_queue_peak"] == 5


def test_unwritable_out_is_one_line_error(tmp_path: Path) -> None:
    code, output = run("simulate", str(E1), "--out", str(tmp_path / "missing" / "r.json"))
    assert code == 2 and output.startswith("tcpq: error: cannot write")


def test_missing_file() -> None:
    code, output = run("simulate", "/nonexistent/x.toml")
    assert code == 2
    assert output.strip() == "tcpq: error: /nonexistent/x.toml: cannot read: No such file or directory"


def test_explain_and_suggestions() -> None:
    code, output = run("explain", "LISTENOVERFLOWS", "--json")
    assert code == 0 and json.loads(output)["name"] == "TcpExtListenOverflows"
    code, output = run("explain", "somaxconn", "--kernel", "5.3")
    assert code == 0 and "128" in output
    code, output = run("explain", "listenoverflow")
    assert code == 2 and "did you mean" in output and "ListenOverflows" in output


def _version(env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "tcpq", "--version"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _core_imported(env: dict[str, str]) -> bool:
    code = "from tcpq.simcore import compiled; print(compiled())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    return done.stdout.strip() == "True"


def test_version_names_the_simulator_core_that_a_simulation_imports() -> None:
    """`--version` judges from the files (the host commands never import the simulator);
    a simulation imports the core: the two must agree, with and without TCPQ_PURE."""
    plain = {key: value for key, value in os.environ.items() if key != "TCPQ_PURE"}
    for env in (plain, plain | {"TCPQ_PURE": "1"}):
        first, core = _version(env)
        assert first.startswith("tcpq, version ")
        assert core.startswith("simulator core: ")
        assert core.endswith("compiled (mypyc)") == _core_imported(env)
    assert _version(plain | {"TCPQ_PURE": "1"})[1] == "simulator core: pure Python (TCPQ_PURE=1)"


def test_the_command_collects_cycles_less_often_from_its_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """`tcpq` (`tcpq.__main__.run`) raises the young-generation threshold before the CLI is
    imported and run, and leaves the older generations' thresholds as they were."""
    import gc

    import tcpq.cli
    from tcpq import __main__ as entry

    seen: list[tuple[int, int, int]] = []
    monkeypatch.setattr(tcpq.cli, "main", lambda: seen.append(gc.get_threshold()))
    before = gc.get_threshold()
    gc.set_threshold(700, before[1], before[2])  # Python's default, whatever ran before
    try:
        entry.run()
    finally:
        gc.set_threshold(*before)
    assert seen == [(entry.COMMAND_YOUNG_THRESHOLD, before[1], before[2])]
