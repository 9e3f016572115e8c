"""Terminal rendering of a Comparison."""

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tcpq.compare import Comparison


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:g}" if isinstance(value, float) else str(value)


def render_comparison(comparison: Comparison) -> RenderableType:
    table = Table(title=f"{comparison.scenario}: model vs kernel", title_justify="left", show_edge=False)
    for column in ("metric", "sim", "lab", "Δ", "±", "verdict"):
        table.add_column(column, justify="left" if column in ("metric", "verdict") else "right")
    for row in comparison.rows:
        verdict = Text("ok", style="good") if row.ok else Text("DIFFERS", style="bad")
        # A lab peak its samples may have missed is a lower bound: "≥5", agreeing up to the limit.
        lab = f"≥{_fmt(row.lab)}" if row.lab_lower_bound else _fmt(row.lab)
        table.add_row(row.metric, _fmt(row.sim), lab, _fmt(row.difference), f"{row.tolerance:g}", verdict)
    summary = Text(
        "model and kernel agree within tolerance" if comparison.agrees else "model and kernel differ",
        style="good" if comparison.agrees else "bad",
    )
    return Group(table, Text(""), summary, *(Text(note, style="dim") for note in comparison.notes))
