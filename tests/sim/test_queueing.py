"""Queueing sanity: the simulated listener behaves as an M/M/1/K queue (K = backlog + 2).

With Poisson arrivals, one worker with exponential service and a connect timeout below the
first SYN retransmission (1 s), a client whose SYN meets a full accept queue is lost: the share
of timed-out clients is the M/M/1/K blocking probability. K counts the backlog + 1 children the
accept queue holds (kernel-model §1.3) plus the one being served.
"""

import pytest

from tcpq.scenario import scenario_from_dict
from tcpq.sim.runner import simulate


def mm1k_blocking(rho: float, k: int) -> float:
    if rho == 1.0:
        return 1.0 / (k + 1)
    return (1 - rho) * rho**k / (1 - rho ** (k + 1))


@pytest.mark.parametrize(("arrival_rate", "backlog"), [(80, 2), (150, 4), (60, 0), (95, 8)])
def test_timeouts_match_mm1k_blocking(arrival_rate: int, backlog: int) -> None:
    service_rate = 100.0
    scenario = scenario_from_dict(
        {
            "name": "mm1k",
            "duration": "300s",
            "seed": 7,
            "kernel": {"version": "6.18"},
            "server": {"backlog": backlog, "workers": 1, "service_time": "exp:10ms"},
            "clients": {"rate": f"{arrival_rate}/s", "arrival": "poisson", "connect_timeout": "500ms"},
        }
    )
    result = simulate(scenario)
    clients = result.clients
    assert clients.refused == clients.reset == 0
    resolved = clients.attempted - clients.pending
    observed = clients.timed_out / resolved
    expected = mm1k_blocking(arrival_rate / service_rate, backlog + 2)
    # 300 s of arrivals: tens of thousands of attempts; queue correlation widens the error.
    assert observed == pytest.approx(expected, abs=0.02, rel=0.08)
