"""The simulate report of three examples against golden text at 80 columns, colour off
(STYLE.md habit 13; issue 10).

The runs are the model's, so they depend on the scenario alone: each example names its kernel
version, its [host] timing is the scenario's (no --host file), and the running kernel's release is
passed here as a fixed value rather than read from this machine. Regenerate after an intended
change with TCPQ_UPDATE_GOLDEN=1 and read the diff.
"""

from dataclasses import replace
from pathlib import Path

import pytest
from rich.cells import cell_len

from tcpq.report.run import WIDTH, render_run
from tcpq.scenario import load_scenario
from tcpq.sim.runner import simulate
from tcpq.types import RunResult, TimeSeries

from ..golden import check_golden, render

GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"
NAMES = ("timewait-port-exhaustion", "backlog-nobody-accepts", "synflood-cookies-1")
RELEASE = "6.8.0-generic"  # stands in for platform.release(); the examples pin their own version


def run(name: str, release: str = RELEASE) -> RunResult:
    return simulate(load_scenario(EXAMPLES / f"{name}.toml"), running_release=release)


@pytest.fixture(scope="module", params=NAMES)
def example(request: pytest.FixtureRequest) -> tuple[str, RunResult]:
    name: str = request.param
    return name, run(name)


def test_simulate_report(example: tuple[str, RunResult]) -> None:
    name, result = example
    text = render(render_run(result), WIDTH)
    check_golden(GOLDEN / f"simulate_{name}_80.txt", text)
    too_long = [line for line in text.splitlines() if cell_len(line) > WIDTH]
    assert not too_long, f"lines over {WIDTH} columns: {too_long}"
    assert "…" not in text  # nothing cut with an ellipsis
    assert "\x1b" not in text  # colour off in a pipe


def test_report_fits_a_wider_console_at_80(example: tuple[str, RunResult]) -> None:
    """A pipe's console is 200 columns wide (report/console.py); the report keeps to 80."""
    _, result = example
    text = render(render_run(result), 200)
    assert max(cell_len(line) for line in text.splitlines()) <= WIDTH


def test_the_run_does_not_depend_on_the_running_kernel(example: tuple[str, RunResult]) -> None:
    name, result = example
    assert run(name, release="4.19.0") == result


def test_a_filling_accept_queue_shows_its_limit_and_full() -> None:
    """A result written before cookies and SYN-ACK retransmits were sampled (empty lists) leaves
    them out; an accept queue that fills (limit 4, full at 5) is drawn on a scale to 5."""
    result = run("backlog-nobody-accepts")
    queue = [0, 2, 5, 5, 5]
    series = TimeSeries(
        t_s=[0.1, 0.2, 0.3, 0.4, 0.5],
        accept_queue=queue,
        syn_queue=[0] * 5,
        listen_drops=[0, 0, 0, 4, 0],
        handshakes=[0, 2, 5, 5, 5],
    )
    text = render(render_run(replace(result, timeseries=series)), WIDTH)
    timeline = text[text.index("Over time") :]
    rows = {line.split("  ")[0].strip(): line for line in timeline.splitlines()[3:6]}
    # 0 -> ▁; 2 of 5 -> ceil(2 * 7 / 5) = 3 -> ▄; 5 -> █; first above 0 at 0.2, peak and last at 0.3
    assert rows["accept queue (limit 4)"].split()[4:] == ["▁▄███", "0–5", "full", "0.2", "0.3", "0.3"]
    assert rows["ListenDrops /0.1 s"].split()[3:] == ["▁▁▁█▁", "0–4", "0.4", "0.4", "0.4"]
    # its own maximum is 5 as well, so the same bars
    assert rows["handshakes done"].split()[2:] == ["▁▄███", "0–5", "0.2", "0.3", "0.3"]
    assert "constant: SYN queue 0\n" in timeline
    assert "SYN cookies" not in timeline and "highest of its samples" not in timeline
