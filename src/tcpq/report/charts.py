"""Charts (app/run_figures.py) drawn as SVG or PNG with matplotlib: drawing only.

matplotlib's object API (Figure, no pyplot): no global figure state, nothing shown. The SVG
keeps its text as text (`svg.fonttype: none`: the browser's own sans-serif, nothing embedded
or fetched) and every vertex (`path.simplify: False`), so a chart holds one point per sample
and its series can be counted in the page. Each data series is a group `series-CHART-K`.
"""

import io
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.typing import RcKeyType

from tcpq.app.run_figures import Chart
from tcpq.types import Source

matplotlib.use("Agg")  # never a GUI backend, whatever the environment says

STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "tcpq",  # stable ids: the same run gives the same file
    "path.simplify": False,
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
SIZE_IN = (7.2, 2.8)
MARGINS = {"left": 0.09, "right": 0.98, "bottom": 0.16, "top": 0.9}
# model solid, kernel dashed; the three rate series keep their own colours in either
DASHES = {Source.SIM: "-", Source.LAB: "--", Source.HOST: ":"}
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def _figure(chart: Chart) -> Figure:
    figure = Figure(figsize=SIZE_IN)
    # Fixed margins, not layout="constrained": that measures every text twice and was half of
    # the drawing time (measured: 2.2 of 4.4 s for the six charts of java-backlog-50)
    figure.subplots_adjust(**MARGINS)
    axes = figure.add_subplot()
    axes.set_title(chart.title, loc="left", fontsize=10)
    axes.set_xlabel(chart.x_label)
    axes.set_ylabel(chart.y_label)
    colours = _colours(chart)
    for k, series in enumerate(chart.series):
        (line,) = axes.plot(
            series.x, series.y, DASHES[series.source], color=colours[k], label=series.label, linewidth=1.4
        )
        line.set_gid(f"series-{chart.name}-{k}")
    for level in chart.levels:
        axes.axhline(level.y, color="#777777", linewidth=0.9, linestyle=":", label=level.label)
    for mark in chart.marks:
        axes.axvline(mark.x, color="#bbbbbb", linewidth=0.8)
        axes.annotate(
            mark.label,
            (mark.x, 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            rotation=90,
            va="top",
            ha="right",
            color="#777777",
        )
    if chart.log_x:
        axes.set_xscale("log")
    axes.set_ylim(bottom=0)  # every quantity here is a count, a length or a share
    if not chart.series:
        axes.text(0.5, 0.5, "no samples", transform=axes.transAxes, ha="center", color="#777777")
    if chart.series or chart.levels:
        axes.legend(loc="best", fontsize=7, frameon=False)
    return figure


def _colours(chart: Chart) -> list[str]:
    """A colour per label without its source, so model and kernel of one quantity match."""
    names: list[str] = []
    for series in chart.series:
        base = series.label.split(" (")[0]
        if base not in names:
            names.append(base)
    return [COLOURS[names.index(series.label.split(" (")[0]) % len(COLOURS)] for series in chart.series]


def chart_svg(chart: Chart) -> str:
    """The chart as an SVG element (no XML prolog, no DOCTYPE: it goes inline in HTML)."""
    buffer = io.StringIO()
    with matplotlib.rc_context(STYLE):
        _figure(chart).savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def chart_png(chart: Chart) -> bytes:
    buffer = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        _figure(chart).savefig(buffer, format="png", dpi=150, metadata={"Software": None})
    return buffer.getvalue()
