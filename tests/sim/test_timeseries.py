"""The simulator's time series of client outcomes and client SYN retransmissions (issue 10).

The cumulative outcome series end, at the sample at the run's end, at exactly the counts of
ClientSummary; the per-interval client retransmissions add up to the client namespace's
TcpExtTCPSynRetrans. A run whose duration is not a multiple of the interval ends between samples:
its last sample counts what had ended by then.
"""

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tcpq.scenario import load_scenario, scenario_from_dict
from tcpq.sim.runner import simulate
from tcpq.types import RunResult

from .test_properties import scenarios

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"
OUTCOMES = ("refused", "reset", "timed_out")


def example(name: str) -> RunResult:
    return simulate(load_scenario(EXAMPLES / f"{name}.toml"))


def ends_at_the_run_end(result: RunResult) -> bool:
    return bool(result.timeseries.t_s) and result.timeseries.t_s[-1] == result.duration_s


def check(result: RunResult) -> None:
    series = result.timeseries
    samples = len(series.t_s)
    for name in OUTCOMES:
        values = getattr(series, name)
        assert len(values) == samples
        assert values == sorted(values), name  # ended so far: never falls
        assert max(values, default=0) <= getattr(result.clients, name)
    assert len(series.client_syn_retrans) == samples and min(series.client_syn_retrans, default=0) >= 0
    total = result.client_counters["TcpExtTCPSynRetrans"]
    assert sum(series.client_syn_retrans) <= total
    if ends_at_the_run_end(result):
        assert sum(series.client_syn_retrans) == total
        for name in OUTCOMES:
            assert getattr(series, name)[-1] == getattr(result.clients, name), name


@pytest.mark.parametrize("name", sorted(path.stem for path in EXAMPLES.glob("*.toml")))
def test_every_example(name: str) -> None:
    check(example(name))


def test_clients_time_out_over_time_under_a_flood_without_cookies() -> None:
    result = example("synflood-cookies-0")
    assert ends_at_the_run_end(result) and result.clients.timed_out == 98
    series = result.timeseries
    assert series.timed_out[-1] == 98 and series.timed_out[0] == 0  # nobody gave up at once
    assert series.refused[-1] == series.reset[-1] == 0


def test_aborted_handshakes_are_resets_when_they_happen() -> None:
    result = example("abort-on-overflow")
    series = result.timeseries
    assert result.clients.reset == 2 and series.reset[-1] == 2
    # each reset is counted from the sample after it, once: the series rises to 2 and stays
    first = series.reset.index(2)
    assert all(value == 2 for value in series.reset[first:]) and series.reset[0] < 2


def test_clients_retransmit_their_syns_at_1_2_and_3_seconds() -> None:
    """backlog-nobody-accepts: 9 clients, 5 fit (limit 4 + 1); the other 4 retransmit their SYN
    1, 2 and 3 s after it (kernel-model §5.1, linear timeouts on 6.18), each just after the
    second because of the timer wheel: the intervals ending at 1.1, 2.1 and 3.1 s."""
    series = example("backlog-nobody-accepts").timeseries
    retrans = dict(zip(series.t_s, series.client_syn_retrans, strict=True))
    assert {t: n for t, n in retrans.items() if n} == {1.1: 4, 2.1: 4, 3.1: 4}


def test_a_run_that_ends_between_samples() -> None:
    """8.4 s at a 0.25 s interval: the last sample is at 8.25 s, before the run's end."""
    result = example("e2-final-ack-overflow")
    assert result.timeseries.t_s[-1] == 8.25 and result.duration_s == 8.4
    check(result)


def test_the_kernels_own_timeout_after_131_s() -> None:
    data: dict[str, Any] = {
        "name": "t",
        "duration": "140s",
        "kernel": {"version": "6.18"},
        "server": {"backlog": 0, "accept": "never"},
        "clients": {"count": 2},
    }
    result = simulate(scenario_from_dict(data))
    series = result.timeseries
    assert result.clients.timed_out == 1 and series.timed_out[-1] == 1
    # 5 s samples: the client gives up 131 s after its SYN (1+1+1+1+1+2+4+8+16+32+64)
    timed_out_at = series.t_s[series.timed_out.index(1)]
    assert timed_out_at == 135.0
    assert sum(series.client_syn_retrans) == result.client_counters["TcpExtTCPSynRetrans"] == 10


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_random_scenarios(data: dict[str, Any]) -> None:
    check(simulate(scenario_from_dict(data)))
