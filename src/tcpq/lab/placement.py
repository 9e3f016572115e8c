"""`tcpq lab calibrate`'s placement probe (`behind_client`): where the scheduler puts the woken
server relative to the client program, as `tcpq lab` runs find it (lab/calibrate.py)."""

from collections.abc import Callable

PLACEMENT_TRIALS = 10  # lab runs of the placement probe
PLACEMENT_BURST = 50  # clients at once against a backlog of 2
PLACEMENT_SCENARIO = {
    "name": "calibrate-placement",
    "duration": "0.3s",
    "server": {"backlog": 2, "accept": "immediate"},
    "clients": {"count": PLACEMENT_BURST, "at": "0.05s"},
}


def measure_placement(on_trial: Callable[[], None] | None = None) -> list[int]:
    """Where the scheduler puts the server, as a lab run finds it: PLACEMENT_TRIALS runs of
    `tcpq lab` itself (its server, generator, sampler and start, each run fresh) with 50
    clients at once against a backlog of 2; the ListenOverflows of each. A server placed
    behind the client program runs only after the burst: 47 of the 50 overflow; one that got
    a CPU overflows about as many as arrive during its wake-up (5-15)."""
    from tcpq.lab.runner import run_lab
    from tcpq.scenario import scenario_from_dict

    scenario = scenario_from_dict(PLACEMENT_SCENARIO)
    overflows = []
    for _ in range(PLACEMENT_TRIALS):
        overflows.append(int(run_lab(scenario, origin="calibrate").counters.get("TcpExtListenOverflows", 0)))
        if on_trial is not None:
            on_trial()
    return overflows


def placement_share(overflows: list[int]) -> float:
    """The share of placement runs whose server waited for (most of) the client's burst."""
    limit = PLACEMENT_BURST - 3  # the accept queue holds backlog + 1 = 3
    behind = sum(1 for count in overflows if count > 0.6 * limit)
    return behind / len(overflows) if overflows else 0.0
