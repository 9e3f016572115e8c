"""kernel-model §16 experiments E1, E2, E4, E5 reproduced by `tcpq simulate` with the same numbers."""

from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import simulate_json

SCENARIOS = Path(__file__).parent / "scenarios"


def simulate(name: str, *overrides: str) -> dict[str, Any]:
    return simulate_json(SCENARIOS / name, *overrides)


@pytest.mark.parametrize(
    ("backlog", "somaxconn", "clients", "established", "syn_sent", "limit", "overflows"),
    [
        (0, 4096, 3, 1, 2, 0, 8),
        (1, 4096, 4, 2, 2, 1, 8),
        (4, 4096, 9, 5, 4, 4, 16),
        (511, 128, 140, 129, 11, 128, 44),
        (-1, 2, 5, 3, 2, 2, 8),
    ],
)
def test_e1_accept_queue_capacity(
    backlog: int, somaxconn: int, clients: int, established: int, syn_sent: int, limit: int, overflows: int
) -> None:
    """E1: ESTABLISHED = backlog+1, the rest in SYN_SENT; each SYN retry at 1, 2, 3 s overflows."""
    data = simulate(
        "e1_backlog.toml",
        f"server.backlog={backlog}",
        f"clients.count={clients}",
        f"kernel.sysctl.net.core.somaxconn={somaxconn}",
    )
    assert data["source"] == "sim"
    assert data["clients"]["connected"] == established
    assert data["clients"]["pending"] == syn_sent
    assert data["listener"]["accept_queue_limit"] == limit  # ss Send-Q
    assert data["listener"]["accept_queue_peak"] == established  # ss Recv-Q
    assert data["counters"]["TcpExtListenOverflows"] == overflows
    assert data["counters"]["TcpExtListenDrops"] == overflows
    assert data["client_counters"]["TcpExtTCPSynRetrans"] == 3 * syn_sent


def test_e1_after_0_3_s() -> None:
    data = simulate("e1_backlog.toml", "duration=0.3s")
    assert data["counters"]["TcpExtListenOverflows"] == 4


def test_e2_final_ack_overflow_abort_0() -> None:
    """E2: one child at ~1 s, two overflow; retries at 3 and 7 s → LO 6, TCPTimeouts 7 by 8.3 s."""
    data = simulate("e2_final_ack_overflow.toml")
    counters = data["counters"]
    assert counters["TcpExtListenOverflows"] == 6
    assert counters["TcpExtListenDrops"] == 6
    assert counters["TcpExtTCPTimeouts"] == 7
    assert counters["TcpExtTCPSynRetrans"] == 7
    assert data["listener"]["accept_queue_peak"] == 3
    assert data["clients"]["connected"] == 5  # overflowed clients believe they are connected
    assert (
        data["client_counters"]["TcpExtTCPSYNChallenge"] == data["client_counters"]["TcpExtTCPChallengeACK"]
    )


def test_e2_final_ack_overflow_abort_1() -> None:
    """E2: abort_on_overflow=1 → the two overflowing clients are reset at ~1 s."""
    data = simulate("e2_final_ack_overflow.toml", "kernel.sysctl.net.ipv4.tcp_abort_on_overflow=1")
    counters = data["counters"]
    assert counters["TcpExtListenOverflows"] == 2
    assert counters["TcpExtListenDrops"] == 2
    assert counters["TcpExtEmbryonicRsts"] == 2
    assert counters["TcpOutRsts"] == 2
    assert data["client_counters"]["TcpEstabResets"] == 2
    assert data["clients"]["reset"] == 2
    assert data["clients"]["connected"] == 3


def test_e4a_cookies_on() -> None:
    data = simulate("e4a_cookies.toml")
    counters = data["counters"]
    assert counters["TcpExtTCPReqQFullDoCookies"] == 5
    assert counters["TcpExtSyncookiesSent"] == 5
    assert counters["TcpExtSyncookiesRecv"] == 5
    assert counters["TcpExtListenOverflows"] == 5
    assert data["listener"]["syn_queue_peak"] == 5
    assert data["clients"]["cookie_connections"] == 5


def test_e4b_cookies_off() -> None:
    data = simulate("e4b_no_cookies.toml")
    assert data["listener"]["syn_queue_peak"] == 5
    assert data["counters"]["TcpExtTCPReqQFullDrop"] == 5
    assert data["counters"]["TcpExtListenDrops"] == 5
    assert data["counters"]["TcpExtListenOverflows"] == 0


def test_e4c_cookies_always() -> None:
    data = simulate("e4c_cookies_always.toml")
    counters = data["counters"]
    assert data["listener"]["syn_queue_peak"] == 0
    assert data["clients"]["connected"] == 5 and data["clients"]["pending"] == 2
    assert counters["TcpExtTCPReqQFullDoCookies"] == 7
    assert counters["TcpExtSyncookiesSent"] == 5
    assert counters["TcpExtSyncookiesRecv"] == 5
    assert counters["TcpExtListenOverflows"] == 2


def test_e4d_last_quarter() -> None:
    data = simulate("e4d_last_quarter.toml")
    assert data["listener"]["syn_queue_peak"] == 7
    assert data["counters"]["TcpExtListenDrops"] == 3
    assert data["counters"]["TcpExtTCPReqQFullDrop"] == 0


def test_e5_timewait_buckets() -> None:
    data = simulate("e5_timewait_buckets.toml")
    client = data["client_counters"]
    assert client["TcpExtTCPTimeWaitOverflow"] == 3
    assert client["TcpOutRsts"] == 3
    assert client["TcpExtTW"] == 3


def test_e5_fin_on_delayed_ack_means_no_rst() -> None:
    """A server closing at once sends its FIN with the delayed ACK: TIME_WAIT overflows silently."""
    data = simulate("e5_timewait_buckets.toml", "server.close_delay=0s")
    client = data["client_counters"]
    assert client["TcpExtTCPTimeWaitOverflow"] == 3
    assert client["TcpOutRsts"] == 0
