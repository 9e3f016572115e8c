"""Invariants of the simulator over random scenarios (hypothesis)."""

from dataclasses import asdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcpq.scenario import scenario_from_dict
from tcpq.sim.runner import simulate

from .outcomes import check_outcomes, recording_connections

KERNELS = ["2.6", "3.10", "4.9", "5.4", "6.1", "6.6", "6.13", "6.18"]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    server: dict[str, Any] = {"backlog": draw(st.integers(-2, 12))}
    mode = draw(st.sampled_from(["never", "immediate", "rate", "workers"]))
    if mode == "rate":
        server["accept"] = f"{draw(st.integers(1, 400))}/s"
    elif mode == "workers":
        server["workers"] = draw(st.integers(1, 4))
        server["service_time"] = draw(st.sampled_from(["5ms", "exp:20ms", "exp:200ms", "1s"]))
    else:
        server["accept"] = mode
    if draw(st.booleans()):
        server["accept_after"] = f"{draw(st.integers(0, 3000))}ms"
    if draw(st.booleans()):
        group: dict[str, Any] = {"count": draw(st.integers(0, 60)), "at": f"{draw(st.integers(0, 500))}ms"}
    else:
        group = {
            "rate": f"{draw(st.integers(1, 300))}/s",
            "arrival": draw(st.sampled_from(["poisson", "uniform"])),
        }
    group["request"] = draw(st.booleans())
    if draw(st.booleans()):
        group["connect_timeout"] = f"{draw(st.integers(100, 3000))}ms"
    if draw(st.booleans()):
        group["close_after"] = f"{draw(st.integers(0, 2000))}ms"
    sysctl: dict[str, Any] = {
        "net.ipv4.tcp_syncookies": draw(st.integers(0, 2)),
        "net.ipv4.tcp_abort_on_overflow": draw(st.integers(0, 1)),
        "net.core.somaxconn": draw(st.integers(1, 16)),
        "net.ipv4.tcp_max_syn_backlog": draw(st.integers(4, 64)),
        "net.ipv4.tcp_max_tw_buckets": draw(st.integers(0, 20)),
    }
    data: dict[str, Any] = {
        "name": "property",
        "duration": f"{draw(st.integers(100, 6000))}ms",
        "seed": draw(st.integers(0, 2**16)),
        "kernel": {"version": draw(st.sampled_from(KERNELS)), "sysctl": sysctl},
        "server": server,
        "clients": group,
        "network": {"rtt": f"{draw(st.integers(0, 300))}ms", "loss": draw(st.sampled_from([0.0, 0.05, 0.3]))},
    }
    if draw(st.booleans()):
        data["attack"] = {"rate": f"{draw(st.integers(1, 2000))}/s", "from": "0s"}
    if draw(st.booleans()):
        data["network"]["filter"] = {"drop": draw(st.sampled_from(["bare_ack", "non_syn"])), "until": "1s"}
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_run_invariants(data: dict[str, Any]) -> None:
    with recording_connections() as conns:
        result = simulate(scenario_from_dict(data))
    # Every attempt is one connection, counted once, where it ended (tests/sim/outcomes.py).
    check_outcomes(asdict(result.clients), result.client_counters, conns)
    listener = result.listener
    # kernel-model §1.3: the accept queue never exceeds backlog + 1.
    assert listener.accept_queue_peak <= listener.accept_queue_limit + 1
    assert max(result.timeseries.accept_queue, default=0) <= listener.accept_queue_limit + 1
    # kernel-model §2.2: request socks never exceed the SYN-queue limit.
    assert listener.syn_queue_peak <= listener.syn_queue_limit
    # kernel-model §11: ListenDrops counts every overflow and more.
    assert result.counters["TcpExtListenDrops"] >= result.counters["TcpExtListenOverflows"]
    assert listener.sk_drops >= result.counters["TcpExtListenDrops"]


@settings(max_examples=20, deadline=None)
@given(scenarios())
def test_deterministic_for_a_seed(data: dict[str, Any]) -> None:
    scenario = scenario_from_dict(data)
    assert simulate(scenario) == simulate(scenario)


def test_a_burst_longer_than_a_scheduler_slice_behind_the_client() -> None:
    """A server placed behind the client program (host.behind_client) is woken during a burst
    of 1000 connect() calls (9 ms, more than the 4.2 ms slice): its wake-up, reckoned from the
    slice's end, is already past, and runs now (the engine refuses an event in the past)."""
    data: dict[str, Any] = {
        "name": "burst-behind-client",
        "duration": "1s",
        "kernel": {"version": "6.18"},
        "server": {"backlog": 64, "accept": "immediate"},
        "clients": {"count": 1000, "at": "0ms"},
        "host": {"behind_client": 1.0},
    }
    with recording_connections() as conns:
        result = simulate(scenario_from_dict(data))
    check_outcomes(asdict(result.clients), result.client_counters, conns)
    assert result.clients.connected > 0
