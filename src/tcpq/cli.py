"""The command line: parse, call one function, render. No logic lives here."""

import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tcpq import __version__
from tcpq.cli_common import emit_run_result, stdout
from tcpq.errors import TcpqError
from tcpq.report.json import dumps

if TYPE_CHECKING:
    from rich.console import Console


def _stdout() -> "Console":
    return stdout()


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except TcpqError as exc:
            # One line, never wrapped, never a traceback.
            click.echo(f"tcpq: error: {' '.join(str(exc).split())}", err=True)
            sys.exit(2)


@click.group(
    cls=_Group, context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True
)
@click.version_option(__version__, prog_name="tcpq")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Linux TCP connection establishment: visible, explainable, predictable, reproducible.

    Without a command, tcpq shows `tcpq status`.

    \b
    Examples:
      tcpq
      tcpq doctor
      tcpq simulate examples/backlog-nobody-accepts.toml
      tcpq simulate examples/synflood-cookies-1.toml --set kernel.sysctl.net.ipv4.tcp_syncookies=0
      tcpq explain listenoverflows
    """
    if ctx.invoked_subcommand is None:
        from tcpq.cli_host import status

        ctx.invoke(status)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a scenario key, e.g. server.backlog=128 or kernel.sysctl.net.core.somaxconn=128.",
)
@click.option("--seed", type=int, default=None, help="Random seed (overrides the file's seed).")
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
def simulate(
    file: Path,
    overrides: tuple[str, ...],
    seed: int | None,
    as_json: bool,
    out: Path | None,
    host_file: Path | None,
) -> None:
    """Predict what a scenario does to a service, with the kernel model.

    \b
    Examples:
      tcpq simulate examples/backlog-nobody-accepts.toml
      tcpq simulate examples/nginx-somaxconn-128.toml --set kernel.sysctl.net.core.somaxconn=4096
      tcpq simulate examples/synflood-cookies-1.toml --json --out result.json
      tcpq simulate examples/java-backlog-50.toml --host host.toml
    """
    from tcpq.scenario import load_scenario
    from tcpq.sim.runner import simulate as run_simulation

    all_overrides = (*overrides, f"seed={seed}") if seed is not None else overrides
    scenario = load_scenario(file, all_overrides, host_file=host_file)
    from tcpq.report.console import progress

    with progress(f"simulating {scenario.name}") as on_progress:
        result = run_simulation(
            scenario, running_release=platform.release(), origin=str(file), on_progress=on_progress
        )
    emit_run_result(result, as_json, out)


@main.command()
@click.argument("term")
@click.option(
    "--kernel",
    "kernel_version",
    default=None,
    metavar="VERSION",
    help="Show defaults for this kernel (default: the running kernel).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the entry as JSON.")
def explain(term: str, kernel_version: str | None, as_json: bool) -> None:
    """Explain a sysctl, a counter or a TCP state (case-insensitive).

    \b
    Examples:
      tcpq explain listenoverflows
      tcpq explain somaxconn --kernel 5.3
      tcpq explain close_wait --json
    """
    from tcpq.kernel.lookup import entry_to_dict
    from tcpq.kernel.lookup import explain as lookup
    from tcpq.kernel.versions import parse_version
    from tcpq.report.explain import render_entry

    version = parse_version(kernel_version or platform.release())
    entry = lookup(term, version)
    if as_json:
        click.echo(dumps(entry_to_dict(entry, version)))
    else:
        _stdout().print(render_entry(entry, version))


def _register() -> None:
    from tcpq import cli_host, cli_lab

    for command in (
        cli_host.status,
        cli_host.states,
        cli_host.counters,
        cli_host.sysctl,
        cli_host.doctor,
        cli_lab.lab,
        cli_lab.compare_command,
    ):
        main.add_command(command)


_register()
