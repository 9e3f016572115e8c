"""The command line: parse, call one function, render. No logic lives here.

Start-up is part of every host command's cost, so nothing here imports more than click:
each command imports what it needs when it runs, and the commands kept in other modules are
found through `COMMANDS` and imported only when named (or listed by `tcpq --help`).
"""

import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

from tcpq import __version__
from tcpq.cli_common import print_json, stdout
from tcpq.errors import TcpqError, Terminated

if TYPE_CHECKING:
    from rich.console import Console

# The commands defined in other modules, by name: "module:attribute". One line registers one.
COMMANDS: dict[str, str] = {
    "simulate": "tcpq.cli_simulate:simulate",
    "status": "tcpq.cli_host:status",
    "states": "tcpq.cli_host:states",
    "counters": "tcpq.cli_host:counters",
    "sysctl": "tcpq.cli_host:sysctl",
    "doctor": "tcpq.cli_host:doctor",
    "lab": "tcpq.cli_lab:lab",
    "compare": "tcpq.cli_lab:compare_command",
    "report": "tcpq.cli_report:report",
    "export": "tcpq.cli_export:export",
    "top": "tcpq.cli_top:top",
    "trace": "tcpq.cli_trace:trace",
    "sweep": "tcpq.cli_sweep:sweep",
}


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


def _release() -> str:
    # platform.release() is os.uname().release on Linux, without importing `platform` (~2 ms).
    return os.uname().release


class _Group(click.Group):
    """The top-level group: commands of COMMANDS loaded on first use; TcpqError → one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, _, attribute = COMMANDS[cmd_name].partition(":")
            # __import__, not importlib.import_module: the latter bypasses `-X importtime`.
            loaded = __import__(module, fromlist=[attribute])
            self.add_command(getattr(loaded, attribute), cmd_name)
        return self.commands.get(cmd_name)

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


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from tcpq.simcore import describe

    click.echo(f"tcpq, version {__version__}")
    click.echo(f"simulator core: {describe(os.path.dirname(__file__))}")
    ctx.exit()


@click.group(
    cls=_Group, context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and which simulator core runs, and exit.",
)
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

    if list_topics:
        if term is not None:
            raise TcpqError(f"explain: give a TERM ({term!r}) or --list, not both")
        if as_json:
            print_json({"topics": [topic_to_dict(entry) for entry in topics()]})
        else:
            from tcpq.report.explain import render_topics

            _stdout().print(render_topics(topics()))
        return
    if term is None:
        raise TcpqError("explain: give a TERM, e.g. `tcpq explain somaxconn`, or --list for every topic")
    version = parse_version(kernel_version or _release())
    entry = lookup(term, version)
    if as_json:
        print_json(entry_to_dict(entry, version))
    else:
        from tcpq.report.explain import render_entry  # rich: only when drawing

        _stdout().print(render_entry(entry, version))
