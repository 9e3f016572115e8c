"""`tcpq sweep --html`: one self-contained page, a chart per metric (app/sweep_figures.py) and the
table. Drawn like report/charts.py (matplotlib SVG inline, text as text, the same Content
Security Policy: nothing fetched). A heatmap's cells are one `<g id="cell-NAME-R-C">` each, a line
chart's means the group `series-NAME-0`, so a test can count them in the page."""

import io
from collections.abc import Sequence
from html import escape

import matplotlib
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from tcpq.app.sweep import Sweep
from tcpq.app.sweep_figures import Heatmap, LineChart, SweepChart
from tcpq.report.charts import MARGINS, SIZE_IN, STYLE
from tcpq.report.html import CSS, POLICY
from tcpq.report.sweep import (
    GOAL_MARK,
    header_lines,
    key_label,
    metric_label,
    range_text,
    setting_text,
    value_text,
)

matplotlib.use("Agg")

ROW_IN = 0.42  # a heatmap row's height
MISSING = "#eeeeee"
LINE = "#1f77b4"


def _keys(sweep: Sweep) -> list[str]:
    return [axis.key for axis in sweep.plan.axes]


def _heatmap(chart: Heatmap, title: str) -> Figure:
    rows, columns = len(chart.y_ticks), len(chart.x_ticks)
    figure = Figure(figsize=(SIZE_IN[0], max(SIZE_IN[1], ROW_IN * rows + 1.3)))
    figure.subplots_adjust(left=0.14, right=0.98, bottom=0.5 / (ROW_IN * rows + 1.3) + 0.08, top=0.88)
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=10)
    axes.set_xlabel(chart.x_key)
    axes.set_ylabel(chart.y_key)
    present = [v for row in chart.cells for v in row if v is not None]
    low, high = min(present, default=0.0), max(present, default=1.0)
    norm = Normalize(low, high)
    cmap = matplotlib.colormaps["viridis"]

    def shade(value: float) -> float:
        return float(norm(value)) if high > low else 0.5

    for r, row in enumerate(chart.cells):
        for c, value in enumerate(row):
            colour = MISSING if value is None else cmap(shade(value))
            met = chart.meets[r][c]
            cell = Rectangle(
                (c - 0.5, r - 0.5),
                1,
                1,
                facecolor=colour,
                edgecolor="#d62728" if met else "white",
                linewidth=2.5 if met else 0.5,
            )
            cell.set_gid(f"cell-{chart.name}-{r}-{c}")
            axes.add_patch(cell)
            dark = value is not None and shade(value) < 0.6
            text = value_text(chart.metric, value) + (f" {GOAL_MARK}" if met else "")
            axes.text(c, r, text, ha="center", va="center", fontsize=8, color="white" if dark else "#222222")
    axes.set_xlim(-0.5, columns - 0.5)
    axes.set_ylim(rows - 0.5, -0.5)  # the first value at the top, as in the table
    axes.set_xticks(range(columns), chart.x_ticks)
    axes.set_yticks(range(rows), chart.y_ticks)
    axes.grid(False)
    return figure


def _line(chart: LineChart, title: str) -> Figure:
    figure = Figure(figsize=SIZE_IN)
    figure.subplots_adjust(**MARGINS)
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=10)
    axes.set_xlabel(chart.x_key)
    axes.set_ylabel(metric_label(chart.metric))
    x = chart.x if chart.x is not None else [float(k) for k in range(len(chart.x_ticks))]
    # the points with a value (a p99 needs a connection), each with its min and max over seeds
    shown = [
        (x[k], mean, low, high, bool(chart.meets[k]))
        for k, (mean, low, high) in enumerate(zip(chart.mean, chart.low, chart.high, strict=True))
        if mean is not None and low is not None and high is not None
    ]
    xs = [point[0] for point in shown]
    (line,) = axes.plot(xs, [point[1] for point in shown], "-o", color=LINE, markersize=3, linewidth=1.4)
    line.set_gid(f"series-{chart.name}-0")
    spread = any(point[2] != point[3] for point in shown)
    if spread:
        axes.fill_between(
            xs,
            [point[2] for point in shown],
            [point[3] for point in shown],
            color=LINE,
            alpha=0.18,
            linewidth=0,
            label="min–max over seeds",
        )
    met = [point for point in shown if point[4]]
    if met:
        axes.plot([p[0] for p in met], [p[1] for p in met], "o", color="#d62728", label="meets the goal")
    if chart.x is not None and min(chart.x) > 0 and max(chart.x) / min(chart.x) >= 20:
        axes.set_xscale("log")
    axes.set_xticks(x, chart.x_ticks)
    axes.minorticks_off()
    axes.set_ylim(bottom=min([0.0, *(point[2] for point in shown)]))
    if met or spread:
        axes.legend(loc="best", fontsize=7, frameon=False)
    return figure


def chart_svg(chart: SweepChart) -> str:
    title = metric_label(chart.metric) + f"  ({chart.metric}, mean over seeds)"
    buffer = io.StringIO()
    with matplotlib.rc_context(STYLE):
        figure = _heatmap(chart, title) if isinstance(chart, Heatmap) else _line(chart, title)
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _table(sweep: Sweep) -> str:
    keys = _keys(sweep)
    head = [escape(key_label(key, keys)) for key in keys]
    if sweep.plan.goals:
        head.append("goal")
    head += [escape(metric_label(metric)) for metric in sweep.plan.metrics]
    body = []
    for point in sweep.points:
        cells = [escape(setting_text(value)) for _, value in point.point.settings]
        if sweep.plan.goals:
            cells.append(f"<span class=good>{GOAL_MARK}</span>" if point.meets_goal else "")
        for metric in sweep.plan.metrics:
            entry = point.stats[metric]
            spread = range_text(metric, entry)
            cell = escape(value_text(metric, entry.mean))
            cells.append(cell + (f"<br><span class=dim>{escape(spread)}</span>" if spread else ""))
        body.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    header = "".join(f"<th>{cell}</th>" for cell in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _kind(chart: SweepChart) -> str:
    return "heatmap" if isinstance(chart, Heatmap) else "line"


def render_sweep_html(sweep: Sweep, charts: Sequence[SweepChart], scenario_text: str | None = None) -> str:
    lines = header_lines(sweep)
    facts = "".join(f"<li>{escape(line)}</li>" for line in lines[1:])
    figures = "".join(
        f'<figure class="chart" id="chart-{chart.name}" data-kind="{_kind(chart)}">'
        + chart_svg(chart)
        + "</figure>"
        for chart in charts
    )
    if not charts:
        figures = "<p class=dim>Charts need one or two varied keys; the table has every point.</p>"
    parts = [
        f"<h1>{escape(lines[0])}</h1><ul class=notes>{facts}</ul>",
        "<h2>Charts</h2>" + figures,
        "<h2>Every point</h2>" + _table(sweep),
        f"<h2>Scenario</h2><pre>{escape(scenario_text)}</pre>" if scenario_text else "",
    ]
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>tcpq sweep: {escape(sweep.plan.scenario)}</title><style>{CSS}</style></head><body>"
        + "".join(parts)
        + "<p class=dim>Written by tcpq.</p></body></html>\n"
    )
