"""`tcpq simulate`: predict what a scenario does, with the kernel model."""

import os
from pathlib import Path

import click

from tcpq.cli_common import emit_run_result, picture_options, write_pictures


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a scenario key, e.g. server.backlog=128 or kernel.sysctl.net.core.somaxconn=128.",
)
@click.option(
    "--seed", type=int, default=None, help="Random seed, 0 to 4294967295 (overrides the file's seed)."
)
@click.option(
    "--max-memory",
    metavar="SIZE",
    default=None,
    help="Allow a run estimated to need up to SIZE (e.g. 8G); default: half of MemAvailable, at most 4G.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the RunResult as JSON.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the RunResult as JSON to this file.",
)
@click.option(
    "--host",
    "host_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The host's speed from `tcpq lab calibrate` (a [host] table); default: the reference machine.",
)
@picture_options
def simulate(
    file: Path,
    overrides: tuple[str, ...],
    seed: int | None,
    max_memory: str | None,
    as_json: bool,
    out: Path | None,
    host_file: Path | None,
    html_file: Path | None,
    png_dir: Path | None,
) -> None:
    """Predict what a scenario does to a service, with the kernel model.

    The report names the overrides and the sysctls the run used (* marks a value that differs
    from the kernel's default). A run estimated to need more memory than allowed is refused
    before it starts.

    \b
    Examples:
      tcpq simulate examples/backlog-nobody-accepts.toml
      tcpq simulate examples/nginx-somaxconn-128.toml --set kernel.sysctl.net.core.somaxconn=4096
      tcpq simulate examples/synflood-cookies-1.toml --json --out result.json
      tcpq simulate examples/java-backlog-50.toml --host host.toml
      tcpq simulate examples/synflood-cookies-1.toml --seed 7 --max-memory 8G
      tcpq simulate examples/backlog-nobody-accepts.toml --html run.html --png charts/
    """
    from tcpq.observe.procfs import read_mem_available
    from tcpq.report.console import progress
    from tcpq.scenario import load_scenario
    from tcpq.sim.runner import memory_limit
    from tcpq.sim.runner import simulate as run_simulation

    scenario = load_scenario(file, overrides, host_file=host_file, seed=seed)
    limit = memory_limit(max_memory, read_mem_available())
    with progress(f"simulating {scenario.name}") as on_progress:
        result = run_simulation(
            scenario,
            running_release=os.uname().release,  # platform.release(), without importing it
            origin=str(file),
            on_progress=on_progress,
            overrides=overrides,
            memory=limit,
        )
    emit_run_result(result, as_json, out)
    write_pictures([result], None, file, html_file, png_dir)
