"""`tcpq sweep --html`: a heatmap per metric for two varied keys (one cell per point, its value
written in it), a line per metric for one key (one vertex per value), loaded in headless
Chromium: no request, no console error, not blank."""

import json
import re
from pathlib import Path

from click.testing import CliRunner

from tcpq.cli import main
from tcpq.report.sweep import value_text

from ..report.browser import load_page, needs_chromium

ROOT = Path(__file__).resolve().parent.parent.parent
NGINX = ROOT / "examples" / "nginx-somaxconn-128.toml"
JAVA = ROOT / "examples" / "java-backlog-50.toml"
METRICS = ("clients.connected", "clients.timed_out", "connect_time_s.p99", "counters.TcpExtListenOverflows")


def write_page(tmp_path: Path, *args: str) -> tuple[str, dict[str, object]]:
    page = tmp_path / "sweep.html"
    result = CliRunner().invoke(main, ["sweep", *args, "--json", "--html", str(page)])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"wrote {page} (4 charts)\n"
    data: dict[str, object] = json.loads(result.stdout)
    return page.read_text(encoding="utf-8"), data


def figure(text: str, name: str) -> str:
    match = re.search(
        rf'<figure class="chart" id="chart-{name}" data-kind="(\w+)">(.*?)</figure>', text, re.S
    )
    assert match is not None, name
    return match.group(1) + ":" + match.group(2)


def test_two_keys_give_a_heatmap_per_metric_with_a_cell_per_point(tmp_path: Path) -> None:
    text, data = write_page(
        tmp_path,
        str(NGINX),
        "--vary",
        "kernel.sysctl.net.core.somaxconn=128,1024,4096",
        "--vary",
        "server.backlog=64,511",
        "--goal",
        "connect_time_s.p99<0.1",
    )
    points = data["points"]
    assert isinstance(points, list) and len(points) == 6
    for metric in METRICS:
        chart = figure(text, re.sub(r"[^a-z0-9]", "-", metric.lower()))
        assert chart.startswith("heatmap:<svg")
        cells = re.findall(r'<g id="cell-[a-z0-9-]+-(\d)-(\d)">', chart)
        assert sorted(cells) == [(str(r), str(c)) for r in range(3) for c in range(2)]
        # each cell is labelled with the point's mean, as the table writes it
        for point in points:
            mean = point["metrics"][metric]["mean"]
            assert f">{value_text(metric, mean)}" in chart
    assert "Content-Security-Policy" in text and "<script" not in text and "<link" not in text
    assert text.count("<tr>") == 1 + 6  # the table: a header and a row per point


def test_one_key_gives_a_line_per_metric(tmp_path: Path) -> None:
    text, _ = write_page(tmp_path, str(JAVA), "--vary", "server.backlog=16,50,128,511", "--seeds", "2")
    for metric in METRICS:
        name = re.sub(r"[^a-z0-9]", "-", metric.lower())
        chart = figure(text, name)
        assert chart.startswith("line:<svg")
        line = re.search(rf'<g id="series-{name}-0">\s*<path d="([^"]*)"', chart)
        assert line is not None and len(re.findall(r"[ML]", line.group(1))) == 4


@needs_chromium
def test_the_page_loads_in_chromium_fetching_nothing(tmp_path: Path) -> None:
    write_page(
        tmp_path,
        str(NGINX),
        "--vary",
        "kernel.sysctl.net.core.somaxconn=128,1024",
        "--vary",
        "server.backlog=64,511",
    )
    page = load_page(tmp_path / "sweep.html")
    assert page.requests == [] and page.console_errors == [] and page.page_errors == []
    assert page.pixel_stdev > 0.05
    charts = page.dom["charts"]
    assert [chart["svgs"] for chart in charts] == [1, 1, 1, 1]
