"""A sweep in the terminal (a table per point that fits the width), as JSON, and its progress bar.

Each metric cell is the mean over the point's seeds, with min–max under it when the seeds
differ. A table too wide for the terminal is split into several, each repeating the varied keys.
"""

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Group, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from tcpq.app.sweep import PointResult, Stat, Sweep
from tcpq.report.console import ByWidth, Cell, Col, fit_table, stderr

GOAL_MARK = "✓"
TIME_PREFIXES = ("connect_time_s.", "response_time_s.")
SHORT_PREFIXES = {"clients.": "", "listener.": "", "counters.": "", "client_counters.": "client "}


def metric_label(metric: str) -> str:
    """A column header: connect_time_s.p99 → connect p99, counters.TcpExtListenOverflows →
    ListenOverflows, client_counters.TcpExtTCPSynRetrans → client TCPSynRetrans."""
    for prefix in TIME_PREFIXES:
        if metric.startswith(prefix):
            return f"{prefix.split('_')[0]} {metric.removeprefix(prefix)}"
    for prefix, short in SHORT_PREFIXES.items():
        if metric.startswith(prefix):
            name = metric.removeprefix(prefix)
            return short + name.removeprefix("TcpExt").replace("_", " ")
    return metric


def key_label(key: str, keys: Sequence[str]) -> str:
    """A varied key's column header: its last part (somaxconn, backlog) unless two keys share it."""
    last = key.rsplit(".", 1)[-1]
    return last if [k.rsplit(".", 1)[-1] for k in keys].count(last) == 1 else key


def value_text(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    if metric.startswith(TIME_PREFIXES):
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.3f} s"
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def range_text(metric: str, entry: Stat) -> str | None:
    if entry.min is None or entry.max is None or entry.min == entry.max:
        return None
    if metric.startswith(TIME_PREFIXES) and entry.max >= 1 > entry.min:
        return f"{value_text(metric, entry.min)}–{value_text(metric, entry.max)}"
    low, high = value_text(metric, entry.min), value_text(metric, entry.max)
    unit = ""
    for suffix in (" ms", " s"):
        if low.endswith(suffix) and high.endswith(suffix):
            low, high, unit = low.removesuffix(suffix), high.removesuffix(suffix), suffix
    return f"{low}–{high}{unit}"


def setting_text(value: object) -> str:
    if isinstance(value, tuple | list):
        return " ".join(str(part) for part in value)
    return str(value)


def _cell(metric: str, entry: Stat) -> Cell:
    spread = range_text(metric, entry)
    text = Text(value_text(metric, entry.mean))
    if spread is not None:
        text.append("\n" + spread, style="dim")
    return text


def _row(point: PointResult, metrics: Sequence[str], goals: bool) -> list[Cell]:
    row: list[Cell] = [setting_text(value) for _, value in point.point.settings]
    if goals:
        row.append(GOAL_MARK if point.meets_goal else "")
    row.extend(_cell(metric, point.stats[metric]) for metric in metrics)
    return row


def _columns(sweep: Sweep, metrics: Sequence[str]) -> list[Col]:
    keys = [axis.key for axis in sweep.plan.axes]
    columns = [Col(key_label(key, keys), right=True) for key in keys]
    if sweep.plan.goals:
        columns.append(Col("goal"))
    columns.extend(Col(metric_label(metric), right=True) for metric in metrics)
    return columns


def _tables(sweep: Sweep, width: int) -> RenderableType:
    """As many metrics per table as fit `width` (at least one: a lone metric too wide is drawn
    as it is, wrapped by the terminal)."""
    metrics = list(sweep.plan.metrics)
    goals = bool(sweep.plan.goals)
    parts: list[RenderableType] = []
    while metrics:
        table: RenderableType | None = None
        for take in range(len(metrics), 0, -1):
            chosen = metrics[:take]
            rows = [_row(point, chosen, goals) for point in sweep.points]
            table = fit_table(None, _columns(sweep, chosen), rows, width)
            if table is not None:
                metrics = metrics[take:]
                break
        if table is None:  # not even one metric fits: draw it at its own width anyway
            chosen, metrics = metrics[:1], metrics[1:]
            rows = [_row(point, chosen, goals) for point in sweep.points]
            table = fit_table(None, _columns(sweep, chosen), rows, 10_000)
        assert table is not None
        parts.append(table)
    return Group(*parts)


def seeds_note(sweep: Sweep) -> str:
    plan = sweep.plan
    once = sum(1 for point in plan.points if len(point.seeds) == 1)
    if plan.seeds == 1:
        return "seeds: one run per point, with its scenario's seed (--seeds N for more)"
    note = f"seeds: each point's scenario seed + 0..{plan.seeds - 1}"
    if once == len(plan.points):
        return note + "; no point draws anything at random, so each ran once"
    if once:
        note += f"; {once} points draw nothing at random and ran once"
    return note + "; cells: mean, min–max under it"


def _values(texts: Sequence[str], most: int = 8) -> str:
    if len(texts) <= most:
        return ", ".join(texts)
    return ", ".join([*texts[: most - 2], "…", texts[-1]]) + f": {len(texts)} values"


def header_lines(sweep: Sweep) -> list[str]:
    plan = sweep.plan
    sizes = " × ".join(str(len(axis.texts)) for axis in plan.axes)
    count = f"{sizes} = {len(plan.points)}" if len(plan.axes) > 1 else str(len(plan.points))
    lines = [f"sweep {plan.scenario}: {count} points, {sweep.runs} runs"]
    lines.append("varied: " + " × ".join(f"{axis.key} ({_values(axis.texts)})" for axis in plan.axes))
    lines.extend(f"--set {text}" for text in plan.overrides)
    lines.append(seeds_note(sweep))
    if plan.goals:
        met = sum(1 for point in sweep.points if point.meets_goal)
        goal = " and ".join(goal.text for goal in plan.goals)
        lines.append(f"goal: {goal} in every run: {met} of {len(plan.points)} points ({GOAL_MARK})")
    return lines


def render_sweep(sweep: Sweep) -> RenderableType:
    lines = [Text(line, style="title" if k == 0 else "dim") for k, line in enumerate(header_lines(sweep))]
    return Group(*lines, Text(""), ByWidth(lambda width: _tables(sweep, width)))


# -- JSON ------------------------------------------------------------------------------------


def _jsonable(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def sweep_dict(sweep: Sweep) -> dict[str, Any]:
    """`tcpq sweep --json` (docs/sweep.md): the same figures the table shows, per run too."""
    plan = sweep.plan
    return {
        "scenario": plan.scenario,
        "file": plan.file,
        "overrides": list(plan.overrides),
        "vary": [{"key": axis.key, "values": [_jsonable(v) for v in axis.values]} for axis in plan.axes],
        "seeds": plan.seeds,
        "metrics": list(plan.metrics),
        "goals": [{"metric": g.metric, "op": g.op, "value": g.bound, "text": g.text} for g in plan.goals],
        "runs": sweep.runs,
        "points": [
            {
                "index": point.point.index,
                "settings": {key: _jsonable(value) for key, value in point.point.settings},
                "seeds": list(point.point.seeds),
                "random_draws": list(point.point.draws),
                "metrics": {
                    name: {"mean": s.mean, "min": s.min, "max": s.max, "values": list(s.values)}
                    for name, s in point.stats.items()
                },
                "meets_goal": point.meets_goal,
            }
            for point in sweep.points
        ],
    }


# -- progress --------------------------------------------------------------------------------


@contextmanager
def sweep_progress(total: int, label: str, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """Runs done of `total` with the time left, on stderr, only in a terminal (and not with
    --json, where `enabled` is False) and only once the sweep has taken over a second."""
    console = stderr()
    started = time.monotonic()
    bar: Progress | None = None
    task = None

    def update(done: int) -> None:
        nonlocal bar, task
        if bar is None:
            if not enabled or not console.is_terminal or time.monotonic() - started < 1.0:
                return
            bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            bar.start()
            task = bar.add_task(label, total=total)
        assert task is not None
        bar.update(task, completed=done)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()
