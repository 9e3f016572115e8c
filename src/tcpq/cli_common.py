"""Helpers shared by the command modules (consoles, JSON output). Imported by every command,
so it imports only click; the rest comes when a helper is called."""

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import click

from tcpq.errors import TcpqError

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from tcpq.compare import Comparison
    from tcpq.types import RunResult


def stdout() -> "Console":
    from tcpq.report.console import stdout as make

    return make()


def print_json(data: object) -> None:
    from tcpq.report.json import dumps

    click.echo(dumps(data))


def write_json(path: "Path", data: object) -> None:
    from tcpq.report.json import dumps

    try:
        path.write_text(dumps(data) + "\n", encoding="utf-8")
    except OSError as exc:
        raise TcpqError(f"cannot write {path}: {exc.strerror}") from None


def emit_run_result(result: "RunResult", as_json: bool, out: "Path | None") -> None:
    """Print a RunResult (terminal or JSON) and, with --out, also write its JSON to a file."""
    from tcpq.report.json import dumps, run_result_dict
    from tcpq.report.run import render_run

    data = run_result_dict(result)
    if out is not None:
        write_json(out, data)
    if as_json:
        click.echo(dumps(data))
    else:
        stdout().print(render_run(result))


def picture_options(command: Callable[..., None]) -> Callable[..., None]:
    """--html FILE and --png DIR, as simulate, lab, compare and report take them."""
    from pathlib import Path  # ~10 ms (urllib, ipaddress): not for `tcpq explain`

    command = click.option(
        "--png",
        "png_dir",
        type=click.Path(file_okay=False, path_type=Path),
        metavar="DIR",
        help="Also write each chart as DIR/NAME.png.",
    )(command)
    return click.option(
        "--html",
        "html_file",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help="Also write a self-contained HTML report (charts inline, nothing fetched).",
    )(command)


def write_pictures(
    runs: "Sequence[RunResult]",
    comparison: "Comparison | None",
    scenario_file: "Path | None",
    html_file: "Path | None",
    png_dir: "Path | None",
) -> None:
    """The HTML page and/or the PNG charts of a run (or of model and kernel), said on stderr."""
    if html_file is None and png_dir is None:
        return
    from tcpq.app.run_figures import run_charts
    from tcpq.report.charts import chart_png
    from tcpq.report.html import render_html

    charts = run_charts(runs)
    try:
        if html_file is not None:
            text = scenario_file.read_text(encoding="utf-8") if scenario_file is not None else None
            html_file.write_text(render_html(runs, charts, comparison, text), encoding="utf-8")
            click.echo(f"wrote {html_file} ({len(charts)} charts)", err=True)
        if png_dir is not None:
            png_dir.mkdir(parents=True, exist_ok=True)
            for chart in charts:
                (png_dir / f"{chart.name}.png").write_bytes(chart_png(chart))
            click.echo(f"wrote {len(charts)} charts to {png_dir}/", err=True)
    except OSError as exc:
        raise TcpqError(f"cannot write {exc.filename}: {exc.strerror}") from None
