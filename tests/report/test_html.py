"""`--html` and `--png`: the pictures of a run, rendered by a real browser (headless Chromium).

The page must make no request at all, log no error, hold each chart as inline SVG with one
group per data series and one point per sample, and not be blank. Expected counts come from
the run's own JSON (its time series and histograms), not from the chart code.
"""

import json
import os
import re
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pytest
from click.testing import CliRunner

from tcpq.cli import main

from .browser import load_page, needs_chromium

ROOT = Path(__file__).resolve().parent.parent.parent
SYNFLOOD = ROOT / "examples" / "synflood-cookies-1.toml"
NOBODY = ROOT / "examples" / "backlog-nobody-accepts.toml"
NO_COOKIES = ROOT / "examples" / "synflood-cookies-0.toml"
RATES = ("listen_drops", "cookies_sent", "synack_retrans", "client_syn_retrans")
OUTCOMES = ("refused", "reset", "timed_out")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def cdf_points(histogram: dict[str, Any]) -> int:
    """A CDF line: two points per non-empty bucket (its lower and upper edge)."""
    return 2 * sum(1 for count in histogram["counts"] if count)


def outcomes_seen(*results: dict[str, Any]) -> list[str]:
    """The outcome series above zero somewhere in any of the runs (a compare draws them for both)."""
    return [name for name in OUTCOMES if any(any(result["timeseries"][name]) for result in results)]


def expected_charts(result: dict[str, Any], outcomes: list[str] | None = None) -> dict[str, list[int]]:
    """Chart id → the point count of each of its data series, for one run's JSON; the clients
    chart has connected and each outcome in `outcomes` (default: those this run saw)."""
    series, clients = result["timeseries"], result["clients"]
    samples = len(series["t_s"])
    drawn = outcomes_seen(result) if outcomes is None else outcomes
    charts = {
        "chart-accept-queue": [samples],
        "chart-syn-queue": [samples],
        "chart-rates": [samples for name in RATES if series[name]],
        "chart-clients": [samples] + [samples for name in drawn],
        "chart-connect-cdf": [cdf_points(clients["connect_time_hist"])]
        if any(clients["connect_time_hist"]["counts"])
        else [],
    }
    if clients["response_time_hist"] is not None:
        charts["chart-response-cdf"] = [cdf_points(clients["response_time_hist"])]
    return charts


def drawn_charts(dom: dict[str, Any]) -> dict[str, list[int]]:
    charts = {}
    for chart in dom["charts"]:
        assert chart["svgs"] == 1, chart
        assert int(chart["data_series"]) == len(chart["series"]), chart
        charts[chart["id"]] = [series["points"] for series in chart["series"]]
    return charts


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("html")
    code, _, stderr = run(
        "simulate",
        str(SYNFLOOD),
        "--out",
        str(directory / "run.json"),
        "--html",
        str(directory / "run.html"),
        "--png",
        str(directory / "png"),
    )
    assert code == 0, stderr
    assert "wrote" in stderr and "6 charts" in stderr
    return directory


@needs_chromium
def test_a_simulate_report_renders_offline_with_every_chart(simulated: Path) -> None:
    page = load_page(simulated / "run.html")
    assert page.requests == [] and page.console_errors == [] and page.page_errors == []
    assert page.pixel_stdev > 0.05  # not blank: charts and tables on white
    result = json.loads((simulated / "run.json").read_text())
    assert drawn_charts(page.dom) == expected_charts(result)


@needs_chromium
def test_client_outcomes_over_time_are_drawn_as_the_json_has_them(tmp_path: Path) -> None:
    """synflood-cookies-0: without cookies 98 clients time out; the clients chart draws connected
    and timed out (nobody refused or reset), the rates chart client SYN retransmissions."""
    code, _, stderr = run(
        "simulate", str(NO_COOKIES), "--out", str(tmp_path / "run.json"), "--html", str(tmp_path / "run.html")
    )
    assert code == 0, stderr
    result = json.loads((tmp_path / "run.json").read_text())
    assert outcomes_seen(result) == ["timed_out"] and any(result["timeseries"]["client_syn_retrans"])
    page = load_page(tmp_path / "run.html")
    assert page.requests == [] and page.console_errors == [] and page.page_errors == []
    drawn = drawn_charts(page.dom)
    assert drawn == expected_charts(result)
    samples = len(result["timeseries"]["t_s"])
    assert drawn["chart-clients"] == [samples, samples] and drawn["chart-rates"] == [samples] * 4


def test_the_page_fetches_nothing_and_holds_the_run(simulated: Path) -> None:
    text = (simulated / "run.html").read_text()
    assert "<script" not in text and "<link" not in text and "@import" not in text
    # matplotlib's SVG refers to its own definitions (xlink:href="#..."); nothing else is linked
    references = re.findall(r'(?:src|href)="([^"]*)"', text)
    assert references and all(reference.startswith("#") for reference in references)
    assert "default-src 'none'" in text  # the browser refuses any fetch
    result = json.loads((simulated / "run.json").read_text())
    assert result["scenario"] in text and f"seed</td><td>{result['seed']}" in text
    assert SYNFLOOD.read_text().splitlines()[0].replace('"', "&quot;") in text  # the scenario file
    for name, value in result["counters"].items():
        if value:
            assert f"<td>{name}</td><td>{value}</td>" in text


def test_png_writes_each_chart_as_a_picture(simulated: Path) -> None:
    files = sorted(path.stem for path in (simulated / "png").glob("*.png"))
    assert files == sorted(
        name.removeprefix("chart-")
        for name in expected_charts(json.loads((simulated / "run.json").read_text()))
    )
    for path in (simulated / "png").glob("*.png"):
        pixels = matplotlib.image.imread(path)
        assert pixels.shape[1] > 600 and float(np.std(pixels[..., :3])) > 0.02


def figures(html: str) -> list[str]:
    return re.findall(r'<figure class="chart".*?</figure>', html, flags=re.S)


def test_a_saved_result_is_drawn_as_the_run_was(simulated: Path, tmp_path: Path) -> None:
    code, _, stderr = run("report", str(simulated / "run.json"), "--html", str(tmp_path / "again.html"))
    assert code == 0, stderr
    again, first = (tmp_path / "again.html").read_text(), (simulated / "run.html").read_text()
    assert figures(again) == figures(first) and len(figures(first)) == 6
    code, stdout, _ = run("report", str(simulated / "run.json"))
    assert code == 0 and "Client outcomes" in stdout


@pytest.mark.parametrize(
    ("content", "says"),
    [("{", "not JSON"), ('{"source": "sim"}', "not a tcpq result"), (None, "cannot read")],
)
def test_a_bad_result_file_is_one_line_and_exit_2(tmp_path: Path, content: str | None, says: str) -> None:
    path = tmp_path / "result.json"
    if content is not None:
        path.write_text(content)
    code, _, stderr = run("report", str(path), "--html", str(tmp_path / "x.html"))
    assert code == 2 and says in stderr and len(stderr.strip().splitlines()) == 1
    assert "Traceback" not in stderr and not (tmp_path / "x.html").exists()


@needs_chromium
@pytest.mark.skipif(os.geteuid() != 0, reason="compare runs the lab: needs root (CI runs as root)")
def test_a_compare_report_overlays_model_and_kernel(tmp_path: Path) -> None:
    code, _, stderr = run(
        "compare",
        str(NOBODY),
        "--out",
        str(tmp_path / "compare.json"),
        "--html",
        str(tmp_path / "compare.html"),
    )
    assert code in (0, 1), stderr  # 1: a metric differs; the page says which
    saved = json.loads((tmp_path / "compare.json").read_text())
    page = load_page(tmp_path / "compare.html")
    assert page.requests == [] and page.console_errors == [] and page.page_errors == []
    assert page.pixel_stdev > 0.05
    seen = outcomes_seen(saved["sim"], saved["lab"])
    model, kernel = expected_charts(saved["sim"], seen), expected_charts(saved["lab"], seen)
    overlaid = {name: model[name] + kernel[name] for name in model}
    assert drawn_charts(page.dom) == overlaid
    text = (tmp_path / "compare.html").read_text()
    verdicts = re.findall(r"<td><span class=(?:good>ok|bad>DIFFERS)</span></td>", text)
    assert len(verdicts) == len(saved["comparison"]["rows"])
    assert ("agree within tolerance on every metric" in text) == saved["agrees"]
