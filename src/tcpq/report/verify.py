"""Terminal rendering of `tcpq lab verify`."""

import json

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tcpq.types import CheckResult, Verdict

STYLE = {Verdict.PASS: "good", Verdict.FAIL: "bad", Verdict.SKIPPED: "dim"}


def render_checks(results: list[CheckResult]) -> RenderableType:
    table = Table(title="Model vs this kernel", title_justify="left", show_edge=False, show_lines=True)
    for column in ("check", "claim", "kernel (measured)", "model (predicted)", "verdict"):
        table.add_column(column, overflow="fold")
    for result in results:
        table.add_row(
            Text(result.id, style="key"),
            Text(f"{result.claim} ({result.reference})"),
            json.dumps(result.kernel) if result.kernel else result.note,
            json.dumps(result.model) if result.model else "",
            Text(result.verdict.value, style=STYLE[result.verdict]),
        )
    passed = sum(r.verdict is Verdict.PASS for r in results)
    failed = sum(r.verdict is Verdict.FAIL for r in results)
    summary = Text(
        f"{passed} passed, {failed} failed, {len(results) - passed - failed} skipped",
        style="bad" if failed else "good",
    )
    return Group(table, summary)
