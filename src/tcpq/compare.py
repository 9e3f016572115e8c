"""Side by side: a simulated and a lab RunResult of one scenario, metric by metric, with verdicts.

Tolerances (issue "tcpq lab"): counts agree within ±2 % or ±2, whichever is larger;
connect-time percentiles within ±10 % or ±50 ms, whichever is larger.

Draws the lab cannot replay. Arrival times are replayed exactly (the lab uses the simulator's
seeded draws), but exponential service times, `network.loss` and the server's wake-up latencies
(`host.wakeup` given as a distribution) are drawn afresh by the real machine. For a scenario
with such draws the caller (app/fidelity.py) simulates it again with DRAW_SEEDS other draw
seeds (`simulate(draw_seed=k)`) and passes those runs here. The row compares two independent
draws, the model's seeded run and the lab's run; if the model's distribution is the kernel's,
their difference has the standard deviation √2 · σ, σ the sample standard deviation of that
metric over those runs. So each metric's tolerance becomes max(the fixed tolerance,
3 × √2 × σ), rounded up (counts to a whole number, times to the millisecond), and the notes
say so. (Until 2026-12-03 it was 3 × σ, as if one side were the distribution's mean: two
normal draws then differed by more in 4 % of pairs per metric, now 0.6 %, tests/test_compare.py;
and where the draws are two-valued, a lab run in the mode the seeded run is not in never
agreed if that mode's share was under 13 %, now under 6 %.) No tolerance is ever widened
otherwise.

By the model's draws. The seeded run is one draw of the model's distribution; where that
distribution has two modes (whether a burst meets an event-loop server asleep or awake: the
accept queue full, or nearly empty), the seeded run can be in the rare mode while the lab is
in the common one, and no tolerance around the seeded run is right for both. So a row that
misses its tolerance still agrees when the lab's value is a plausible next draw of the model's
runs (the seeded one and the draws, n in all): within the prediction interval
mean ± DRAW_SIGMAS · s · √(1 + 1/n), s their sample standard deviation, or the fixed
tolerance around the mean. The row says `by_draws` and `model_mean`. Only rows with draws the
lab cannot replay; never a lower-bound peak.

Lower bounds. A lab queue peak the kernel does not prove (`ListenerSummary.*_peak_exact` is
False: the samples may have missed it) is a lower bound: its row agrees when
sim ≥ lab − tolerance and sim ≤ the most the queue can hold (the accept queue's limit + 1, the
SYN queue's limit, both as the lab's kernel has them); the row says `lab_lower_bound` and `upper`.

Percentiles by rank. A p50, p90 or p99 of n connections is the sample of rank ⌈q·n⌉; where the
distribution has a cliff (the kernel's 1 s / 3 s SYN retransmission steps) a share of 0.8 %
against 1.2 % above the step moves the p99 by two seconds. So a percentile row that misses the
value tolerance still agrees when each side's percentile is a plausible q-quantile of the
other side's distribution (its histogram): the other side's share at or below the value ±
the tolerance brackets q within RANK_SIGMAS binomial standard deviations of a q-quantile of
two samples, sqrt(q(1 − q)(1/n + 1/m)) — the variance of the draw, not a widening. Bucket edges
are read conservatively (the bracket must hold for the buckets' worst case). The row says
`by_rank`. The max keeps the value rule.
"""

import math
import statistics
from collections.abc import Sequence
from dataclasses import replace

from tcpq.histogram import share_at_or_below
from tcpq.model import mib
from tcpq.records import frozen
from tcpq.types import Histogram, Percentiles, RunResult

COUNT_REL, COUNT_ABS = 0.02, 2
TIME_REL, TIME_ABS_S = 0.10, 0.050
TIME_STEP_S = 0.001  # a variance-derived time tolerance is rounded up to this
DRAW_SIGMAS = 3
DIFFERENCE_SD = math.sqrt(2)  # SD of a difference of two independent draws, in units of one's SD
DRAW_SEEDS = 20  # with a bimodal draw (a share of 1/4) one of 20 runs misses it 0.3 % of the time
OUTCOMES = ("attempted", "connected", "refused", "reset", "timed_out", "no_port", "pending")
LISTENER = ("accept_queue_limit", "accept_queue_peak", "syn_queue_peak")
PERCENTILES = ("p50", "p90", "p99", "max")
RANKS = {"p50": 0.50, "p90": 0.90, "p99": 0.99}  # the percentiles compared by rank too
RANK_SIGMAS = 3


@frozen
class MetricRow:
    metric: str
    sim: float | None
    lab: float | None
    difference: float | None
    tolerance: float
    ok: bool
    lab_lower_bound: bool = False  # the lab's value is a lower bound (a peak its samples may miss)
    upper: float | None = None  # for a lower-bound row: the most the queue can hold
    draw_sd: float | None = None  # SD of the metric over simulations with other draw seeds
    by_rank: bool = False  # outside the value tolerance, but each side a plausible q-quantile of the other
    by_draws: bool = False  # outside it, but the lab's value a plausible draw of the model's runs
    model_mean: float | None = None  # for a by_draws row: the mean of the model's runs

    @property
    def verdict(self) -> str:
        """What the renderers print: why the row agrees, or that it differs."""
        if not self.ok:
            return "DIFFERS"
        return "by rank" if self.by_rank else "by draws" if self.by_draws else "ok"


@frozen
class Comparison:
    scenario: str
    rows: list[MetricRow]
    notes: list[str]

    @property
    def agrees(self) -> bool:
        return all(row.ok for row in self.rows)


def _count_tolerance(sim: float, lab: float) -> float:
    return max(COUNT_ABS, COUNT_REL * max(abs(sim), abs(lab)))


def _time_tolerance(sim: float, lab: float) -> float:
    return max(TIME_ABS_S, TIME_REL * max(sim, lab))


def _draw_tolerance(sd: float | None, time: bool) -> float:
    """DRAW_SIGMAS × √2 × sd (the model's run and the lab's are two draws), rounded up:
    counts to a whole number, times to TIME_STEP_S."""
    if sd is None:
        return 0.0
    return _rounded(DRAW_SIGMAS * DIFFERENCE_SD * sd, time)


def _rounded(spread: float, time: bool) -> float:
    """Up: counts to a whole number, times to TIME_STEP_S."""
    if time:
        return round(math.ceil(round(spread / TIME_STEP_S, 6)) * TIME_STEP_S, 6)
    return float(math.ceil(round(spread, 6)))


def count_row(metric: str, sim: int, lab: int, sd: float | None = None) -> MetricRow:
    tolerance = max(_count_tolerance(sim, lab), _draw_tolerance(sd, time=False))
    difference = lab - sim
    return MetricRow(metric, sim, lab, difference, tolerance, abs(difference) <= tolerance, draw_sd=sd)


def _peak_row(
    metric: str, sim: int, lab: int, *, exact: bool, upper: int, sd: float | None = None
) -> MetricRow:
    """A queue peak: a plain count row, or for an inexact lab peak the lower-bound rule."""
    row = count_row(metric, sim, lab, sd)
    if exact:
        return row
    ok = sim >= lab - row.tolerance and sim <= upper
    return replace(row, ok=ok, lab_lower_bound=True, upper=upper)


def time_row(metric: str, sim: float | None, lab: float | None, sd: float | None = None) -> MetricRow:
    if sim is None or lab is None:
        return MetricRow(metric, sim, lab, None, TIME_ABS_S, sim is None and lab is None, draw_sd=sd)
    tolerance = max(_time_tolerance(sim, lab), _draw_tolerance(sd, time=True))
    difference = lab - sim
    return MetricRow(
        metric, sim, lab, round(difference, 6), tolerance, abs(difference) <= tolerance, draw_sd=sd
    )


def _plausible_quantile(q: float, value: float, tolerance: float, n: int, other: Histogram) -> bool:
    """Whether `value`, the q-quantile of n samples, is a plausible q-quantile of `other`: its
    share at or below value − tolerance is at most q + δ and at or below value + tolerance at
    least q − δ, δ = RANK_SIGMAS · sqrt(q(1 − q)(1/n + 1/m))."""
    m = sum(other.counts)
    if n == 0 or m == 0:
        return False
    delta = RANK_SIGMAS * math.sqrt(q * (1 - q) * (1 / n + 1 / m))
    below = share_at_or_below(other, value - tolerance, bound="upper")
    above = share_at_or_below(other, value + tolerance, bound="lower")
    return below <= q + delta and above >= q - delta


def _by_rank(row: MetricRow, q: float, sim_hist: Histogram, lab_hist: Histogram) -> MetricRow:
    if row.ok or row.sim is None or row.lab is None:
        return row
    n_sim, n_lab = sum(sim_hist.counts), sum(lab_hist.counts)
    plausible = _plausible_quantile(q, row.lab, row.tolerance, n_lab, sim_hist) and _plausible_quantile(
        q, row.sim, row.tolerance, n_sim, lab_hist
    )
    return replace(row, ok=True, by_rank=True) if plausible else row


def _both(sim: Histogram | None, lab: Histogram | None) -> tuple[Histogram, Histogram] | None:
    """Both sides' histograms, or None (a result saved before they existed)."""
    return (sim, lab) if sim is not None and lab is not None else None


def _percentile_rows(
    name: str,
    sim: Percentiles | None,
    lab: Percentiles | None,
    sds: dict[str, float],
    hists: tuple[Histogram, Histogram] | None = None,
) -> list[MetricRow]:
    if sim is None and lab is None:
        return []
    rows = []
    for field in PERCENTILES:
        metric = f"{name}.{field}"
        row = time_row(
            metric,
            getattr(sim, field) if sim else None,
            getattr(lab, field) if lab else None,
            sds.get(metric),
        )
        if hists is not None and field in RANKS:
            row = _by_rank(row, RANKS[field], *hists)
        rows.append(row)
    return rows


def metric_values(result: RunResult) -> dict[str, float | None]:
    """Every compared metric of one result, by row name (None: no value, e.g. no connection)."""
    values: dict[str, float | None] = {f"clients.{n}": getattr(result.clients, n) for n in OUTCOMES}
    values.update({f"listener.{n}": getattr(result.listener, n) for n in LISTENER})
    for name, pct in (
        ("connect_time_s", result.clients.connect_time_s),
        ("response_time_s", result.clients.response_time_s),
    ):
        for field in PERCENTILES:
            values[f"{name}.{field}"] = getattr(pct, field) if pct is not None else None
    for side, counters in (("counters", result.counters), ("client_counters", result.client_counters)):
        for counter in mib.REPORTED:
            values[f"{side}.{counter}"] = counters.get(counter, 0)
    return values


def _series(runs: Sequence[RunResult]) -> dict[str, list[float]]:
    """Each metric's values over the runs (a run without a value, e.g. no connection, skipped)."""
    series: dict[str, list[float]] = {}
    for run in runs:
        for metric, value in metric_values(run).items():
            if value is not None:
                series.setdefault(metric, []).append(float(value))
    return series


def draw_deviations(draws: Sequence[RunResult]) -> dict[str, float]:
    """The sample standard deviation of each metric over the runs (metrics with ≥ 2 values)."""
    return {metric: statistics.stdev(values) for metric, values in _series(draws).items() if len(values) >= 2}


@frozen
class Spread:
    """A metric over the model's runs: their mean, sample standard deviation and number."""

    mean: float
    sd: float
    runs: int


def model_spreads(runs: Sequence[RunResult]) -> dict[str, Spread]:
    """Each metric's spread over the runs, for the metrics that vary between them."""
    spreads = {}
    for metric, values in _series(runs).items():
        if len(values) >= 2 and (sd := statistics.stdev(values)) > 0:
            spreads[metric] = Spread(statistics.fmean(values), sd, len(values))
    return spreads


def _by_draws(row: MetricRow, spread: Spread | None) -> MetricRow:
    """The row agreeing when the lab's value lies in the prediction interval of the model's runs."""
    if row.ok or row.lab_lower_bound or spread is None or row.sim is None or row.lab is None:
        return row
    time = _is_time(row.metric)
    fixed = _time_tolerance(spread.mean, row.lab) if time else _count_tolerance(spread.mean, row.lab)
    interval = _rounded(DRAW_SIGMAS * spread.sd * math.sqrt(1 + 1 / spread.runs), time)
    if abs(row.lab - spread.mean) <= max(fixed, interval):
        return replace(row, ok=True, by_draws=True, model_mean=round(spread.mean, 6))
    return row


def _is_time(metric: str) -> bool:
    return metric.startswith(("connect_time_s.", "response_time_s."))


def _fixed_tolerance(row: MetricRow) -> float | None:
    if row.sim is None or row.lab is None:
        return None
    if _is_time(row.metric):
        return _time_tolerance(row.sim, row.lab)
    return _count_tolerance(row.sim, row.lab)


def _draw_notes(rows: list[MetricRow], drawn: Sequence[str], runs: int) -> list[str]:
    notes = [
        f"tolerance: {', '.join(drawn)} are drawn by the real machine, not replayed; each tolerance is "
        f"max(the fixed one, {DRAW_SIGMAS} × √2 × the standard deviation over {runs} simulations with "
        "other draw seeds: the model's run and the lab's are two draws), rounded up"
    ]
    widened = []
    for row in rows:
        fixed = _fixed_tolerance(row)
        if fixed is not None and row.tolerance > fixed:
            widened.append(f"{row.metric} ±{fixed:g} → ±{row.tolerance:g} (sd {row.draw_sd:.3g})")
    notes.append(f"tolerance widened: {'; '.join(widened)}" if widened else "tolerance: none widened")
    return notes


def compare(
    sim: RunResult, lab: RunResult, draws: Sequence[RunResult] = (), drawn: Sequence[str] = ()
) -> Comparison:
    """Compare metric by metric. `draws`: the simulation rerun with other draw seeds, for a
    scenario with draws the lab cannot replay (`drawn` says which); they widen tolerances."""
    sds = draw_deviations(draws) if len(draws) >= 2 else {}
    rows = [
        count_row(
            f"clients.{name}",
            getattr(sim.clients, name),
            getattr(lab.clients, name),
            sds.get(f"clients.{name}"),
        )
        for name in OUTCOMES
    ]
    rows.append(
        count_row(
            "listener.accept_queue_limit",
            sim.listener.accept_queue_limit,
            lab.listener.accept_queue_limit,
            sds.get("listener.accept_queue_limit"),
        )
    )
    rows.append(
        _peak_row(
            "listener.accept_queue_peak",
            sim.listener.accept_queue_peak,
            lab.listener.accept_queue_peak,
            exact=lab.listener.accept_queue_peak_exact,
            upper=lab.listener.accept_queue_limit + 1,
            sd=sds.get("listener.accept_queue_peak"),
        )
    )
    rows.append(
        _peak_row(
            "listener.syn_queue_peak",
            sim.listener.syn_queue_peak,
            lab.listener.syn_queue_peak,
            exact=lab.listener.syn_queue_peak_exact,
            upper=lab.listener.syn_queue_limit,
            sd=sds.get("listener.syn_queue_peak"),
        )
    )
    rows += _percentile_rows(
        "connect_time_s",
        sim.clients.connect_time_s,
        lab.clients.connect_time_s,
        sds,
        _both(sim.clients.connect_time_hist, lab.clients.connect_time_hist),
    )
    rows += _percentile_rows(
        "response_time_s",
        sim.clients.response_time_s,
        lab.clients.response_time_s,
        sds,
        _both(sim.clients.response_time_hist, lab.clients.response_time_hist),
    )
    for side, sim_counters, lab_counters in (
        ("counters", sim.counters, lab.counters),
        ("client_counters", sim.client_counters, lab.client_counters),
    ):
        for name in mib.REPORTED:
            a, b = sim_counters.get(name, 0), lab_counters.get(name, 0)
            if a or b:
                rows.append(count_row(f"{side}.{name}", a, b, sds.get(f"{side}.{name}")))
    if sds:
        spreads = model_spreads([sim, *draws])
        rows = [_by_draws(row, spreads.get(row.metric)) for row in rows]
    notes = _draw_notes(rows, drawn, len(draws)) if sds else []
    by_draws = [f"{row.metric} (mean {row.model_mean:g})" for row in rows if row.by_draws]
    if by_draws:
        notes.append(
            f"by draws: {', '.join(by_draws)} differ from the model's seeded run by more than the "
            f"tolerance, but the lab's value is a plausible draw of the model's {len(draws) + 1} runs: "
            f"within mean ± {DRAW_SIGMAS} × sd × √(1 + 1/n), the prediction interval"
        )
    ranked = [row.metric for row in rows if row.by_rank]
    if ranked:
        notes.append(
            f"by rank: {', '.join(ranked)} differ in value but each side's percentile is a plausible "
            f"quantile of the other side's distribution (within {RANK_SIGMAS} binomial standard "
            "deviations of its rank): a step of the distribution lies between them"
        )
    return Comparison(
        scenario=sim.scenario, rows=rows, notes=[*notes, *(f"lab: {note}" for note in lab.notes)]
    )
