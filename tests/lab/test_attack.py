"""[attack] in the lab: spoofed SYNs from the attacker namespace (kernel-model §2, §3, §7).

The packet tests run anywhere; the lab runs need root (CI is root). Each lab run is shortened
with --set duration=3s: the flood starts at 1 s, fills the SYN queue (129 requests for backlog
128) and the requests' first SYN-ACK retransmission (at +1 s, §3.5) falls inside the run.
"""

import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tcpq.lab import attacker
from tcpq.lab.attack import attack_config, attack_times
from tcpq.run.arrivals import arrival_times
from tcpq.scenario import load_scenario
from tcpq.sim.runner import simulate

from .helpers import EXAMPLES, lab_json

root = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (CI runs as root)")


def test_syns_are_valid_ipv4_tcp_with_checksums() -> None:
    dst = int.from_bytes(socket.inet_aton("198.18.0.1"), "big")
    first = attacker.SOURCES - 50  # across the wrap to the next source port
    data = attacker.build(first, 100, dst, 443, seed=7)
    assert len(data) == 100 * attacker.PACKET_LEN
    tuples = set()
    for k in range(100):
        packet = data[k * attacker.PACKET_LEN : (k + 1) * attacker.PACKET_LEN]
        ip, tcp = packet[:20], packet[20:]
        assert attacker.checksum(ip) == 0
        assert ip[0] == 0x45 and ip[9] == socket.IPPROTO_TCP and struct.unpack(">H", ip[2:4])[0] == 44
        pseudo = ip[12:20] + struct.pack(">BBH", 0, socket.IPPROTO_TCP, len(tcp))
        assert attacker.checksum(pseudo + tcp) == 0
        source = socket.inet_ntoa(ip[12:16])
        assert source.startswith("127.1.") and not source.endswith((".0", ".255"))
        assert ip[16:20] == socket.inet_aton("198.18.0.1")
        sport, dport = struct.unpack(">HH", tcp[:4])
        assert dport == 443 and tcp[13] == 0x02  # SYN only
        assert tcp[20:24] == struct.pack(">BBH", 2, 4, attacker.MSS)
        tuples.add((source, sport))
    assert len(tuples) == 100  # every SYN is a new request


def test_attack_times_are_the_simulators() -> None:
    scenario = load_scenario(EXAMPLES / "synflood-cookies-1.toml")
    rng = np.random.default_rng(scenario.seed)
    for group in scenario.clients:
        arrival_times(group, scenario.duration, rng)  # clients first, as sim/runner.py draws
    times = attack_times(scenario, rng)
    assert len(times) == simulate(scenario).attack_syns == 8000
    config = attack_config(scenario, times, "198.18.0.1")
    assert config.times_s[0] == 1.0 and config.until_s == 5.0 and config.port == 443


def lab_programs(owner: int) -> list[int]:
    """Running tcpq.lab.* programs (server, clients, attacker, link) whose parent is `owner`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                status = (entry / "status").read_text()
            except OSError:
                continue  # gone meanwhile
            parent = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))
            if b"tcpq.lab." in cmdline and parent == owner and "State:\tZ" not in status:
                found.append(int(entry.name))
    return found


def leftovers(owner: int, programs: list[int] | None = None) -> tuple[list[str], list[int]]:
    """Namespaces named for `owner`, and lab programs of it (or those given) still running."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    namespaces = [line.split()[0] for line in listing.splitlines() if line.startswith(f"tcpq-{owner}-")]
    alive = [pid for pid in programs or [] if Path(f"/proc/{pid}").exists()]
    return namespaces, sorted(set(lab_programs(owner)) | set(alive))


@root
def test_synflood_cookies_1_legit_clients_connect_through_cookies() -> None:
    data = lab_json("synflood-cookies-1.toml", "duration=3s")
    counters = data["counters"]
    assert data["attack_syns"] == 4000
    # backlog 128 + 1 spoofed requests, half-open; proven by TCPReqQFullDoCookies (a sample that
    # also catches a cookie client's child in its instant of SYN_RECV is capped at the limit).
    assert data["listener"]["syn_queue_peak"] == 129 and data["listener"]["syn_queue_peak_exact"]
    assert counters["TcpExtSyncookiesSent"] > 3000 and counters["TcpExtTCPReqQFullDoCookies"] > 3000
    assert counters["TcpExtTCPSynRetrans"] == 129  # their SYN-ACKs "sent" at +1 s, never answered
    assert counters.get("TcpExtTCPReqQFullDrop", 0) == 0
    clients = data["clients"]
    assert clients["connected"] >= clients["attempted"] - 2 and clients["cookie_connections"] > 0
    assert counters["TcpExtSyncookiesRecv"] == clients["cookie_connections"]
    assert leftovers(os.getpid()) == ([], [])


@root
def test_synflood_cookies_0_legit_syns_dropped() -> None:
    data = lab_json("synflood-cookies-0.toml", "duration=3s")
    counters = data["counters"]
    assert data["attack_syns"] == 4000 and data["listener"]["syn_queue_peak"] == 129
    assert data["listener"]["syn_queue_peak_exact"]  # TCPReqQFullDrop moved: the queue was full
    assert counters["TcpExtTCPReqQFullDrop"] > 3000
    assert counters.get("TcpExtSyncookiesSent", 0) == 0
    # Legit SYNs after 1 s are dropped and retried until the run ends: only the early ones connect.
    model = simulate(load_scenario(EXAMPLES / "synflood-cookies-0.toml", ["duration=3s"])).clients
    assert abs(data["clients"]["connected"] - model.connected) <= 2 and model.connected < 60
    assert abs(data["clients"]["pending"] - model.pending) <= 2 and model.pending > 90
    assert leftovers(os.getpid()) == ([], [])


@root
def test_interrupted_flood_leaves_nothing() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tcpq", "lab", str(EXAMPLES / "synflood-cookies-1.toml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 15
    while (
        time.monotonic() < deadline
        and f"tcpq-{proc.pid}-atk".encode()
        not in subprocess.run(["ip", "netns", "list"], capture_output=True, check=True).stdout
    ):
        time.sleep(0.1)
    time.sleep(1.5)  # the flood is on
    programs = lab_programs(proc.pid)
    assert len(programs) >= 3  # server, clients, attacker (and the link's relay)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.stderr is not None
    proc.stderr.close()
    assert leftovers(proc.pid, programs) == ([], [])
