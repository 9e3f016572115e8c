"""Simulator behaviours beyond the §16 experiments."""

from typing import Any

import pytest

from tcpq.errors import ScenarioError, UnsupportedKernel
from tcpq.scenario import load_scenario, parse_override, scenario_from_dict
from tcpq.sim.runner import simulate
from tcpq.types import RunResult

# An infinitely fast host with ideal timers (model/timing.py IDEAL_HOST): for tests of the
# kernel rules alone, whose exact schedules (1 s, 3 s ...) the timer wheel would round up.
IDEAL_HOST = {"hz": 0, "connect_gap": 0, "packet_cost": 0, "wakeup": 0, "accept_cost": 0}


def run(**overrides: Any) -> RunResult:
    data: dict[str, Any] = {
        "name": "t",
        "duration": "2s",
        "kernel": {"version": "6.18"},
        "server": {"backlog": 8, "accept": "immediate"},
        "clients": {"count": 3},
    }
    data.update(overrides)
    return simulate(scenario_from_dict(data))


def test_request_mode_closes_after_reply_by_default() -> None:
    result = run(clients={"count": 3, "request": True})
    assert result.clients.connected == 3
    assert result.client_counters["TcpExtTW"] == 3  # the client closed first: TIME_WAIT is its


def test_request_mode_close_after_never_keeps_connections() -> None:
    result = run(clients={"count": 3, "request": True, "close_after": "never"})
    assert result.clients.connected == 3
    assert result.client_counters["TcpExtTW"] == 0


def test_percentiles_are_observed_values() -> None:
    """15 clients get in at once, 15 wait for the 1 s SYN retry: no invented 0.5 s median."""
    result = run(
        server={"backlog": 14, "accept": "immediate", "accept_after": "0.5s"},
        clients={"count": 30},
        host=IDEAL_HOST,
    )
    pct = result.clients.connect_time_s
    assert pct.p50 in (0.0, 1.0) and pct.max == 1.0


def test_rtt_adds_to_connect_time() -> None:
    result = run(network={"rtt": "100ms"})
    assert result.clients.connect_time_s.p50 == pytest.approx(0.1)


def test_version_override_keeps_text() -> None:
    assert parse_override("kernel.version=6.10") == (["kernel", "version"], "6.10")


def test_unsupported_kernel() -> None:
    with pytest.raises(UnsupportedKernel):
        run(kernel={"version": "1.0"})


def test_tail_loss_probe_by_profile() -> None:
    """Data retransmissions of an overflowed client: a TLP first since 3.10, an RTO before."""
    base = {
        "server": {"backlog": 1, "accept": "never"},
        "clients": [{"count": 1}, {"count": 2, "at": "0.1s", "request": True}],
        "network": {"filter": {"drop": "bare_ack", "from": "50ms"}},
        "duration": "0.35s",
        "host": IDEAL_HOST,  # which client overflows depends on the order of same-instant events
    }
    new = run(**base)
    old = run(**{**base, "kernel": {"version": "3.2"}})
    assert new.client_counters.get("TcpExtTCPLossProbes", 0) == 1
    assert old.client_counters.get("TcpExtTCPLossProbes", 0) == 0
    assert old.client_counters["TcpExtTCPTimeouts"] > 0


def test_app_connect_timeout_and_refused_synack() -> None:
    """A client that gave up answers a late SYN-ACK with RST: the server's request is reset."""
    result = run(
        server={"backlog": 8, "accept": "never"},
        clients={"count": 1, "connect_timeout": "50ms"},
        network={"rtt": "400ms"},
    )
    assert result.clients.timed_out == 1
    assert result.client_counters["TcpOutRsts"] == 1
    assert result.counters["TcpExtEmbryonicRsts"] == 1 and result.counters["TcpAttemptFails"] == 1


def test_kernel_etimedout_after_131s() -> None:
    result = run(duration="140s", server={"backlog": 0, "accept": "never"}, clients={"count": 2})
    assert result.clients.timed_out == 1 and result.clients.connected == 1
    assert result.client_counters["TcpExtTCPAbortOnTimeout"] == 1


def test_loss_is_deterministic_per_seed() -> None:
    a = run(network={"loss": 0.3}, clients={"rate": "50/s"}, seed=4)
    b = run(network={"loss": 0.3}, clients={"rate": "50/s"}, seed=4)
    c = run(network={"loss": 0.3}, clients={"rate": "50/s"}, seed=5)
    assert a == b and a.client_counters != c.client_counters


def test_attack_fills_syn_queue_and_cookies_save_clients() -> None:
    flood = {"rate": "2000/s", "from": "0s"}
    clients = {"rate": "20/s", "from": "0.5s"}
    off = run(
        duration="3s",
        attack=flood,
        clients=clients,
        kernel={"version": "6.18", "sysctl": {"net.ipv4.tcp_syncookies": 0}},
    )
    on = run(duration="3s", attack=flood, clients=clients)
    assert off.listener.syn_queue_peak == off.listener.syn_queue_limit
    assert off.clients.connected == 0 and off.counters["TcpExtTCPReqQFullDrop"] > 0
    assert on.clients.connected == on.clients.attempted and on.clients.cookie_connections > 0


def test_bad_file_path_is_scenario_error(tmp_path: Any) -> None:
    with pytest.raises(ScenarioError):
        load_scenario(tmp_path)


def test_econnreset_after_request_expired() -> None:
    """§5.4 (E2b): an overflowed client that stays silent past 63 s is reset when it sends."""
    result = run(
        duration="70s",
        server={"backlog": 1, "accept": "never"},
        clients=[{"count": 1, "request": True, "request_after": "66s"}, {"count": 2, "at": "0.2s"}],
        network={"filter": {"drop": "bare_ack", "until": "0.1s"}},
    )
    assert result.clients.reset == 1 and result.clients.connected == 2
    assert result.client_counters["TcpEstabResets"] == 1
    # Challenge ACKs to the SYN-ACKs at 1, 3, 7, 15, 31 s each overflowed (abort_on_overflow 0).
    assert result.counters["TcpExtListenOverflows"] == 5
    assert result.counters["TcpOutRsts"] == 1


def test_a_dropped_fin_is_retransmitted_and_completes_the_handshake() -> None:
    """A client whose final ACK and FIN a filter drops stays a request at the server; the FIN,
    retransmitted (a tail-loss probe at 0.2 s, RTOs at 0.41 and 0.83 s: kernel-model §5.4),
    carries the ACK that makes the child (tcp_check_req) once the filter is gone. The server
    never resends its SYN-ACK at 1 s. (tests/lab/test_teardown.py: the kernel's figures.)"""
    result = run(
        duration="3s",
        server={"backlog": 8, "accept": "immediate"},
        clients={"count": 1, "close_after": "0s"},
        network={"filter": {"drop": "non_syn", "from": "0s", "until": "0.5s"}},
        host=IDEAL_HOST,
    )
    assert result.client_counters["TcpRetransSegs"] == 3
    assert result.client_counters["TcpExtTCPTimeouts"] == 2  # the first was a loss probe
    assert result.counters["TcpPassiveOpens"] == 1
    assert result.counters.get("TcpExtTCPSynRetrans", 0) == 0


def test_a_filter_drops_the_fin_of_a_client_whose_connection_was_accepted() -> None:
    """A filter of every non-SYN segment drops a FIN whatever the server holds for it: the
    client retransmits (a loss probe at 0.4 s, an RTO at 0.61 s; the one at 1.03 s passes)
    and the server, which never saw the FIN, has no FIN of its own to retransmit (fuzz-5-14;
    tests/lab/test_teardown.py: the kernel's figures)."""
    result = run(
        duration="2s",
        server={"backlog": 8, "accept": "immediate"},
        clients={"count": 1, "at": "0.1s", "close_after": "0.1s"},
        network={"filter": {"drop": "non_syn", "from": "0.15s", "until": "0.7s"}},
        host=IDEAL_HOST,
    )
    assert result.client_counters["TcpRetransSegs"] == 3
    assert result.client_counters["TcpExtTCPTimeouts"] == 2
    assert result.counters.get("TcpRetransSegs", 0) == 0
    assert result.client_counters["TcpExtTW"] == 1


# One request client on a 20 ms link: its request reaches the server at 0.10 s, the reply
# the client at 0.11 s, the client's ACK of it the server at 0.12 s, inside a filter from
# 0.105 s. The reply's RTO is rtt + rto_min = 0.22 s.
REPLY_CLIENT = {"count": 1, "at": "0.07s", "request": True, "close_after": "never"}


def reply_under_filter(drop: str) -> RunResult:
    """REPLY_CLIENT's run with a filter of `drop` from 0.105 s to 0.95 s."""
    return run(
        duration="3s",
        clients=REPLY_CLIENT,
        network={"rtt": "20ms", "filter": {"drop": drop, "from": "0.105s", "until": "0.95s"}},
        host=IDEAL_HOST,
    )


def test_the_server_retransmits_a_reply_whose_acks_are_filtered() -> None:
    """Every ACK filtered until 0.95 s: a loss probe at 0.32 s, an RTO at 0.54 s (each
    answered by a D-SACK ACK the filter drops), and the RTO at 0.98 s is acknowledged
    (fuzz-2-52: the kernel's server TCPTimeouts 157 and RetransSegs 195, the model's 43
    without reply retransmission, 157 and 195 with it)."""
    result = reply_under_filter("non_syn")
    assert result.counters["TcpRetransSegs"] == 3
    assert result.counters["TcpExtTCPLossProbes"] == 1
    assert result.counters["TcpExtTCPTimeouts"] == 2
    assert result.clients.connected == 1


def test_a_bare_ack_filter_costs_a_reply_one_loss_probe() -> None:
    """The client's first ACK of the reply is a bare ACK (dropped); its answer to the
    retransmission carries a D-SACK block, which a filter of bare ACKs lets through
    (fuzz-2-47: server RetransSegs model 16 without it, 32 with it, kernel 32)."""
    result = reply_under_filter("bare_ack")
    assert result.counters["TcpRetransSegs"] == 1
    assert result.counters["TcpExtTCPLossProbes"] == 1


def test_an_unacknowledged_fin_is_given_up_after_the_orphan_retries() -> None:
    """Nobody ever takes the FIN: tcp_orphan_retries = 0 means 8 retransmissions, then the
    orphan is destroyed (TCPAbortOnTimeout)."""
    result = run(
        duration="200s",
        server={"backlog": 8, "accept": "immediate"},
        clients={"count": 1, "close_after": "0s"},
        network={"filter": {"drop": "non_syn", "from": "0s"}},
        host=IDEAL_HOST,
    )
    assert result.client_counters["TcpRetransSegs"] == 8
    assert result.client_counters["TcpExtTCPAbortOnTimeout"] == 1


def test_the_server_retransmits_its_fin_until_the_client_acknowledges_it() -> None:
    """A filter of every non-SYN segment drops the client's ACKs of the server's FIN: the
    server retransmits it (a loss probe, then RTOs) and, the filter gone, gets to FIN_WAIT2."""
    result = run(
        duration="3s",
        server={"backlog": 8, "workers": 1, "service_time": "1ms", "accept_after": "0.1s"},
        clients={"count": 1, "close_after": "never"},
        network={"filter": {"drop": "non_syn", "from": "0.05s", "until": "0.6s"}},
        host=IDEAL_HOST,
    )
    assert result.counters["TcpRetransSegs"] == 3  # 0.3, 0.51 (ACKs dropped), 0.93 s (acked)
    assert result.counters["TcpExtTW"] == 1


def test_a_timewait_client_acknowledges_a_retransmitted_fin_with_a_bare_ack() -> None:
    """The client closes first (close_after 0), so the server's FIN meets a timewait sock:
    tcp_v4_timewait_ack() sends timestamps only, no D-SACK, and a filter of bare ACKs drops
    every answer until it ends (fuzz-3-32: the kernel's server had 44 RTOs in a 1 s filter).
    FIN at ~0.1 s: a loss probe at 0.3, RTOs at 0.51 and 0.93 s; the last is acknowledged."""
    result = run(
        duration="3s",
        server={"backlog": 8, "accept": "immediate"},
        clients={"count": 1, "at": "0.1s", "request": True, "close_after": "0s"},
        network={"filter": {"drop": "bare_ack", "from": "0s", "until": "0.6s"}},
        host=IDEAL_HOST,
    )
    assert result.counters["TcpExtTCPLossProbes"] == 1
    assert result.counters["TcpExtTCPTimeouts"] == 2
    assert result.counters["TcpRetransSegs"] == 3


def test_arrivals_across_the_feeders_chunks_all_start_in_order() -> None:
    """The feeder turns arrival times into ints a chunk at a time (sim/program.Feeder): a burst
    larger than a chunk, and a rate group whose arrivals cross chunk edges, all start, each
    once, the burst back to back at its instant."""
    burst = 2 * 4096 + 7
    result = run(
        duration="3s",
        server={"backlog": 65535, "accept": "immediate"},
        kernel={"version": "6.18", "sysctl": {"net.core.somaxconn": 65535}},
        clients=[{"count": burst, "at": "0.5s", "sources": 4}, {"rate": "3000/s", "until": "2s"}],
        host=IDEAL_HOST,
    )
    rated = 6000  # 3000/s for 2 s, uniform
    assert result.clients.attempted == burst + rated
    assert result.clients.connected == burst + rated and result.clients.pending == 0
    assert result.clients.connect_time_hist is not None
    assert sum(result.clients.connect_time_hist.counts) == burst + rated  # one handshake each
    handshakes = dict(zip(result.timeseries.t_s, result.timeseries.handshakes, strict=True))
    # The burst is issued from 0.5 s (one connect() call after another: ~0.15 s).
    assert handshakes[0.5] == 1500 and handshakes[1.0] == burst + 3000
