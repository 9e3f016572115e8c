"""The host commands end to end: JSON contract, exit codes, errors; in a namespace, vs ss/nstat."""

import json
from collections import Counter
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from tcpq.cli import main

from .nslab import Namespace, clients, listener, namespace, settle


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_status_json_contract() -> None:
    code, out, _ = invoke("status", "--json", "--interval", "0.1")
    assert code == 0
    data = json.loads(out)
    assert {"source", "netns", "kernel_release", "sysctl", "counters", "rates", "states", "listeners"} <= set(
        data
    )
    assert data["source"] == "host"
    assert data["rates"]["interval_s"] > 0
    for listener_data in data["listeners"]:
        assert {
            "netns",
            "address",
            "port",
            "accept_queue",
            "accept_queue_limit",
            "syn_recv",
            "drops",
            "drops_per_s",
            "processes",
            "reuseport_group",
            "clamped_by_somaxconn",
        } <= set(listener_data)


def test_other_commands_json() -> None:
    code, out, _ = invoke("states", "--by", "process", "--json")
    assert code == 0 and json.loads(out)["by"] == "process"
    code, out, _ = invoke("counters", "--interval", "0.1", "--json")
    data = json.loads(out)
    assert code == 0 and "TcpExtListenOverflows" in data["counters"] and data["deltas"] is not None
    code, out, _ = invoke("sysctl", "--json")
    rows = {row["name"]: row for row in json.loads(out)["sysctls"]}
    assert rows["net.core.somaxconn"]["default"] == 4096
    assert rows["net.ipv4.tcp_tw_recycle"]["value"] is None  # gone since 4.12; the seeds still name it


def test_doctor_exit_status_and_snippet(tmp_path: Path) -> None:
    snippet = tmp_path / "90-tcpq.conf"
    code, out, _ = invoke("doctor", "--interval", "0.1", "--json", "--sysctl-file", str(snippet))
    findings = json.loads(out)["findings"]
    bad = [f for f in findings if f["severity"] in ("warning", "critical")]
    assert code == (1 if bad else 0)
    assert snippet.read_text().startswith("# Suggested by `tcpq doctor`")


def test_errors_are_one_line() -> None:
    code, _, err = invoke("status", "--netns", "no-such-namespace-xyz")
    assert code == 2 and err.count("\n") == 1 and err.startswith("tcpq: error: ")
    code, _, err = invoke("doctor", "--interval", "-1")
    assert code == 2 and err.startswith("tcpq: error: --interval")


def nstat(ns: Namespace) -> dict[str, int]:
    lines = ns.sh("nstat", "-az").stdout.splitlines()[1:]
    return {line.split()[0]: int(line.split()[1]) for line in lines}


def test_snapshot_agrees_with_ss_and_nstat() -> None:
    """In a namespace: listener queues and state counts as `ss` shows them, counters as nstat."""
    with namespace() as ns:
        listener(ns, 7101, 4, "never")
        clients(ns, 7101, count=9, gap=0.0, lifetime=10)
        settle(0.5)
        nstat_before = nstat(ns)
        code, out, err = invoke("status", "--netns", ns.name, "--json", "--interval", "0")
        nstat_after = nstat(ns)
        assert code == 0, err
        data: dict[str, Any] = json.loads(out)
        ss_listen = ns.sh("ss", "-Hltn", "sport", "= :7101").stdout.split()
        (mine,) = [lst for lst in data["listeners"] if lst["port"] == 7101]
        assert (
            (mine["accept_queue"], mine["accept_queue_limit"])
            == (int(ss_listen[1]), int(ss_listen[2]))
            == (5, 4)
        )
        ss_states = Counter(line.split()[0] for line in ns.sh("ss", "-Htan").stdout.splitlines())
        names = {"ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT", "LISTEN": "LISTEN", "SYN-RECV": "SYN_RECV"}
        assert {names[k]: v for k, v in ss_states.items()} == data["states"]
        for name in ("TcpPassiveOpens", "TcpActiveOpens", "TcpExtListenOverflows", "TcpExtTCPSynRetrans"):
            # Blocked clients retransmit meanwhile: tcpq's reading lies between two nstat readings.
            assert nstat_before[name] <= data["counters"][name] <= nstat_after[name]
        assert data["counters"]["TcpPassiveOpens"] == 5
