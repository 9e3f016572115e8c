"""`tcpq sweep`: a scenario over the cross product of settings, on this machine's cores or a cluster."""

import os
from pathlib import Path

import click

from tcpq.cli_common import print_json, stdout


@click.command("sweep")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--vary",
    multiple=True,
    metavar="KEY=V1,V2,...",
    help="A key (as --set takes it) and its values; several --vary give their cross product.",
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a key at every point.")
@click.option(
    "--seeds",
    type=int,
    default=1,
    show_default=True,
    help="Runs per point, with the point's seed + 0..N-1 (only where the scenario draws at random).",
)
@click.option("--jobs", type=int, default=None, help="Worker processes (default: every core).")
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    metavar="NAME",
    help="A metric to show, named as `tcpq compare` rows (connect_time_s.p99,"
    " counters.TcpExtListenOverflows, ...); default: connected, timed out, connect p99, ListenOverflows.",
)
@click.option(
    "--goal",
    "goals",
    multiple=True,
    metavar="METRIC<NUMBER",
    help="Mark the points where every run meets it, e.g. 'connect_time_s.p99<0.1' (<, <=, >, >=, ==).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the sweep as JSON (docs/sweep.md).")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also write a self-contained page: a heatmap (two keys) or a line (one key) per metric.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Run on a Dask cluster (tcp://HOST:8786) instead of local cores; needs tcpq[cluster].",
)
@click.option(
    "--max-memory", metavar="SIZE", default=None, help="Allow runs estimated to need up to SIZE each."
)
def sweep(
    file: Path,
    vary: tuple[str, ...],
    overrides: tuple[str, ...],
    seeds: int,
    jobs: int | None,
    metrics: tuple[str, ...],
    goals: tuple[str, ...],
    as_json: bool,
    html_file: Path | None,
    scheduler: str | None,
    max_memory: str | None,
) -> None:
    """Simulate FILE at every combination of the --vary values and tabulate the outcomes.

    Each point runs --seeds times (seed, seed + 1, ...) where the scenario draws anything at
    random; a cell shows the mean and, under it, the min–max over those runs. Results are the
    same for any --jobs and on a cluster.

    \b
    Examples:
      tcpq sweep examples/java-backlog-50.toml --vary server.backlog=16,50,128,511
      tcpq sweep examples/nginx-somaxconn-128.toml --vary kernel.sysctl.net.core.somaxconn=128,1024 \\
          --vary server.backlog=64,511 --seeds 5 --goal 'connect_time_s.p99<0.1' --html sweep.html
      tcpq sweep examples/java-backlog-50.toml --vary server.workers=5,10,20 --json
      tcpq sweep examples/java-backlog-50.toml --vary server.backlog=50,511 --scheduler tcp://10.0.0.5:8786
    """
    from tcpq.app.sweep_run import run_sweep
    from tcpq.report.sweep import render_sweep, sweep_dict, sweep_progress

    result = run_sweep(
        file,
        vary=vary,
        overrides=overrides,
        seeds=seeds,
        jobs=jobs if jobs is not None else (os.cpu_count() or 1),
        metrics=metrics,
        goals=goals,
        scheduler=scheduler,
        max_memory=max_memory,
        release=os.uname().release,
        progress=lambda total: sweep_progress(total, f"sweep {file.stem}", enabled=not as_json),
        warn=lambda line: click.echo(f"tcpq: warning: {line}", err=True),
    )
    if as_json:
        print_json(sweep_dict(result))
    else:
        stdout().print(render_sweep(result))
    if html_file is not None:
        from tcpq.app.sweep_figures import sweep_charts
        from tcpq.errors import TcpqError
        from tcpq.report.sweep_html import render_sweep_html

        charts = sweep_charts(result)
        try:
            html_file.write_text(
                render_sweep_html(result, charts, file.read_text(encoding="utf-8")), encoding="utf-8"
            )
        except OSError as exc:
            raise TcpqError(f"cannot write {html_file}: {exc.strerror}") from None
        click.echo(f"wrote {html_file} ({len(charts)} charts)", err=True)
