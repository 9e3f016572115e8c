"""`tcpq sweep`: a scenario over the cross product of settings, each point run with several seeds.

The plan (axes, points, seeds, metrics, goals) is validated whole before any run starts, so a
bad key or value is one line naming the `--vary` it came from, never a traceback from a worker.
Runs go to an executor (app/sweep_exec.py: this machine's cores, or a Dask cluster) as Tasks
and come back as the chosen metrics; the results are ordered by (point, seed), so the output is
the same whichever executor and however many processes ran them. Aggregation is pure.

Seeds: a point's runs use the point's scenario seed + 0, 1, ... N-1 (`--seeds N`), and only
where the scenario draws anything at random (arrivals, service times, loss, the host's timing);
a point with no random draw runs once, since every seed would give the same result.
"""

import copy
import difflib
import itertools
import math
import operator
import re
import statistics
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tcpq.app.fidelity import unreplayed_draws
from tcpq.compare import LISTENER, OUTCOMES, PERCENTILES, metric_values
from tcpq.errors import ScenarioError, TcpqError
from tcpq.model import mib
from tcpq.records import frozen
from tcpq.scenario import (
    MAX_SEED,
    Scenario,
    apply_override,
    expected_attempts,
    load_scenario,
    parse_override,
    scenario_from_dict,
)

MAX_POINTS = 10_000  # a cross product beyond this is almost always a typo (one list too many)
MAX_SEEDS = 1_000
DEFAULT_METRICS = (
    "clients.connected",
    "clients.timed_out",
    "connect_time_s.p99",
    "counters.TcpExtListenOverflows",
)
Value = float | None  # a metric of one run; None where it has none (no connection: no p99)


def metric_names() -> list[str]:
    """Every metric a sweep can report: the row names of `tcpq compare` (compare.metric_values)."""
    names = [f"clients.{name}" for name in OUTCOMES]
    names += [f"listener.{name}" for name in LISTENER]
    names += [f"{kind}.{field}" for kind in ("connect_time_s", "response_time_s") for field in PERCENTILES]
    names += [f"{side}.{name}" for side in ("counters", "client_counters") for name in mib.REPORTED]
    return names


def check_metrics(metrics: Sequence[str], option: str = "--metric") -> tuple[str, ...]:
    known = metric_names()
    for metric in metrics:
        if metric not in known:
            near = difflib.get_close_matches(metric, known, n=3, cutoff=0.5)
            hint = (
                f"; did you mean {', '.join(near)}?" if near else " (names as `tcpq compare` rows have them)"
            )
            raise TcpqError(f"{option} {metric!r}: unknown metric{hint}")
    return tuple(dict.fromkeys(metrics))


# -- goals -----------------------------------------------------------------------------------

_GOAL = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(<=|>=|==|<|>)\s*([-+0-9.eE]+)\s*")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}


@frozen
class Goal:
    """`METRIC OP NUMBER`: a point meets it when every one of its runs does."""

    metric: str
    op: str
    bound: float

    @property
    def text(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"

    def holds(self, values: Sequence[Value]) -> bool:
        # A run without the value (no connection, so no p99) does not meet a goal on it.
        test = _OPS[self.op]
        return bool(values) and all(value is not None and test(value, self.bound) for value in values)


def parse_goal(text: str) -> Goal:
    match = _GOAL.fullmatch(text)
    if match is None:
        raise TcpqError(f"--goal {text!r}: expected METRIC OP NUMBER, e.g. 'connect_time_s.p99<0.1'")
    metric, op, number = match.groups()
    try:
        bound = float(number)
    except ValueError:
        raise TcpqError(f"--goal {text!r}: {number!r} is not a number") from None
    if not math.isfinite(bound):
        raise TcpqError(f"--goal {text!r}: {number!r} is not a finite number")
    check_metrics([metric], f"--goal {text!r}:")
    return Goal(metric, op, bound)


# -- the plan --------------------------------------------------------------------------------


@frozen
class Axis:
    """One `--vary KEY=V1,V2,...`: the key as `--set` takes it, each value's text and its value."""

    key: str
    texts: tuple[str, ...]
    values: tuple[object, ...]


def parse_vary(text: str) -> Axis:
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise TcpqError(f"--vary {text!r}: expected KEY=V1,V2,..., e.g. server.backlog=16,64,256")
    texts = tuple(part.strip() for part in raw.split(","))
    if not raw.strip() or any(not part for part in texts):
        raise TcpqError(f"--vary {text!r}: empty value (give KEY=V1,V2,..., comma-separated)")
    repeated = [value for value, count in itertools.groupby(sorted(texts)) if len(list(count)) > 1]
    if repeated:
        raise TcpqError(f"--vary {text!r}: {repeated[0]} is given twice")
    values = tuple(parse_override(f"{key}={part}")[1] for part in texts)
    return Axis(key, texts, values)


@frozen
class Point:
    index: int
    settings: tuple[tuple[str, object], ...]  # (key, value) per axis, in --vary order
    overrides: tuple[str, ...]  # the same as --set texts
    seeds: tuple[int, ...]
    draws: tuple[str, ...]  # what the point's scenario draws at random (empty: one seed is enough)


@frozen
class Task:
    """One run, self-contained, so that any process on any machine can do it (app/sweep_exec.py)."""

    number: int  # position in the plan's run order: (point, seed)
    point: int
    seed: int
    scenario: Scenario
    release: str | None  # the running kernel of the machine that planned it, not the worker's
    origin: str
    metrics: tuple[str, ...]


@frozen
class SweepPlan:
    file: str
    scenario: str  # the scenario's name
    overrides: tuple[str, ...]  # --set, applied to every point before the axes
    axes: tuple[Axis, ...]
    points: tuple[Point, ...]
    seeds: int
    metrics: tuple[str, ...]
    goals: tuple[Goal, ...]
    tasks: tuple[Task, ...]


def point_count(axes: Sequence[Axis]) -> int:
    return math.prod(len(axis.values) for axis in axes)


def random_draws(scenario: Scenario) -> list[str]:
    """What a run of the scenario draws from its seed: Poisson arrivals, and what
    `simulate(draw_seed=)` reseeds (app/fidelity.unreplayed_draws)."""
    draws = [
        f"Poisson arrivals (clients[{k}])"
        for k, group in enumerate(scenario.clients)
        if group.arrival == "poisson"
    ]
    return draws + unreplayed_draws(scenario)


def _point_scenario(data: dict[str, Any], overrides: Sequence[str], origin: str) -> Scenario:
    data = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        apply_override(data, path, value, origin)
    return scenario_from_dict(data, origin)


def plan_sweep(
    file: Path,
    *,
    vary: Sequence[str],
    overrides: Sequence[str] = (),
    seeds: int = 1,
    metrics: Sequence[str] = (),
    goals: Sequence[str] = (),
    release: str | None = None,
    check: Callable[[Scenario, str], None] | None = None,
) -> SweepPlan:
    """Every point and run of the sweep, validated (`check`: the caller's further test of each
    point's scenario, e.g. its sysctls for the kernel and its memory estimate)."""
    if not vary:
        raise TcpqError("sweep: give at least one --vary KEY=V1,V2,...")
    if not 1 <= seeds <= MAX_SEEDS:
        raise TcpqError(f"--seeds {seeds}: give 1 to {MAX_SEEDS}")
    axes = tuple(parse_vary(text) for text in vary)
    keys = [axis.key for axis in axes]
    twice = next((key for key in keys if keys.count(key) > 1), None)
    if twice is not None:
        raise TcpqError(f"--vary {twice}: given twice (give one --vary per key, its values comma-separated)")
    count = point_count(axes)
    if count > MAX_POINTS:
        sizes = " × ".join(str(len(axis.values)) for axis in axes)
        raise TcpqError(f"sweep: {sizes} = {count:,} points; the limit is {MAX_POINTS:,}")
    chosen = check_metrics(list(metrics) or list(DEFAULT_METRICS))
    parsed_goals = tuple(parse_goal(text) for text in goals)
    chosen = tuple(dict.fromkeys([*chosen, *(goal.metric for goal in parsed_goals)]))
    origin = str(file)
    base = load_scenario(file, tuple(overrides))  # the file and --set alone: their own errors
    data = tomllib.loads(Path(file).read_text(encoding="utf-8"))
    base_overrides = tuple(overrides)
    for axis in axes:  # each value alone first, so that an error names the --vary it came from
        for text in axis.texts:
            setting = f"{axis.key}={text}"
            try:
                single = _point_scenario(data, (*base_overrides, setting), origin)
                if check is not None:
                    check(single, origin)
            except TcpqError as exc:
                raise type(exc)(f"--vary {setting}: {exc}") from None
    points: list[Point] = []
    tasks: list[Task] = []
    for index, combination in enumerate(itertools.product(*(range(len(axis.texts)) for axis in axes))):
        settings = tuple((axis.key, axis.values[k]) for axis, k in zip(axes, combination, strict=True))
        texts = tuple(f"{axis.key}={axis.texts[k]}" for axis, k in zip(axes, combination, strict=True))
        try:
            scenario = _point_scenario(data, (*base_overrides, *texts), origin)
            if check is not None:
                check(scenario, origin)
        except TcpqError as exc:
            raise ScenarioError(f"point {', '.join(texts)}: {exc}") from None
        draws = tuple(random_draws(scenario))
        point_seeds = tuple(scenario.seed + k for k in range(seeds if draws else 1))
        if point_seeds[-1] > MAX_SEED:
            raise TcpqError(f"--seeds {seeds}: seed {point_seeds[-1]} would pass {MAX_SEED}")
        points.append(Point(index, settings, texts, point_seeds, draws))
        for seed in point_seeds:
            run = scenario.model_copy(update={"seed": seed})
            tasks.append(Task(len(tasks), index, seed, run, release, origin, chosen))
    return SweepPlan(
        file=origin,
        scenario=base.name,
        overrides=base_overrides,
        axes=axes,
        points=tuple(points),
        seeds=seeds,
        metrics=chosen,
        goals=parsed_goals,
        tasks=tuple(tasks),
    )


def run_task(task: Task) -> tuple[int, tuple[Value, ...]]:
    """Simulate one run; its number and the plan's metrics (top level: a worker unpickles it)."""
    from tcpq.sim.runner import simulate

    result = simulate(task.scenario, running_release=task.release, origin=task.origin)
    values = metric_values(result)
    return task.number, tuple(_number(values[name]) for name in task.metrics)


def _number(value: float | None) -> Value:
    return None if value is None else float(value)


# -- aggregation -----------------------------------------------------------------------------


@frozen
class Stat:
    """One metric of one point over its seeds: mean, min and max of the runs that have it."""

    mean: float | None
    min: float | None
    max: float | None
    values: tuple[Value, ...]  # per seed, in the point's seed order


@frozen
class PointResult:
    point: Point
    stats: dict[str, Stat]
    meets_goal: bool | None  # None: no --goal


@frozen
class Sweep:
    plan: SweepPlan
    points: tuple[PointResult, ...]

    @property
    def runs(self) -> int:
        return len(self.plan.tasks)


def stat(values: Sequence[Value]) -> Stat:
    present = [value for value in values if value is not None]
    if not present:
        return Stat(None, None, None, tuple(values))
    return Stat(round(statistics.fmean(present), 6), min(present), max(present), tuple(values))


def aggregate(plan: SweepPlan, results: Sequence[tuple[Value, ...]]) -> Sweep:
    """Per point and metric, the runs' values in seed order; `results[k]` is task k's."""
    if len(results) != len(plan.tasks):
        raise ValueError(f"{len(results)} results for {len(plan.tasks)} runs")
    by_point: dict[int, list[tuple[Value, ...]]] = {}
    for task, values in zip(plan.tasks, results, strict=True):
        by_point.setdefault(task.point, []).append(values)
    points = []
    for point in plan.points:
        runs = by_point[point.index]
        stats = {name: stat([run[k] for run in runs]) for k, name in enumerate(plan.metrics)}
        meets = all(goal.holds(stats[goal.metric].values) for goal in plan.goals) if plan.goals else None
        points.append(PointResult(point, stats, meets))
    return Sweep(plan, tuple(points))


# -- cost ------------------------------------------------------------------------------------

# The reference model's speed on this VM (bench/heavy.toml, an overflowing listener: ~10k client
# attempts/s with their retransmissions; attack SYNs are a handful of events each); a run also
# pays a fixed cost to build its world and summarise.
SECONDS_PER_ATTEMPT = 100e-6
SECONDS_PER_ATTACK_SYN = 10e-6
SECONDS_PER_RUN = 2e-3
LONG_SWEEP_S = 60.0  # warn above this


def estimated_seconds(plan: SweepPlan, processes: int) -> float:
    """Wall time the runs should take on `processes` processes, from the offered attempts."""
    total = 0.0
    for task in plan.tasks:
        scenario = task.scenario
        attempts = sum(expected_attempts(group, scenario.duration) for group in scenario.clients)
        syns = expected_attempts(scenario.attack, scenario.duration) if scenario.attack is not None else 0
        total += SECONDS_PER_RUN + attempts * SECONDS_PER_ATTEMPT + syns * SECONDS_PER_ATTACK_SYN
    return total / max(1, min(processes, len(plan.tasks)))
