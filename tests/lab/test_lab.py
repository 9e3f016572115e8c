"""`tcpq lab` and `tcpq compare` on the real kernel (root; CI is root).

Every run happens in namespaces tcpq creates and removes; these tests check the recorded
numbers of kernel-model §16, the agreement with the model, cleanup on signals, and that the
host's own namespace is left exactly as it was.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpq.cli import main

from .helpers import EXAMPLES, lab_json, own_namespaces, own_processes

LAB_MODULES = (b"tcpq.lab.server", b"tcpq.lab.clients", b"tcpq.lab.link", b"tcpq.lab.attacker")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (CI runs as root)")


def lab_namespaces(owner: int) -> list[str]:
    """The namespaces of the lab run by `owner` (this test, or a tcpq it started): another
    tcpq on this host is not a leak of ours."""
    return own_namespaces(owner)


def lab_processes() -> list[int]:
    return own_processes(lambda cmdline: any(module in cmdline for module in LAB_MODULES))


def test_e1_accept_queue_capacity() -> None:
    data = lab_json("backlog-nobody-accepts.toml")
    assert data["clients"]["connected"] == 5 and data["clients"]["pending"] == 4
    assert data["listener"]["accept_queue_limit"] == 4 and data["listener"]["accept_queue_peak"] == 5
    assert data["listener"]["accept_queue_peak_exact"]  # ListenOverflows moved: it was full
    assert data["counters"]["TcpExtListenOverflows"] == 16 == data["counters"]["TcpExtListenDrops"]
    assert data["client_counters"]["TcpExtTCPSynRetrans"] == 12


def test_e2_final_ack_overflow_abort_0_and_1() -> None:
    data = lab_json("e2-final-ack-overflow.toml")
    assert data["counters"]["TcpExtListenOverflows"] == 6
    assert data["counters"]["TcpExtTCPTimeouts"] == 7 and data["counters"]["TcpExtTCPSynRetrans"] == 7
    data = lab_json("e2-final-ack-overflow.toml", "kernel.sysctl.net.ipv4.tcp_abort_on_overflow=1")
    assert data["counters"]["TcpExtEmbryonicRsts"] == 2 and data["counters"]["TcpOutRsts"] == 2
    assert data["client_counters"]["TcpEstabResets"] == 2 and data["clients"]["reset"] == 2
    # The lab's report says what it ran with, as simulate's does.
    assert data["overrides"] == ["kernel.sysctl.net.ipv4.tcp_abort_on_overflow=1"]
    assert "net.ipv4.tcp_abort_on_overflow" in data["sysctl_differs"] and data["seed"] is not None


def test_e4_syn_queue_and_cookies() -> None:
    data = lab_json("e4-syn-queue-cookies.toml")
    counters = data["counters"]
    assert counters["TcpExtTCPReqQFullDoCookies"] == 5 and counters["TcpExtSyncookiesSent"] == 5
    assert counters["TcpExtSyncookiesRecv"] == 5 and counters["TcpExtListenOverflows"] == 5
    assert data["listener"]["syn_queue_peak"] == 5


def test_e5_timewait_buckets() -> None:
    data = lab_json("e5-timewait-buckets.toml")
    client = data["client_counters"]
    assert client["TcpExtTCPTimeWaitOverflow"] == 3 and client["TcpOutRsts"] == 3 and client["TcpExtTW"] == 3


@pytest.mark.parametrize(
    "name",
    [
        "backlog-nobody-accepts.toml",
        "e2-final-ack-overflow.toml",
        "e4-syn-queue-cookies.toml",
        "e5-timewait-buckets.toml",
    ],
)
def test_compare_agrees(name: str) -> None:
    result = CliRunner().invoke(main, ["compare", str(EXAMPLES / name), "--json"])
    data = json.loads(result.stdout)
    differing = [row for row in data["comparison"]["rows"] if not row["ok"]]
    assert result.exit_code == 0 and data["agrees"], differing


def host_state() -> dict[str, str]:
    """What a lab run must never change in the host namespace."""

    def run(*cmd: str) -> str:
        return subprocess.run(list(cmd), capture_output=True, text=True, check=False).stdout

    sysctls = {
        str(path): path.read_text()
        for base in (Path("/proc/sys/net/ipv4"), Path("/proc/sys/net/core"))
        for path in sorted(base.glob("*"))
        if path.is_file() and os.access(path, os.R_OK) and "stat" not in path.name
    }
    return {
        "sysctl": json.dumps(sysctls, sort_keys=True),
        "routes": run("ip", "route", "show", "table", "all"),
        "routes6": run("ip", "-6", "route", "show", "table", "all"),
        "links": run("ip", "-o", "link", "show"),
        "addresses": run("ip", "-o", "addr", "show"),
        "nft": run("nft", "list", "ruleset"),
    }


def test_host_namespace_untouched() -> None:
    before = host_state()
    lab_json("e2-final-ack-overflow.toml", "duration=1.5s", "kernel.sysctl.net.core.somaxconn=64")
    after = host_state()
    for key in before:
        assert before[key] == after[key], key
    assert lab_namespaces(os.getpid()) == [] and lab_processes() == []


def start_lab() -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tcpq", "lab", str(EXAMPLES / "e2-final-ack-overflow.toml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not (lab_namespaces(proc.pid) and lab_processes()):
        time.sleep(0.1)
    assert lab_namespaces(proc.pid), "the lab did not start"
    time.sleep(0.5)
    return proc


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_lab_cleans_up(signum: int) -> None:
    proc = start_lab()
    proc.send_signal(signum)
    proc.wait(timeout=30)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    proc.stderr.close()
    # What a shell reports for a program that signal stopped: 128 + its number, one line.
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert lab_namespaces(proc.pid) == []
    assert lab_processes() == []


def test_killed_lab_children_die_and_clean_removes_namespaces() -> None:
    proc = start_lab()
    proc.kill()
    proc.wait(timeout=10)
    assert proc.stderr is not None
    proc.stderr.close()
    deadline = time.monotonic() + 5
    while lab_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lab_processes() == []  # parent-death signal
    result = CliRunner().invoke(main, ["lab", "clean"])
    assert result.exit_code == 0 and "removed" in result.stdout
    assert lab_namespaces(proc.pid) == []
