"""Side by side: a simulated and a lab RunResult of one scenario, metric by metric, with verdicts.

Tolerances (issue "tcpq lab"): counts agree within ±2 % or ±2, whichever is larger;
connect-time percentiles within ±10 % or ±50 ms, whichever is larger.
"""

from dataclasses import dataclass

from tcpq.model import mib
from tcpq.types import Percentiles, RunResult

COUNT_REL, COUNT_ABS = 0.02, 2
TIME_REL, TIME_ABS_S = 0.10, 0.050
OUTCOMES = ("attempted", "connected", "refused", "reset", "timed_out", "no_port", "pending")
LISTENER = ("accept_queue_limit", "accept_queue_peak", "syn_queue_peak")


@dataclass(frozen=True)
class MetricRow:
    metric: str
    sim: float | None
    lab: float | None
    difference: float | None
    tolerance: float
    ok: bool


@dataclass(frozen=True)
class Comparison:
    scenario: str
    rows: list[MetricRow]
    notes: list[str]

    @property
    def agrees(self) -> bool:
        return all(row.ok for row in self.rows)


def _count_row(metric: str, sim: int, lab: int) -> MetricRow:
    tolerance = max(COUNT_ABS, COUNT_REL * max(abs(sim), abs(lab)))
    difference = lab - sim
    return MetricRow(metric, sim, lab, difference, tolerance, abs(difference) <= tolerance)


def _time_row(metric: str, sim: float | None, lab: float | None) -> MetricRow:
    if sim is None or lab is None:
        return MetricRow(metric, sim, lab, None, TIME_ABS_S, sim is None and lab is None)
    tolerance = max(TIME_ABS_S, TIME_REL * max(sim, lab))
    difference = lab - sim
    return MetricRow(metric, sim, lab, round(difference, 6), tolerance, abs(difference) <= tolerance)


def _percentile_rows(name: str, sim: Percentiles | None, lab: Percentiles | None) -> list[MetricRow]:
    if sim is None and lab is None:
        return []
    rows = []
    for field in ("p50", "p90", "p99", "max"):
        rows.append(
            _time_row(
                f"{name}.{field}", getattr(sim, field) if sim else None, getattr(lab, field) if lab else None
            )
        )
    return rows


def compare(sim: RunResult, lab: RunResult) -> Comparison:
    rows = [
        _count_row(f"clients.{name}", getattr(sim.clients, name), getattr(lab.clients, name))
        for name in OUTCOMES
    ]
    rows += [
        _count_row(f"listener.{name}", getattr(sim.listener, name), getattr(lab.listener, name))
        for name in LISTENER
    ]
    rows += _percentile_rows("connect_time_s", sim.clients.connect_time_s, lab.clients.connect_time_s)
    rows += _percentile_rows("response_time_s", sim.clients.response_time_s, lab.clients.response_time_s)
    for side, sim_counters, lab_counters in (
        ("counters", sim.counters, lab.counters),
        ("client_counters", sim.client_counters, lab.client_counters),
    ):
        for name in mib.REPORTED:
            a, b = sim_counters.get(name, 0), lab_counters.get(name, 0)
            if a or b:
                rows.append(_count_row(f"{side}.{name}", a, b))
    return Comparison(scenario=sim.scenario, rows=rows, notes=[f"lab: {note}" for note in lab.notes])
