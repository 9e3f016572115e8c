"""The charts of a sweep as plain data, for report/sweep_html.py: a heatmap per metric over two
varied keys (first key down, second across), a line per metric over one key. Pure."""

from tcpq.app.sweep import Sweep
from tcpq.records import frozen

MAX_CHARTED_AXES = 2


@frozen
class Heatmap:
    name: str  # an id: [a-z0-9-]+
    metric: str
    x_key: str
    x_ticks: list[str]
    y_key: str
    y_ticks: list[str]
    cells: list[list[float | None]]  # [row][column]: the point's mean over its seeds
    meets: list[list[bool | None]]  # the same, whether the point meets every --goal (None: no goal)


@frozen
class LineChart:
    name: str
    metric: str
    x_key: str
    x_ticks: list[str]
    x: list[float] | None  # the values themselves when all are numbers, else None (evenly spaced)
    mean: list[float | None]
    low: list[float | None]  # min over seeds
    high: list[float | None]
    meets: list[bool | None]


SweepChart = Heatmap | LineChart


def chart_name(metric: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in metric.lower())


def _numbers(values: tuple[object, ...]) -> list[float] | None:
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values]  # type: ignore[arg-type]
    return None


def sweep_charts(sweep: Sweep) -> list[SweepChart]:
    """One chart per metric for one or two varied keys; none for more (the table has them all)."""
    axes = sweep.plan.axes
    if len(axes) > MAX_CHARTED_AXES:
        return []
    charts: list[SweepChart] = []
    for metric in sweep.plan.metrics:
        stats = [point.stats[metric] for point in sweep.points]
        meets = [point.meets_goal for point in sweep.points]
        if len(axes) == 1:
            (axis,) = axes
            charts.append(
                LineChart(
                    name=chart_name(metric),
                    metric=metric,
                    x_key=axis.key,
                    x_ticks=list(axis.texts),
                    x=_numbers(axis.values),
                    mean=[s.mean for s in stats],
                    low=[s.min for s in stats],
                    high=[s.max for s in stats],
                    meets=meets,
                )
            )
            continue
        rows, columns = axes
        width = len(columns.texts)
        charts.append(
            Heatmap(
                name=chart_name(metric),
                metric=metric,
                x_key=columns.key,
                x_ticks=list(columns.texts),
                y_key=rows.key,
                y_ticks=list(rows.texts),
                cells=[[s.mean for s in stats[r * width : (r + 1) * width]] for r in range(len(rows.texts))],
                meets=[meets[r * width : (r + 1) * width] for r in range(len(rows.texts))],
            )
        )
    return charts
