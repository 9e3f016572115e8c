"""Every example runs as it is, and the seed stories they tell hold."""

from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import simulate_json
from tests.sim.outcomes import check_outcomes, recording_connections

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def simulate(path: Path, *overrides: str) -> dict[str, Any]:
    return simulate_json(path, *overrides)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.stem)
def test_example_runs(path: Path) -> None:
    """The JSON's client outcomes are those of the simulated connections themselves."""
    with recording_connections() as conns:
        data = simulate(path)
    assert data["clients"]["attempted"] > 0
    check_outcomes(data["clients"], data["client_counters"], conns)


def test_backend_3s_late_old_vs_current_kernel() -> None:
    """Seed story: a dropped SYN costs 3 s on kernels before 3.1, 1 s since (kernel-model §15 e)."""
    old = simulate(EXAMPLES / "backend-3s-late-old-kernel.toml")
    new = simulate(EXAMPLES / "backend-3s-late-current-kernel.toml")
    # The timer wheel fires a 3 s timer up to 256 ms late and a 1 s one up to 32 ms late
    # (kernel-model §14.1, model/timing.py).
    assert 3.0 <= old["clients"]["connect_time_s"]["p99"] <= 3.0 + 0.256
    assert 1.0 <= new["clients"]["connect_time_s"]["p99"] <= 1.0 + 0.032


def test_nginx_backlog_clamped() -> None:
    data = simulate(EXAMPLES / "nginx-somaxconn-128.toml")
    assert data["listener"]["backlog"] == 511 and data["listener"]["accept_queue_limit"] == 128
    assert data["listener"]["accept_queue_peak"] == 129
    assert data["counters"]["TcpExtListenOverflows"] > 0


def test_synflood_cookie_modes() -> None:
    off, on, always = (simulate(EXAMPLES / f"synflood-cookies-{mode}.toml") for mode in (0, 1, 2))
    assert off["counters"]["TcpExtTCPReqQFullDrop"] > 0
    assert on["clients"]["connected"] > off["clients"]["connected"]
    assert on["counters"]["TcpExtSyncookiesRecv"] > 0
    assert always["listener"]["syn_queue_peak"] == 0


def test_timewait_port_exhaustion_and_reuse() -> None:
    path = EXAMPLES / "timewait-port-exhaustion.toml"
    exhausted = simulate(path)
    assert exhausted["clients"]["no_port"] > 0
    reused = simulate(path, "kernel.client_sysctl.net.ipv4.tcp_tw_reuse=1")
    assert reused["clients"]["no_port"] < exhausted["clients"]["no_port"]
    assert reused["client_counters"]["TcpExtTWRecycled"] > 0
