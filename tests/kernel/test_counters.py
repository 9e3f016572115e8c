"""The counter catalogue against the running kernel (the names in /proc/net/netstat and
/proc/net/snmp, and `netstat -s` over a namespace's own counters) and net-tools 2.10's wording."""

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tcpq.kernel.counters import COUNTERS, CounterFile, find_counter
from tcpq.model import mib

from .fresh_netns import FreshNetns


def snmp_pairs(text: str) -> dict[str, int]:
    """nstat names and values from /proc/net/{netstat,snmp} text: per group a line of names
    and then a line of values, each starting with "Group:" (net/ipv4/proc.c)."""
    lines = text.splitlines()
    pairs: dict[str, int] = {}
    for names, values in zip(lines[::2], lines[1::2], strict=True):
        group, *keys = names.split()
        _, *numbers = values.split()
        prefix = group.rstrip(":")
        pairs.update({prefix + key: int(n) for key, n in zip(keys, numbers, strict=True)})
    return pairs


def kernel_counters(read: Callable[[str], str]) -> dict[str, dict[str, int]]:
    """Every counter of each file, by file; `read` returns a file's text."""
    return {file.value: snmp_pairs(read(file.value)) for file in CounterFile}


def _here(path: str) -> str:
    return Path(path).read_text(encoding="ascii")


@pytest.mark.parametrize("nstat", sorted(COUNTERS))
def test_the_running_kernel_has_the_counter_in_its_file(nstat: str) -> None:
    """The kernel prints every catalogued counter, under its group, in the file the catalogue
    names (net/ipv4/proc.c: snmp4_net_list for TcpExt in netstat, the Tcp MIB in snmp)."""
    assert nstat in kernel_counters(_here)[COUNTERS[nstat].file.value]


def test_every_counter_the_model_emits_is_catalogued() -> None:
    emitted = {value for name, value in vars(mib).items() if name.isupper() and isinstance(value, str)}
    assert emitted and emitted <= set(COUNTERS)
    assert set(mib.REPORTED) <= set(COUNTERS)


# Moves counters in the namespace it runs in: a connection the client closes first (TW), SYNs
# answered with cookies (tcp_syncookies=2: SyncookiesSent/Recv, TCPReqQFullDoCookies), and a
# SYN meeting a full accept queue (backlog 0 holds one child: ListenOverflows, ListenDrops).
TRAFFIC = """
import socket, time
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(0)
addr = srv.getsockname()
first = socket.create_connection(addr)
child, _ = srv.accept()
first.close()
child.recv(1)
child.close()
queued = socket.create_connection(addr)
time.sleep(0.05)
dropped = socket.socket()
dropped.setblocking(False)
dropped.connect_ex(addr)
time.sleep(0.1)
for sock in (dropped, queued, srv):
    sock.close()
time.sleep(0.1)
"""


def test_netstat_s_prints_what_the_catalogue_says(fresh_netns: FreshNetns) -> None:
    """`netstat -s` in a namespace of the test's own: every catalogued counter that moved (and
    every Tcp one, which net-tools prints even at 0) reads as the catalogue's wording."""
    if shutil.which("netstat") is None:
        pytest.skip("needs netstat(8) from net-tools")
    fresh_netns.run("ip", "link", "set", "lo", "up")
    fresh_netns.run("tee", "/proc/sys/net/ipv4/tcp_syncookies", stdin="2")
    fresh_netns.run(sys.executable, "-c", TRAFFIC)
    by_file = kernel_counters(lambda path: fresh_netns.run("cat", path))
    printed = {line.strip() for line in fresh_netns.run("netstat", "-s").splitlines()}
    checked = []
    for nstat, counter in COUNTERS.items():
        value = by_file[counter.file.value][nstat]
        if value or counter.group == "Tcp":
            assert counter.netstat_line(value) in printed, (nstat, value)
            checked.append(nstat)
    moved = {"TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtSyncookiesSent", "TcpExtTW"}
    assert moved <= set(checked), "the traffic did not move the counters it is meant to"


@pytest.mark.parametrize("nstat", sorted(COUNTERS))
def test_names_and_files_are_consistent(nstat: str) -> None:
    counter = COUNTERS[nstat]
    assert counter.nstat == counter.group + counter.kernel_name
    expected_file = {"TcpExt": CounterFile.NETSTAT, "Tcp": CounterFile.SNMP}[counter.group]
    assert counter.file is expected_file
    assert counter.mib.startswith("LINUX_MIB_" if counter.group == "TcpExt" else "TCP_MIB_")


@pytest.mark.parametrize("nstat", sorted(COUNTERS))
def test_netstat_line_shows_the_number(nstat: str) -> None:
    counter = COUNTERS[nstat]
    assert "3" in counter.netstat_line(3)
    assert "{" not in counter.netstat_line(3)
    assert counter.meaning and counter.increments and counter.kernel_model


# net-tools 2.10 statistics.c, for the counters test_netstat_s_prints_what_the_catalogue_says
# does not move (the Tcp ones, ListenOverflows, ListenDrops, Syncookies{Sent,Recv}, TW and
# TCPReqQFullDoCookies it reads from the real `netstat -s`).
@pytest.mark.parametrize(
    ("nstat", "line"),
    [
        ("TcpExtSyncookiesFailed", "7 invalid SYN cookies received"),
        ("TcpExtTWRecycled", "7 time wait sockets recycled by time stamp"),
        ("TcpExtEmbryonicRsts", "7 resets received for embryonic SYN_RECV sockets"),
        # net-tools has no sentence for these, or misses it in its unsorted table:
        ("TcpExtTCPReqQFullDrop", "TCPReqQFullDrop: 7"),
        ("TcpExtTCPSynRetrans", "TCPSynRetrans: 7"),
        ("TcpExtTCPTimeouts", "TCPTimeouts: 7"),
        ("TcpExtTWKilled", "TWKilled: 7"),
        ("TcpExtTCPTimeWaitOverflow", "TCPTimeWaitOverflow: 7"),
        ("TcpExtTCPSYNChallenge", "TCPSYNChallenge: 7"),
        ("TcpExtTCPChallengeACK", "TCPChallengeACK: 7"),
    ],
)
def test_netstat_wording(nstat: str, line: str) -> None:
    assert COUNTERS[nstat].netstat_line(7) == line


def test_quirks_are_explained() -> None:
    assert "final ACK" in COUNTERS["TcpExtListenDrops"].meaning
    assert "armed" in COUNTERS["TcpExtTW"].meaning
    assert "armed" in COUNTERS["TcpExtTWKilled"].meaning
    assert "gauge" in COUNTERS["TcpCurrEstab"].meaning


@pytest.mark.parametrize(
    "spelling",
    [
        "ListenOverflows",
        "listenoverflows",
        "TcpExtListenOverflows",
        "TCPEXTLISTENOVERFLOWS",
        "TcpExt.ListenOverflows",
        "LINUX_MIB_LISTENOVERFLOWS",
    ],
)
def test_find_counter_accepts_common_spellings(spelling: str) -> None:
    assert find_counter(spelling).nstat == "TcpExtListenOverflows"


def test_find_counter_tells_tcp_and_tcpext_apart() -> None:
    assert find_counter("ActiveOpens").file is CounterFile.SNMP
    assert find_counter("TW").nstat == "TcpExtTW"
    assert find_counter("TWKilled").nstat == "TcpExtTWKilled"


@pytest.mark.parametrize("spelling", ["", "listenoverflow", "TcpExtNope", "somaxconn"])
def test_find_counter_rejects_unknown_names(spelling: str) -> None:
    with pytest.raises(KeyError):
        find_counter(spelling)
