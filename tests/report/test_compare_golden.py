"""The compare report at 80 columns, colour off, against golden text (STYLE.md habit 13; issue 10).

The Comparison is built from two saved RunResults of one scenario in tests/data/: the model's
(`tcpq simulate EXAMPLE --json`) and a kernel's run recorded once on this project's machine
(`tcpq lab run EXAMPLE --json`, kernel 6.18), so the text depends on the renderer alone.
java-backlog-50 agrees on every row; backlog-nobody-accepts has the lab's lower-bound SYN-queue
peak ("≥0") and long lab notes. Regenerate after an intended change with TCPQ_UPDATE_GOLDEN=1
and read the diff.
"""

from dataclasses import replace
from pathlib import Path

import pytest
from rich.cells import cell_len

from tcpq.app.results import load_result
from tcpq.compare import Comparison, compare
from tcpq.report.compare import render_comparison
from tcpq.report.run import WIDTH
from tcpq.types import RunResult

from ..golden import check_golden, render

DATA = Path(__file__).resolve().parent.parent / "data"
GOLDEN = Path(__file__).parent / "golden"
NAMES = ("java-backlog-50", "backlog-nobody-accepts")


def saved(name: str, source: str) -> RunResult:
    return load_result(DATA / f"{name}.{source}.json").runs[0]


def comparison_of(name: str) -> Comparison:
    return compare(saved(name, "sim"), saved(name, "lab"))


def check_fits(text: str) -> None:
    too_long = [line for line in text.splitlines() if cell_len(line) > WIDTH]
    assert not too_long, f"lines over {WIDTH} columns: {too_long}"
    assert "…" not in text  # no metric name or number cut
    assert "\x1b" not in text  # colour off in a pipe


@pytest.mark.parametrize("name", NAMES)
def test_compare_report(name: str) -> None:
    comparison = comparison_of(name)
    text = render(render_comparison(comparison), WIDTH)
    check_golden(GOLDEN / f"compare_{name}_80.txt", text)
    check_fits(text)
    # every row is there once, on one line, with its verdict
    for row in comparison.rows:
        section, _, metric = row.metric.partition(".")
        lines = [line for line in text.splitlines() if line.split()[:1] == [metric]]
        assert lines, row.metric
        assert text.splitlines().count(section) == 1


def test_the_saved_runs_are_what_they_say() -> None:
    sim, lab = saved("java-backlog-50", "sim"), saved("java-backlog-50", "lab")
    assert (sim.source.value, lab.source.value) == ("sim", "lab") and sim.scenario == lab.scenario
    assert comparison_of("java-backlog-50").agrees


def test_a_differing_row_fits_too() -> None:
    """The widest cells: DIFFERS, a lower bound, a time to the µs, the longest counter name."""
    comparison = comparison_of("backlog-nobody-accepts")
    rows = [
        replace(row, ok=False, sim=123.456789, lab=0.000213, difference=-123.456576)
        if row.metric == "connect_time_s.p50"
        else row
        for row in comparison.rows
    ]
    rows.append(replace(rows[0], metric="counters.TcpExtTCPACKSkippedSynRecv", sim=123456, lab=1234567))
    text = render(render_comparison(replace(comparison, rows=rows)), WIDTH)
    check_fits(text)
    assert "DIFFERS" in text and "≥0" in text and " TcpExtTCPACKSkippedSynRecv " in text
