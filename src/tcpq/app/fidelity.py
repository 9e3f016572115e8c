"""Model against kernel for one scenario: the use-case behind `tcpq compare` and `tcpq lab fuzz`."""

import platform
from collections.abc import Callable
from dataclasses import dataclass

from tcpq.compare import Comparison, compare
from tcpq.scenario import Scenario
from tcpq.types import RunResult

Progress = Callable[[float], None]


@dataclass(frozen=True)
class ScenarioComparison:
    sim: RunResult
    lab: RunResult
    comparison: Comparison


def for_running_kernel(scenario: Scenario) -> Scenario:
    """The lab runs the real kernel: the model predicts for that kernel too."""
    return scenario.model_copy(
        update={"kernel": scenario.kernel.model_copy(update={"version": platform.release()})}
    )


def compare_scenario(
    scenario: Scenario, *, origin: str = "scenario", on_progress: Progress | None = None
) -> ScenarioComparison:
    """Simulate the scenario for the running kernel, run it in the lab, compare the two."""
    from tcpq.lab.runner import run_lab
    from tcpq.sim.runner import simulate

    simulated = simulate(for_running_kernel(scenario), origin=origin)
    measured = run_lab(scenario, origin=origin, on_progress=on_progress)
    return ScenarioComparison(simulated, measured, compare(simulated, measured))
