"""`tcpq lab calibrate`'s placement probes (`behind_client`, `workers_behind_client`): where the
scheduler puts the woken server relative to the client program, as `tcpq lab` runs find it
(lab/calibrate.py), for an event loop and for worker threads blocked in accept()."""

from collections.abc import Callable
from typing import Any

PLACEMENT_TRIALS = 10  # lab runs of the placement probe
PLACEMENT_BURST = 50  # clients at once against a backlog of 2
PLACEMENT_SCENARIO: dict[str, Any] = {
    "name": "calibrate-placement",
    "duration": "0.3s",
    "server": {"backlog": 2, "accept": "immediate"},
    "clients": {"count": PLACEMENT_BURST, "at": "0.05s"},
}


# 16 workers of 50 ms, backlog 2, 60 clients at once: workers that wait out the burst take
# none during it, so 60 - 3 = 57 SYNs meet the full accept queue; workers that run take some
# (measured 44-51, the model's 45-50 with no worker behind).
WORKERS_BURST = 60
WORKERS_SCENARIO: dict[str, Any] = {
    "name": "calibrate-worker-placement",
    "duration": "0.3s",
    "server": {"backlog": 2, "workers": 16, "service_time": "50ms"},
    "clients": {"count": WORKERS_BURST, "at": "0.05s"},
}


def measure_placement(
    on_trial: Callable[[], None] | None = None, scenario_table: dict[str, Any] = PLACEMENT_SCENARIO
) -> list[int]:
    """Where the scheduler puts the server, as a lab run finds it: PLACEMENT_TRIALS runs of
    `tcpq lab` itself (its server, generator, sampler and start, each run fresh) of
    `scenario_table`; the ListenOverflows of each. With PLACEMENT_SCENARIO (50 clients at once
    against an event loop with a backlog of 2) a server placed behind the client program runs
    only after the burst: 47 of the 50 overflow; one that got a CPU overflows about as many
    as arrive during its wake-up (5-15). WORKERS_SCENARIO: see there."""
    from tcpq.lab.runner import run_lab
    from tcpq.scenario import scenario_from_dict

    scenario = scenario_from_dict(scenario_table)
    overflows = []
    for _ in range(PLACEMENT_TRIALS):
        overflows.append(int(run_lab(scenario, origin="calibrate").counters.get("TcpExtListenOverflows", 0)))
        if on_trial is not None:
            on_trial()
    return overflows


def placement_share(overflows: list[int]) -> float:
    """The share of placement runs whose server waited for (most of) the client's burst."""
    limit = PLACEMENT_BURST - 3  # the accept queue holds backlog + 1 = 3
    return _share([count > 0.6 * limit for count in overflows])


def workers_placement_share(overflows: list[int]) -> float:
    """The share of worker-placement runs whose workers took at most 3 connections during
    the burst (between the 57 of workers that waited and the 44-51 of workers that ran)."""
    return _share([count >= WORKERS_BURST - 3 - 3 for count in overflows])


def _share(behind: list[bool]) -> float:
    """The share of runs that waited behind the client (0 without runs)."""
    return sum(behind) / len(behind) if behind else 0.0
