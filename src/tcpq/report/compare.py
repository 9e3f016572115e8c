"""Terminal rendering of a Comparison: fits 80 columns without cutting a metric's name.

A row's metric is `section.name` (clients.connected, client_counters.TcpExtTCPSynRetrans, as in
the JSON); the table names each section once, on a row of its own, with its metrics indented
under it, so the longest counter name fits beside five columns of numbers.
"""

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tcpq.compare import Comparison

INDENT = " "


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:g}" if isinstance(value, float) else str(value)


def render_comparison(comparison: Comparison) -> RenderableType:
    table = Table(
        title=f"{comparison.scenario}: model vs kernel",
        title_justify="left",
        show_edge=False,
        box=box.SIMPLE_HEAD,  # no column rules, and one space between columns: room for the names
        pad_edge=False,
        collapse_padding=True,
    )
    for column in ("metric", "sim", "lab", "Δ", "±", "verdict"):
        table.add_column(column, justify="left" if column in ("metric", "verdict") else "right", no_wrap=True)
    section = None
    for row in comparison.rows:
        head, dot, name = row.metric.partition(".")
        if not dot:
            head, name = "", row.metric
        if head and head != section:
            table.add_row(Text(head, style="title"), "", "", "", "", "")
        section = head
        verdict = Text(row.verdict, style="good" if row.ok else "bad")
        # A lab peak its samples may have missed is a lower bound: "≥5", agreeing up to the limit.
        lab = f"≥{_fmt(row.lab)}" if row.lab_lower_bound else _fmt(row.lab)
        table.add_row(
            INDENT + name if head else name,
            _fmt(row.sim),
            lab,
            _fmt(row.difference),
            f"{row.tolerance:g}",
            verdict,
        )
    summary = Text(
        "model and kernel agree within tolerance" if comparison.agrees else "model and kernel differ",
        style="good" if comparison.agrees else "bad",
    )
    return Group(table, Text(""), summary, *(Text(note, style="dim") for note in comparison.notes))
