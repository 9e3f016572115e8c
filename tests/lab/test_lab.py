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
    # The 4 left out retransmit at 1, 2, 3 s; the next one (4 s) falls after the run, so the
    # per-interval client series adds up to the counter exactly. Nobody was refused or reset.
    series = data["timeseries"]
    assert sum(series["client_syn_retrans"]) == 12 and max(series["client_syn_retrans"]) == 4
    assert series["handshakes"][-1] == 5 and series["refused"][-1] == series["timed_out"][-1] == 0


def test_client_outcomes_and_retransmissions_over_time() -> None:
    """backlog-nobody-accepts with a 1.5 s connect timeout: the 4 clients left out retransmit
    their SYN once (1 s) and time out at 1.5 s. The lab's series end at its outcome counts, and
    its client SYN retransmissions per interval add up to client_counters exactly: after 1.5 s no
    socket is in SYN_SENT, so nothing retransmits between the last sample and the runner's read."""
    data = lab_json("backlog-nobody-accepts.toml", "clients.connect_timeout=1.5s")
    clients, series = data["clients"], data["timeseries"]
    assert clients["connected"] == 5 and clients["timed_out"] == 4 and clients["pending"] == 0
    assert series["timed_out"][-1] == 4 and series["handshakes"][-1] == 5
    assert series["refused"][-1] == series["reset"][-1] == 0
    timed_out = dict(zip(series["t_s"], series["timed_out"], strict=True))
    # 0 until the connect timeout, 4 from the first sample after it (a start a few ms late at most)
    first = min(t for t, count in timed_out.items() if count)
    assert 1.5 < first <= 1.7 and timed_out[first] == 4
    assert series["timed_out"] == sorted(series["timed_out"])
    retrans = {t: n for t, n in zip(series["t_s"], series["client_syn_retrans"], strict=True) if n}
    # the four retransmissions go out together about 1 s after the SYNs: one interval (1.0 or 1.1)
    assert list(retrans.values()) == [4] and next(iter(retrans)) in (1.0, 1.1)
    assert sum(series["client_syn_retrans"]) == data["client_counters"]["TcpExtTCPSynRetrans"] == 4


def test_e2_final_ack_overflow_abort_0_and_1() -> None:
    data = lab_json("e2-final-ack-overflow.toml")
    assert data["counters"]["TcpExtListenOverflows"] == 6
    assert data["counters"]["TcpExtTCPTimeouts"] == 7 and data["counters"]["TcpExtTCPSynRetrans"] == 7
    data = lab_json("e2-final-ack-overflow.toml", "kernel.sysctl.net.ipv4.tcp_abort_on_overflow=1")
    assert data["counters"]["TcpExtEmbryonicRsts"] == 2 and data["counters"]["TcpOutRsts"] == 2
    assert data["client_counters"]["TcpEstabResets"] == 2 and data["clients"]["reset"] == 2
    assert data["timeseries"]["reset"][-1] == 2  # the resets came long before the last sample
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
