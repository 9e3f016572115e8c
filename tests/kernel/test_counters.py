"""The counter catalogue: names, files, `netstat -s` wording (net-tools 2.10) and lookups."""

import pytest

from tcpq.kernel.counters import COUNTERS, CounterFile, find_counter

TCPEXT = [
    "ListenOverflows",
    "ListenDrops",
    "TCPReqQFullDrop",
    "TCPReqQFullDoCookies",
    "SyncookiesSent",
    "SyncookiesRecv",
    "SyncookiesFailed",
    "TCPSynRetrans",
    "TCPTimeouts",
    "EmbryonicRsts",
    "TCPDeferAcceptDrop",
    "TCPSYNChallenge",
    "TCPChallengeACK",
    "TCPACKSkippedSynRecv",
    "TCPTimeWaitOverflow",
    "TW",
    "TWKilled",
    "TWRecycled",
    "TCPAbortOnMemory",
    "TCPAbortOnTimeout",
    "TCPAbortOnLinger",
    "TCPMigrateReqSuccess",
    "TCPMigrateReqFailure",
]
TCP = [
    "ActiveOpens",
    "PassiveOpens",
    "AttemptFails",
    "EstabResets",
    "CurrEstab",
    "InSegs",
    "OutSegs",
    "RetransSegs",
    "InErrs",
    "OutRsts",
]


def test_required_counters_are_present() -> None:
    assert {f"TcpExt{name}" for name in TCPEXT} <= set(COUNTERS)
    assert {f"Tcp{name}" for name in TCP} <= set(COUNTERS)


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


@pytest.mark.parametrize(
    ("nstat", "line"),
    [
        ("TcpExtListenOverflows", "7 times the listen queue of a socket overflowed"),
        ("TcpExtListenDrops", "7 SYNs to LISTEN sockets dropped"),
        ("TcpExtSyncookiesSent", "7 SYN cookies sent"),
        ("TcpExtSyncookiesRecv", "7 SYN cookies received"),
        ("TcpExtSyncookiesFailed", "7 invalid SYN cookies received"),
        ("TcpExtTWRecycled", "7 time wait sockets recycled by time stamp"),
        ("TcpExtTW", "7 TCP sockets finished time wait in fast timer"),
        ("TcpExtEmbryonicRsts", "7 resets received for embryonic SYN_RECV sockets"),
        ("TcpActiveOpens", "7 active connection openings"),
        ("TcpPassiveOpens", "7 passive connection openings"),
        ("TcpAttemptFails", "7 failed connection attempts"),
        ("TcpEstabResets", "7 connection resets received"),
        ("TcpCurrEstab", "7 connections established"),
        ("TcpRetransSegs", "7 segments retransmitted"),
        ("TcpOutRsts", "7 resets sent"),
        # net-tools has no sentence for these, or misses it in its unsorted table:
        ("TcpExtTCPReqQFullDrop", "TCPReqQFullDrop: 7"),
        ("TcpExtTCPReqQFullDoCookies", "TCPReqQFullDoCookies: 7"),
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
