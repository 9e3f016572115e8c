"""Model against kernel for one scenario: the use-case behind `tcpq compare` and `tcpq lab fuzz`."""

import platform
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tcpq.compare import DRAW_SEEDS, Comparison, compare
from tcpq.records import frozen
from tcpq.scenario import HostSection, Scenario, load_host_table
from tcpq.types import RunResult
from tcpq.units import Distribution

Progress = Callable[[float], None]


@frozen
class ScenarioComparison:
    sim: RunResult
    lab: RunResult
    comparison: Comparison


def for_running_kernel(scenario: Scenario) -> Scenario:
    """The lab runs the real kernel: the model predicts for that kernel too."""
    return scenario.model_copy(
        update={"kernel": scenario.kernel.model_copy(update={"version": platform.release()})}
    )


def unreplayed_draws(scenario: Scenario) -> list[str]:
    """The scenario's random draws the lab makes afresh instead of replaying the simulator's.

    Arrival times are replayed (the lab uses the simulator's seeded draws); what the real machine
    draws by itself is what `simulate(draw_seed=k)` reseeds: exponential service times, packet
    loss, the server's wake-up latency when `host.wakeup` is a distribution and it accepts,
    where the scheduler places an event-loop server (behind the client program or not, once per
    run),
    how late the client program's connect timeouts fire (when there are any),
    and the jiffies phase of the run's start (model/timing.py), which decides which timers fire
    in the same timer-wheel tick.
    """
    drawn = []
    service = scenario.server.service_time
    if service is not None and service.distribution is Distribution.EXPONENTIAL:
        drawn.append("exponential service times (server.service_time)")
    if scenario.network.loss > 0:
        drawn.append(f"packet loss (network.loss = {scenario.network.loss:g})")
    if len(set(scenario.host.wakeup)) > 1 and scenario.server.accept != "never":
        drawn.append("the server's wake-up latencies (host.wakeup)")
    timeouts = any(group.connect_timeout is not None for group in scenario.clients)
    if len(set(scenario.host.timer_late)) > 1 and timeouts:
        drawn.append("how late the client program's connect timeouts fire (host.timer_late)")
    host = scenario.host
    workers = scenario.server.workers is not None
    event_loop = not workers and scenario.server.accept != "never"
    if 0 < host.behind_client < 1 and event_loop:
        drawn.append("whether the server waits behind the client program (host.behind_client)")
    if 0 < host.workers_behind_client < 1 and workers:
        drawn.append("whether the workers wait behind the client program (host.workers_behind_client)")
    if workers and (len(set(host.sleep_late)) > 1 or len(set(host.long_sleep_late)) > 1):
        drawn.append("how late each worker's service ends (host.sleep_late, host.long_sleep_late)")
    if scenario.host.hz > 0:
        drawn.append("where the run starts on the jiffies clock (which timers share a wheel tick)")
    return drawn


def with_measured_host(scenario: Scenario, host_file: Path | None = None) -> tuple[Scenario, str]:
    """The scenario with this machine's measured [host] (`tcpq lab calibrate`, kept per boot;
    measured now if missing), or `host_file`'s; and the note that says which was used."""
    from tcpq.app.calibration import host_table

    if host_file is not None:
        table: dict[str, object] = load_host_table(host_file)
        source = str(host_file)
    else:
        table, path = host_table()
        source = f"measured on this machine by `tcpq lab calibrate` ({path})"
    host = HostSection.model_validate(table)
    return scenario.model_copy(update={"host": host}), f"model: host timing {source}"


def compare_scenario(
    scenario: Scenario,
    *,
    origin: str = "scenario",
    on_progress: Progress | None = None,
    host_file: Path | None = None,
) -> ScenarioComparison:
    """Simulate the scenario for the running kernel, run it in the lab, compare the two.

    The model side uses the host's speed measured on this machine (the lab's own programs,
    `tcpq lab calibrate`), never values fitted to this scenario; `host_file` overrides it.
    With draws the lab cannot replay, DRAW_SEEDS more simulations with other draw seeds give
    each metric's spread, and compare() widens a tolerance to 3 standard deviations of the
    difference of two such draws (3 × √2 × their SD).
    """
    from tcpq.lab.runner import run_lab
    from tcpq.sim.runner import simulate

    modelled, host_note = with_measured_host(for_running_kernel(scenario), host_file)
    simulated = simulate(modelled, origin=origin)
    drawn = unreplayed_draws(modelled)
    draws = (
        [simulate(modelled, origin=origin, draw_seed=k) for k in range(1, DRAW_SEEDS + 1)] if drawn else []
    )
    measured = run_lab(scenario, origin=origin, on_progress=on_progress)
    comparison = compare(simulated, measured, draws, drawn)
    comparison = replace(comparison, notes=[host_note, *comparison.notes])
    return ScenarioComparison(simulated, measured, comparison)
