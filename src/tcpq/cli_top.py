"""tcpq top: a live terminal view of listeners, states and counter rates."""

import sys

import click

from tcpq.cli_host import NETNS_HELP


def _on_terminal() -> bool:
    return sys.stdout.isatty() and sys.stdin.isatty()


@click.command()
@click.option("--netns", "netns", default=None, metavar="NAME|PID|all", help=NETNS_HELP)
@click.option(
    "--interval", type=float, default=1.0, show_default=True, help="Seconds between refreshes (rates)."
)
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after N refreshes.")
@click.pass_context
def top(ctx: click.Context, netns: str | None, interval: float, count: int | None) -> None:
    """Live view: listeners worst first (drops/s, accept-queue fill), states, counter rates.

    Keys: s next sort column, 1-8 sort by that column, r reverse, / filter (address:port,
    process or namespace), p pause, n namespace scope (self, all, each), q quit.
    Without a terminal (piped) it prints `tcpq status --watch` frames instead.

    \b
    Examples:
      tcpq top
      sudo .venv/bin/tcpq top --netns all --interval 2
      tcpq top | head -40
    """
    from tcpq.app import host_session as session
    from tcpq.cli_host import status

    if not _on_terminal():
        ctx.invoke(status, netns=netns, interval=interval, watch=True, count=count)
        return
    from tcpq import top as live

    live.run(session.targets(netns), session.check_interval(interval), count)
