"""The doctor against real software nobody here wrote: nginx under curl and ab, a SYN flood from hping3,
CLOSE_WAIT from socat children. Each test reproduces a finding the issue "doctor and the host
views must tell the truth" measured wrong, and compares the doctor's figures with `ss` and
`nstat` read around the same samples.

Root only (CI is root; it installs nginx-light, curl, hping3, socat). Everything runs inside
`tcpq-test-*` namespaces these tests create; spoofed sources are 127.0.0.0/8 and their replies
are dropped inside the namespace; every program is bounded in count and time and killed by pid.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .nslab import Namespace, clients, leftover_namespaces, listener, namespace, settle

PORT = 8080
AB_CONCURRENCY = 50
NEEDED = ("nginx", "curl", "hping3", "socat", "nstat", "ss", "nft")
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or any(shutil.which(tool) is None for tool in NEEDED),
    reason=f"needs root (namespaces) and {', '.join(NEEDED)} (CI installs them)",
)


def nginx_conf(directory: Path, listen: str) -> Path:
    conf = directory / "nginx.conf"
    conf.write_text(
        f"daemon off; master_process off; worker_processes 1; pid {directory}/nginx.pid;\n"
        f"error_log {directory}/error.log;\n"
        "events { worker_connections 4096; }\n"
        "http { access_log off;\n"
        f"  server {{ listen {listen};\n"
        '    location / { return 200 "ok\\n"; } } }\n'
    )
    return conf


@contextmanager
def nginx(ns: Namespace, listen: str) -> Iterator[subprocess.Popen[bytes]]:
    """nginx in the namespace (`ip netns exec` execs it: the pid is nginx's), killed by pid."""
    with tempfile.TemporaryDirectory(prefix="tcpq-test-nginx-") as directory:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns.name, "nginx", "-c", str(nginx_conf(Path(directory), listen))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 5
            while not (Path(directory) / "nginx.pid").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            yield proc
        finally:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def curl_clients(
    ns: Namespace, count: int, max_time: float, program: str = "curl"
) -> Iterator[subprocess.Popen[bytes]]:
    """HTTP clients: `count` parallel curl transfers at once, or `count` ab requests."""
    if program == "ab":
        concurrency = str(min(count, AB_CONCURRENCY))
        command = ["ab", "-q", "-n", str(count), "-c", concurrency, "-s", str(int(max_time)),
                   f"http://127.0.0.1:{PORT}/"]  # fmt: skip
    else:
        url = f"http://127.0.0.1:{PORT}/[1-{count}]"
        command = ["curl", "-Z", "--parallel-immediate", "--parallel-max", str(count), "-s", "-o",
                   "/dev/null", "--max-time", str(max_time), url]  # fmt: skip
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns.name, "timeout", str(max_time + 5), *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def start_doctor(ns: Namespace, interval: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tcpq", "doctor", "--netns", ns.name, "--interval", str(interval), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def doctor_findings(proc: subprocess.Popen[str]) -> dict[str, dict[str, Any]]:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 1), err
    return {finding["id"]: finding for finding in json.loads(out)["findings"]}


def nstat(ns: Namespace, *names: str) -> dict[str, int]:
    """Absolute counter values, as nstat shows them (-a: since the namespace was made)."""
    out = ns.sh("nstat", "-az", "--json", *names).stdout
    values = json.loads(out)["kernel"]
    return {name: int(values.get(name, 0)) for name in names}


def ss_queued(ns: Namespace) -> list[tuple[str, str, int, int]]:
    """(local, peer, Recv-Q, Send-Q) of established sockets, as `ss -tn` shows them."""
    rows = []
    for line in ns.sh("ss", "-Htn", "state", "established").stdout.splitlines():
        recv_q, send_q, local, peer = line.split()[:4]
        rows.append((local, peer, int(recv_q), int(send_q)))
    return rows


STALL_RUNS = 10
STRAY_ACKS = 8


def stalled_then_resumed(ns: Namespace) -> tuple[dict[str, dict[str, Any]], dict[str, int], dict[str, int]]:
    """nginx stopped while 300 curl clients connect, resumed; the doctor's interval spans the
    resume, the retry wave it triggers and the late segments after it. The late segments are
    `hping3 -A` ACKs from 127.0.0.1 for connections the listener no longer knows (what late
    ACKs of expired requests do): within two minutes of an overflow each is checked as a cookie
    and counted in SyncookiesFailed, with no cookie sent and no flood at all."""
    names = ("TcpExtListenOverflows", "TcpExtSyncookiesSent", "TcpExtSyncookiesFailed")
    with nginx(ns, f"127.0.0.1:{PORT} backlog=64") as server:
        os.kill(server.pid, signal.SIGSTOP)
        with curl_clients(ns, 300, max_time=15):
            time.sleep(2.5)
            before = nstat(ns, *names)
            doctor = start_doctor(ns, interval=3.0)
            time.sleep(0.6)  # the doctor's first sample is taken
            os.kill(server.pid, signal.SIGCONT)
            time.sleep(1.2)  # the clients' SYN retry wave of the 3 s tick has come and gone
            acks = ("-A", "-p", str(PORT), "-c", str(STRAY_ACKS), "-i", "u10000", "127.0.0.1")
            ns.sh("timeout", "5", "hping3", "-q", *acks, check=False)
            findings = doctor_findings(doctor)
            after = nstat(ns, *names)
    return findings, before, after


def test_stalled_then_resumed_nginx_is_an_overflow_never_a_flood() -> None:
    for run in range(STALL_RUNS):
        with namespace() as ns:
            findings, before, after = stalled_then_resumed(ns)
        assert "accept-queue-overflow" in findings, (run, sorted(findings))
        assert "syn-flood-suspected" not in findings, (run, findings.get("syn-flood-suspected"))
        overflow = findings["accept-queue-overflow"]["evidence"]
        # The doctor's interval lies inside the nstat readings: its delta cannot exceed theirs.
        outer = after["TcpExtListenOverflows"] - before["TcpExtListenOverflows"]
        assert 0 < overflow["ListenOverflows"] <= outer, (overflow, outer)
        assert after["TcpExtSyncookiesFailed"] - before["TcpExtSyncookiesFailed"] >= 1  # the stray ACKs


def test_hping3_flood_is_a_flood() -> None:
    with namespace() as ns:
        listener(ns, PORT, 16, "close")
        # The spoofed source is local (127.0.0.0/8): drop what the kernel sends it, as an absent
        # host would never answer; the rule lives in this namespace only.
        ns.sh("nft", "add", "table", "inet", "tcpqtest")
        ns.sh("nft", "add", "chain", "inet", "tcpqtest", "out", "{ type filter hook output priority 0; }")
        ns.sh("nft", "add", "rule", "inet", "tcpqtest", "out", "ip", "daddr", "127.0.0.77", "drop")
        before = nstat(ns, "TcpExtSyncookiesSent")
        doctor = start_doctor(ns, interval=2.0)
        time.sleep(0.5)
        syns = ("-S", "-p", str(PORT), "-a", "127.0.0.77", "-c", "3000", "-i", "u200", "127.0.0.1")
        ns.sh("timeout", "5", "hping3", "-q", *syns, check=False)
        findings = doctor_findings(doctor)
        after = nstat(ns, "TcpExtSyncookiesSent")
    flood = findings["syn-flood-suspected"]
    assert flood["severity"] == "critical"
    outer = after["TcpExtSyncookiesSent"] - before["TcpExtSyncookiesSent"]
    assert 0 < flood["evidence"]["SyncookiesSent"] <= outer
    assert flood["evidence"]["SyncookiesRecv"] == 0


def test_stuck_clients_of_a_stopped_nginx_are_blamed_on_its_accept_queue() -> None:
    """nginx (asking 511, capped at somaxconn 128) is stopped: the accept queue is full, the
    clients whose final ACK (of a cookie) it dropped hold their request in Send-Q, the children hold theirs
    in Recv-Q. Neither is "the peer or the path" nor "the application does not read"; the
    remedies are nginx's, keep the address, agree with each other, and resume the process."""
    with namespace() as ns:
        ns.sysctl("net.core.somaxconn", "128")
        with nginx(ns, f"127.0.0.1:{PORT}") as server:
            os.kill(server.pid, signal.SIGSTOP)
            with curl_clients(ns, 300, max_time=15):
                # Resumed for a moment, it empties its queue; the clients' SYN retries of the 3 s
                # tick then arrive together after it stopped again: more SYNs than the backlog
                # before any final ACK, so some get cookies, whose ACKs the full queue drops.
                time.sleep(2.5)
                os.kill(server.pid, signal.SIGCONT)
                time.sleep(0.1)
                os.kill(server.pid, signal.SIGSTOP)
                time.sleep(1.0)
                findings = doctor_findings(start_doctor(ns, interval=1.0))
                queued = ss_queued(ns)
    assert "established-slow-peer" not in findings and "established-slow-reader" not in findings
    overflow = findings["accept-queue-overflow"]
    stuck = [row for row in queued if row[1].endswith(f":{PORT}") and row[3] > 0]
    waiting = [row for row in queued if row[0].endswith(f":{PORT}") and row[2] > 0]
    assert overflow["evidence"]["local_clients_stuck"] == len(stuck) > 0
    assert overflow["evidence"]["waiting_with_data"] == len(waiting) == 129  # the full queue: 128 + 1
    assert overflow["process"]["pid"] == server.pid and overflow["process"]["stopped"]
    assert overflow["app_change"]["example"] == f"kill -CONT {server.pid}"
    assert "fast enough" not in overflow["explanation"]
    clamp = findings["backlog-clamped-by-somaxconn"]
    assert clamp["severity"] == "warning"
    assert clamp["app_change"]["runtime"] == "nginx"
    assert clamp["app_change"]["example"] == f"listen 127.0.0.1:{PORT} backlog=512;"
    assert [(c["name"], c["value"]) for c in clamp["sysctl_changes"]] == [("net.core.somaxconn", 512)]
    assert "Java" not in clamp["remedy"]


def test_close_wait_leak_of_a_fork_per_connection_socat() -> None:
    """socat forks a child per connection; each keeps its CLOSE_WAIT socket for 20 s after the
    peer closed (-t 20). One socket per process: the leak is the program's."""
    with namespace() as ns:
        server = ns.python(
            f"""
            import subprocess, sys
            print("ready", flush=True)
            subprocess.run(["timeout", "25", "socat", "-t", "20", "TCP-LISTEN:{PORT},fork,reuseaddr",
                            "SYSTEM:sleep 20"])
            """
        )
        settle(0.5)
        clients(ns, PORT, count=41, gap=0.01, close=True)
        settle(1.5)
        findings = doctor_findings(start_doctor(ns, interval=0.5))
        close_wait = ns.sh("ss", "-Htn", "state", "close-wait").stdout.splitlines()
        kill_everything_in(ns)
        assert server.wait(timeout=10) is not None
    pile = findings["close-wait-pileup"]
    assert pile["evidence"]["close_wait"] == len(close_wait) == 41
    assert pile["evidence"]["processes"] >= 41  # each child, and the process it forks for SYSTEM
    assert pile["process"]["comm"] == "socat"


def test_nginx_under_ab_is_healthy() -> None:
    """A real load generator against a healthy nginx: thousands of short connections, no
    finding of warning or worse (no false TIME_WAIT, Send-Q or flood alarm), exit 0."""
    with namespace() as ns, nginx(ns, f"127.0.0.1:{PORT} backlog=511"):
        before = nstat(ns, "TcpPassiveOpens")
        with curl_clients(ns, 60000, max_time=20, program="ab") as ab:
            doctor = start_doctor(ns, interval=1.0)
            findings = doctor_findings(doctor)
            still_loading = ab.poll() is None  # the load spans the doctor's interval
            ab.wait(timeout=30)
        after = nstat(ns, "TcpPassiveOpens")
    assert still_loading and after["TcpPassiveOpens"] - before["TcpPassiveOpens"] >= 60000
    assert doctor.returncode == 0, findings
    assert not [f for f in findings.values() if f["severity"] != "info"], findings


def kill_everything_in(ns: Namespace) -> None:
    """Every process of this namespace (socat's children outlive their parent), by pid."""
    for pid in ns.sh("ip", "netns", "pids", ns.name).stdout.split():
        with contextlib.suppress(ProcessLookupError):  # exited meanwhile
            os.kill(int(pid), signal.SIGKILL)


@pytest.mark.parametrize(("somaxconn", "backlog", "severity"), [(4096, 65535, "info"), (32, 32, "warning")])
def test_backlog_at_somaxconn(somaxconn: int, backlog: int, severity: str) -> None:
    """nginx's `listen ... backlog=65535` under somaxconn 4096 is reported (as `tcpq status`
    marks it), as info: nothing drops. `backlog=32` under 32 leaves the same trace as 511 under
    32, so the finding claims no clamp; it warns because somaxconn was lowered below the default."""
    with namespace() as ns:
        ns.sysctl("net.core.somaxconn", str(somaxconn))
        with nginx(ns, f"127.0.0.1:{PORT} backlog={backlog}"):
            process = subprocess.run(
                [sys.executable, "-m", "tcpq", "doctor", "--netns", ns.name, "--interval", "0.3", "--json"],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            ss_limit = int(ns.sh("ss", "-Hltn", f"sport = :{PORT}").stdout.split()[2])
    assert process.returncode == (0 if severity == "info" else 1), process.stderr
    finding = {f["id"]: f for f in json.loads(process.stdout)["findings"]}["backlog-clamped-by-somaxconn"]
    assert finding["severity"] == severity
    assert finding["evidence"]["accept_queue_limit"] == ss_limit == somaxconn
    assert "clamp" not in finding["title"] and "at least" in finding["explanation"]
    assert finding["app_change"]["runtime"] == "nginx"
    assert finding["app_change"]["example"].startswith(f"listen 127.0.0.1:{PORT} backlog=")
    assert all(change["value"] > somaxconn for change in finding["sysctl_changes"])


def test_nothing_left_behind() -> None:
    assert leftover_namespaces() == []
