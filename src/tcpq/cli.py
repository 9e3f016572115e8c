"""The command line: parse, call one function, render. No logic lives here."""

import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from tcpq import __version__
from tcpq.cli_common import emit_run_result, picture_options, stdout, write_pictures
from tcpq.errors import TcpqError, Terminated
from tcpq.report.json import dumps

if TYPE_CHECKING:
    from rich.console import Console


def _stdout() -> "Console":
    return stdout()


EXIT_INTERRUPTED = 130  # 128 + SIGINT: what a shell reports for a program Ctrl-C stopped


def _interrupted(exc: KeyboardInterrupt) -> NoReturn:
    # Click would print "Aborted!" and exit 1. Whatever ran has unwound through its `finally`
    # blocks by now (progress bars stopped, lab namespaces and processes cleaned up).
    if isinstance(exc, Terminated):
        click.echo(f"tcpq: terminated by signal {exc.signum}", err=True)
        sys.exit(128 + exc.signum)
    click.echo("tcpq: interrupted", err=True)
    sys.exit(EXIT_INTERRUPTED)


class _Group(click.Group):
    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeyboardInterrupt as exc:
            _interrupted(exc)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except TcpqError as exc:
            # One line, never wrapped, never a traceback.
            click.echo(f"tcpq: error: {' '.join(str(exc).split())}", err=True)
            sys.exit(2)
        except KeyboardInterrupt as exc:
            _interrupted(exc)


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
            running_release=platform.release(),
            origin=str(file),
            on_progress=on_progress,
            overrides=overrides,
            memory=limit,
        )
    emit_run_result(result, as_json, out)
    write_pictures([result], None, file, html_file, png_dir)


@main.command()
@click.argument("term", required=False)
@click.option(
    "--kernel",
    "kernel_version",
    default=None,
    metavar="VERSION",
    help="Show defaults for this kernel (default: the running kernel).",
)
@click.option("--list", "list_topics", is_flag=True, help="List every topic: states, counters, sysctls.")
@click.option("--json", "as_json", is_flag=True, help="Print the entry (or the list) as JSON.")
def explain(term: str | None, kernel_version: str | None, list_topics: bool, as_json: bool) -> None:
    """Explain a sysctl, a counter or a TCP state (case-insensitive).

    \b
    Examples:
      tcpq explain listenoverflows
      tcpq explain somaxconn --kernel 5.3
      tcpq explain close_wait --json
      tcpq explain --list | grep -i syn
    """
    from tcpq.kernel.lookup import entry_to_dict, topic_to_dict, topics
    from tcpq.kernel.lookup import explain as lookup
    from tcpq.kernel.versions import parse_version
    from tcpq.report.explain import render_entry, render_topics

    if list_topics:
        if term is not None:
            raise TcpqError(f"explain: give a TERM ({term!r}) or --list, not both")
        if as_json:
            click.echo(dumps({"topics": [topic_to_dict(entry) for entry in topics()]}))
        else:
            _stdout().print(render_topics(topics()))
        return
    if term is None:
        raise TcpqError("explain: give a TERM, e.g. `tcpq explain somaxconn`, or --list for every topic")
    version = parse_version(kernel_version or platform.release())
    entry = lookup(term, version)
    if as_json:
        click.echo(dumps(entry_to_dict(entry, version)))
    else:
        _stdout().print(render_entry(entry, version))


def _register() -> None:
    from tcpq import cli_export, cli_host, cli_lab, cli_report, cli_top, cli_trace

    for command in (
        cli_host.status,
        cli_host.states,
        cli_host.counters,
        cli_host.sysctl,
        cli_host.doctor,
        cli_lab.lab,
        cli_lab.compare_command,
        cli_report.report,
        cli_export.export,
        cli_top.top,
        cli_trace.trace,
    ):
        main.add_command(command)


_register()
