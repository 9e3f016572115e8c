"""The lab's link: `[network] rtt` and `loss` through netem or tcpq's user-space TUN relay.

The relay's logic runs unprivileged on datagram socketpairs (they keep packet boundaries like a
TUN fd does); everything with namespaces and TUN devices needs root (CI is root).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tcpq.cli import main
from tcpq.lab import link, sandbox
from tcpq.lab.wire import RelayStats
from tcpq.observe.procfs import parse_snmp_pairs

from .helpers import processes

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (CI runs as root)")
PORT = 5001

# A listener that accepts and closes, and a client that times TCP connects (one after another,
# or all at once); both bounded in time, both print one line.
SERVER = r"""
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1024)
s.settimeout(0.2)
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    try:
        conn, _ = s.accept()
    except OSError:
        continue
    conn.close()
"""
CLIENT = r"""
import json, selectors, socket, sys, time
address, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
parallel, timeout = sys.argv[4] == "1", float(sys.argv[5])
times = []
def batch(n):
    sel = selectors.DefaultSelector()
    start = {}
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        start[s] = time.monotonic()
        s.connect_ex((address, port))
        sel.register(s, selectors.EVENT_WRITE)
    end = time.monotonic() + timeout
    while start and time.monotonic() < end:
        for key, _ in sel.select(max(0.0, end - time.monotonic())):
            s = key.fileobj
            ok = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            times.append(time.monotonic() - start.pop(s) if ok else None)
            sel.unregister(s)
            s.close()
    for s in start:
        times.append(None)
        s.close()
if parallel:
    batch(count)
else:
    for _ in range(count):
        batch(1)
print(json.dumps(times))
"""


def start_server(lab: sandbox.Lab) -> None:
    server = lab.server.spawn([sys.executable, "-c", SERVER, lab.server.address, str(PORT), "30"])
    assert server.stdout is not None and b"ready" in server.stdout.readline()


def connect_times(lab: sandbox.Lab, count: int, *, parallel: bool = False, timeout: float = 5.0) -> list[Any]:
    argv = [lab.server.address, str(PORT), str(count), "1" if parallel else "0", str(timeout)]
    result = lab.client.run(sys.executable, "-c", CLIENT, *argv)
    times: list[Any] = json.loads(result.stdout)
    return times


def counters(ns: sandbox.Namespace) -> dict[str, int]:
    return parse_snmp_pairs(ns.run("cat", "/proc/net/snmp", "/proc/net/netstat").stdout)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def relay_of(parent: int) -> Callable[[bytes], bool]:
    """Matches the command line of the link relay started by `parent`."""
    return lambda cmdline: b"tcpq.lab.link" in cmdline and f'"parent_pid": {parent}'.encode() in cmdline


def own_leftovers() -> dict[str, list[str]]:
    """What this test process's labs could leave: namespaces, TUN/veth devices, relay processes."""
    pid = os.getpid()
    namespaces = [
        line.split()[0]
        for line in subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True
        ).stdout.splitlines()
        if line.startswith(f"tcpq-{pid}-")
    ]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    devices = [name for name in (*link.tun_names(pid), *sandbox.lab_names(pid)[2:]) if f" {name}:" in links]
    relays = [str(found) for found in processes(relay_of(pid))]
    return {"namespaces": namespaces, "devices": devices, "relays": relays}


@pytest.fixture
def clean_after() -> Iterator[None]:
    yield
    assert own_leftovers() == {"namespaces": [], "devices": [], "relays": []}


# -- the relay, unprivileged ---------------------------------------------------------------------------


class Pipes:
    """Two datagram socketpairs standing in for the two TUN fds: `a`/`b` are the relay's ends."""

    def __init__(self) -> None:
        self.a, self.peer_a = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.b, self.peer_b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        for sock in (self.peer_a, self.peer_b):
            sock.settimeout(5.0)

    def relay(self, **overrides: object) -> subprocess.Popen[bytes]:
        config = {
            "fds": [self.a.fileno(), self.b.fileno()],
            "one_way_us": 20_000,
            "loss": 0.0,
            "seed": 1,
            "lifetime_s": 20,
            "parent_pid": os.getpid(),
            **overrides,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "tcpq.lab.link", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(self.a.fileno(), self.b.fileno()),
        )
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        return proc

    def close(self) -> None:
        for sock in (self.a, self.b, self.peer_a, self.peer_b):
            sock.close()


@pytest.fixture
def pipes() -> Iterator[Pipes]:
    made = Pipes()
    yield made
    made.close()


def finish(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=10)  # stdin closes: the relay prints its counters and exits
    assert proc.returncode == 0
    stats: dict[str, Any] = json.loads(out.splitlines()[-1])
    return stats


def test_relay_delays_each_direction_in_order(pipes: Pipes) -> None:
    proc = pipes.relay(one_way_us=30_000)
    sent = time.monotonic()
    for index in range(50):
        pipes.peer_a.send(b"a%03d" % index)
        pipes.peer_b.send(b"b%03d" % index)
    got_b = [pipes.peer_b.recv(100) for _ in range(50)]  # a → b
    arrived = time.monotonic()
    got_a = [pipes.peer_a.recv(100) for _ in range(50)]  # b → a
    assert got_b == [b"a%03d" % i for i in range(50)] and got_a == [b"b%03d" % i for i in range(50)]
    assert 0.029 <= arrived - sent < 0.045
    stats = finish(proc)
    assert stats["read"] == stats["forwarded"] == 100 and stats["lost"] == 0
    assert stats["late_p99_us"] < 5_000


def test_relay_loss_is_seeded_and_near_the_probability(pipes: Pipes) -> None:
    def lost_with(seed: int) -> list[int]:
        proc = pipes.relay(one_way_us=0, loss=0.3, seed=seed)
        for index in range(200):
            pipes.peer_a.send(b"%d" % index)
        time.sleep(0.3)
        stats = finish(proc)
        arrived = set()
        pipes.peer_b.setblocking(False)
        while True:
            try:
                arrived.add(int(pipes.peer_b.recv(100)))
            except BlockingIOError:
                break
        pipes.peer_b.settimeout(5.0)
        assert stats["lost"] + stats["forwarded"] == 200 == stats["read"] and stats["write_errors"] == 0
        return sorted(set(range(200)) - arrived)

    first = lost_with(7)
    assert 35 <= len(first) <= 85
    assert lost_with(7) == first and lost_with(8) != first


def test_relay_stops_by_itself(pipes: Pipes) -> None:
    proc = pipes.relay(lifetime_s=0.3)
    assert proc.wait(timeout=5) == 0  # lifetime
    proc.communicate()
    proc = pipes.relay(parent_pid=1)  # not its parent: tcpq is gone
    assert proc.wait(timeout=5) == 0
    proc.communicate()
    proc = pipes.relay()
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"stats\n")
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline())["read"] == 0  # answers while it runs
    assert finish(proc)["forwarded"] == 0  # stdin closed


def test_the_link_reads_a_live_relays_counters(pipes: Pipes) -> None:
    """LinkInfo.stats() asks the running relay and reads its RelayStats line; the note says it."""
    proc = pipes.relay(one_way_us=1000, loss=0.5, seed=3)
    for index in range(40):
        pipes.peer_a.send(b"%d" % index)
    time.sleep(0.2)
    info = link.LinkInfo(link.USER_SPACE, 2000, 0.5, relay=proc, why="asked for instead of netem")
    stats = info.stats()
    assert isinstance(stats, RelayStats)
    assert stats.read == 40 == stats.lost + stats.forwarded and 0 < stats.lost < 40
    assert [(d.read, d.lost) for d in stats.per_direction] == [(40, stats.lost), (0, 0)]
    assert f"relayed {stats.forwarded} packets and dropped {stats.lost} as loss" in info.notes()[1]
    finish(proc)
    assert info.stats() is None  # gone: nothing to ask


def test_notes_and_limits() -> None:
    assert link.LinkInfo(link.NONE, 0, 0.0).notes() == []
    netem = link.LinkInfo(link.NETEM, 100_000, 0.01).notes()
    assert netem[0].startswith("rtt 100 ms and loss 0.01: reproduced with tc netem")
    dead = link.LinkInfo(link.USER_SPACE, 200_000, 0.0, why="this kernel has no netem").notes()
    assert "user-space link (this kernel has no netem)" in dead[0] and "100 ms of delay each way" in dead[0]
    assert "did not report" in dead[1]
    assert link._limits(200_000, 10.0) == []
    assert "close to what the user-space link adds" in link._limits(500, 0.0)[0]
    assert "more than the user-space link relays" in link._limits(10_000, 20_000.0)[0]
    assert link.netem_command("tq1s", 50_000, 0.05) == [
        *("tc", "qdisc", "add", "dev", "tq1s", "root", "netem", "limit", "100000"),
        *("delay", "50000us", "loss", "5%"),
    ]


# -- on the real kernel (root) -------------------------------------------------------------------------


@needs_root
def test_netem_probe_leaves_nothing(clean_after: None) -> None:
    with sandbox.lab() as lab:
        available = link.netem_available(lab.server)
        assert "netem" not in lab.server.run("tc", "qdisc", "show", "dev", "lo").stdout
        assert isinstance(available, bool)


@needs_root
def test_connect_time_follows_rtt(clean_after: None) -> None:
    with sandbox.lab() as lab:
        start_server(lab)
        assert median([t for t in connect_times(lab, 5) if t is not None]) < 0.005  # a plain veth
        info = link.setup_link(lab, 100_000, 0.0, 1, lifetime_s=60)
        assert info.kind in (link.NETEM, link.USER_SPACE)
        times = connect_times(lab, 10)
        assert None not in times
        assert abs(median(times) - 0.100) <= 0.015
        notes = info.notes()
        assert "rtt 100 ms" in notes[0] and info.kind.split()[0] in notes[0]
        if info.kind == link.USER_SPACE:
            assert info.devices is not None
            assert info.devices[1] in lab.client.run("ip", "route", "get", lab.server.address).stdout
            assert "relayed" in notes[1]


@needs_root
def test_loss_makes_syns_retransmit(clean_after: None) -> None:
    with sandbox.lab() as lab:
        link.setup_link(lab, 10_000, 0.5, 1, lifetime_s=60)
        start_server(lab)
        before = counters(lab.client)
        times = connect_times(lab, 20, parallel=True, timeout=3.5)  # 20 SYNs at once, ≤ 3.5 s
        after = counters(lab.client)
    assert len(times) == 20
    assert after["TcpExtTCPSynRetrans"] - before.get("TcpExtTCPSynRetrans", 0) > 0


@needs_root
def test_user_space_link_forced_and_relay_in_process_list(clean_after: None) -> None:
    with sandbox.lab() as lab:
        info = link.setup_link(lab, 20_000, 0.0, 1, lifetime_s=60, method="user-space")
        assert info.kind == link.USER_SPACE and info.relay in lab.server.processes
        assert "asked for instead of netem" in info.notes()[0]
        routes = lab.server.run("ip", "route").stdout
        assert f"{lab.client.address} dev {link.tun_names()[0]}" in routes


@needs_root
def test_lab_reports_rtt_and_the_link_used(tmp_path: Path, clean_after: None) -> None:
    scenario = tmp_path / "small.toml"
    scenario.write_text(
        'name = "link-small"\nduration = "1.5s"\nseed = 1\n\n[server]\naccept = "immediate"\n\n'
        '[[clients]]\ncount = 10\nat = "0s"\n'
    )
    result = CliRunner().invoke(main, ["lab", str(scenario), "--json", "--set", "network.rtt=200ms"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["clients"]["connected"] == 10
    assert abs(data["clients"]["connect_time_s"]["p50"] - 0.200) <= 0.015
    assert any(note.startswith("rtt 200 ms: reproduced with") for note in data["notes"]), data["notes"]
    assert any("netem" in note or "user-space link" in note for note in data["notes"])


@needs_root
def test_killed_tcpq_takes_the_relay_with_it(tmp_path: Path) -> None:
    scenario = tmp_path / "long.toml"
    scenario.write_text('name = "link-long"\nduration = "20s"\n\n[[clients]]\ncount = 1\nat = "0s"\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "tcpq", "lab", str(scenario), "--set", "network.rtt=50ms"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def relays() -> list[int]:
        return processes(relay_of(proc.pid))

    deadline = time.monotonic() + 15
    while not relays() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert relays(), "the relay did not start"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 5
    while relays() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert relays() == []  # parent-death signal
    sandbox.clean_stale()
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"tcpq-{proc.pid}-" not in listing
