"""Commands that look at a live host: status, states, counters, sysctl, doctor."""

import sys
from collections.abc import Callable
from pathlib import Path

import click

from tcpq.cli_common import print_json, stdout
from tcpq.errors import TcpqError

NETNS_HELP = "Network namespace: an `ip netns` name, a PID inside it, `self` (default) or `all`."


def _netns_option(function: Callable[..., None]) -> Callable[..., None]:
    return click.option("--netns", "netns", default=None, metavar="NAME|PID|all", help=NETNS_HELP)(function)


@click.command()
@_netns_option
@click.option(
    "--interval",
    type=float,
    default=1.0,
    show_default=True,
    help="Seconds between the two samples that give rates; 0 = one sample, no rates.",
)
@click.option("--watch", is_flag=True, help="Refresh in place every interval until Ctrl-C.")
@click.option(
    "--count", type=click.IntRange(min=1), default=None, help="With --watch: stop after N refreshes."
)
@click.option("--all", "show_all", is_flag=True, help="Show every counter, not only connection handling.")
@click.option("--json", "as_json", is_flag=True, help="Print the Snapshot(s) as JSON.")
def status(
    netns: str | None, interval: float, watch: bool, count: int | None, show_all: bool, as_json: bool
) -> None:
    """Listeners and their queues, states, counter rates and sysctls of a live host.

    \b
    Examples:
      tcpq status
      tcpq status --netns all --json
      tcpq status --watch --interval 2
    """
    from rich.console import Group
    from rich.live import Live

    from tcpq.observe import session
    from tcpq.report.host import render_status
    from tcpq.report.json import snapshot_dict

    refs = session.namespaces(netns)
    if watch:
        with Live(console=stdout(), auto_refresh=False) as live:
            try:
                for samples in session.watch(refs, session.check_interval(interval or 1.0), count):
                    views = [
                        render_status(
                            s.after,
                            s.rates,
                            session.status_counter_names(s.after, show_all),
                            session.sysctl_view(s.after),
                        )
                        for s in samples
                    ]
                    live.update(views[0] if len(views) == 1 else Group(*views), refresh=True)
            except KeyboardInterrupt:
                pass
        return
    samples = session.sample(refs, interval if interval > 0 else None)
    if as_json:
        items = [snapshot_dict(s.after, s.rates) for s in samples]
        print_json(items[0] if netns != "all" else {"namespaces": items})
        return
    console = stdout()
    for s in samples:
        console.print(
            render_status(
                s.after,
                s.rates,
                session.status_counter_names(s.after, show_all),
                session.sysctl_view(s.after),
            )
        )


@click.command()
@_netns_option
@click.option(
    "--by",
    "by",
    type=click.Choice(["state", "process", "port", "remote", "netns"]),
    default="state",
    show_default=True,
    help="Group the state counts.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def states(netns: str | None, by: str, as_json: bool) -> None:
    """Count TCP states, per process, local port, remote address or namespace.

    \b
    Examples:
      tcpq states --by process
      tcpq states --by netns --netns all --json
    """
    from tcpq.observe import session
    from tcpq.report.host import grouped_states_table

    samples = session.sample(session.namespaces("all" if by == "netns" and netns is None else netns), None)
    groups = session.grouped_states([s.after for s in samples], by)
    if as_json:
        print_json({"by": by, "groups": groups})
    else:
        stdout().print(grouped_states_table(groups, by))


@click.command()
@_netns_option
@click.option(
    "--interval", type=float, default=1.0, show_default=True, help="Seconds between the two samples."
)
@click.option(
    "--all", "show_all", is_flag=True, help="Every TcpExt/Tcp/Ip counter, not only connection handling."
)
@click.option("--json", "as_json", is_flag=True, help="Print values, deltas and rates as JSON.")
def counters(netns: str | None, interval: float, show_all: bool, as_json: bool) -> None:
    """nstat-like counters with rates and their `netstat -s` wording.

    \b
    Examples:
      tcpq counters
      tcpq counters --interval 5 --all --json
    """
    from tcpq.observe import session
    from tcpq.report.host import counters_table, rates_table

    samples = session.sample(session.namespaces(netns), interval if interval > 0 else None)
    if as_json:
        out = []
        for s in samples:
            names = session.status_counter_names(s.after, show_all)
            out.append(
                {
                    "netns": s.after.netns,
                    "interval_s": s.rates.interval_s if s.rates else None,
                    "counters": {n: s.after.counters[n] for n in names},
                    "deltas": {n: s.rates.counter_deltas.get(n) for n in names} if s.rates else None,
                    "per_s": {n: s.rates.counters_per_s.get(n) for n in names} if s.rates else None,
                }
            )
        print_json(out[0] if len(out) == 1 else {"namespaces": out})
        return
    console = stdout()
    for s in samples:
        names = session.status_counter_names(s.after, show_all)
        console.print(rates_table(s.rates, names) if s.rates else counters_table(s.after, names))


@click.command()
@_netns_option
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def sysctl(netns: str | None, as_json: bool) -> None:
    """The sysctls that govern connection handling: value, kernel default, scope, meaning.

    \b
    Examples:
      tcpq sysctl
      tcpq sysctl --netns myns --json
    """
    from tcpq.observe import session
    from tcpq.report.host import sysctl_table
    from tcpq.report.json import to_jsonable

    samples = session.sample(session.namespaces(netns), None)
    if as_json:
        out = [
            {"netns": s.after.netns, "sysctls": to_jsonable(session.sysctl_view(s.after))} for s in samples
        ]
        print_json(out[0] if len(out) == 1 else {"namespaces": out})
        return
    for s in samples:
        stdout().print(sysctl_table(session.sysctl_view(s.after), verbose=True))


@click.command()
@_netns_option
@click.option(
    "--interval", type=float, default=5.0, show_default=True, help="Seconds between the two samples."
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option(
    "--sysctl-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the suggested sysctls as a sysctl.d snippet (tcpq never applies them).",
)
def doctor(netns: str | None, interval: float, as_json: bool, sysctl_file: Path | None) -> None:
    """Diagnose connection handling: findings with evidence, mechanism and remedy.

    Exit status: 0 healthy, 1 a finding of warning or worse, 2 an error.

    \b
    Examples:
      tcpq doctor
      tcpq doctor --netns all --interval 2 --json
      tcpq doctor --sysctl-file 90-tcpq.conf
    """
    from tcpq.observe import session
    from tcpq.report.doctor import render_findings
    from tcpq.report.json import to_jsonable
    from tcpq.types import Severity

    reports = session.doctor(session.namespaces(netns), session.check_interval(interval))
    if sysctl_file is not None:
        try:
            sysctl_file.write_text(session.sysctl_snippet(reports), encoding="utf-8")
        except OSError as exc:
            raise TcpqError(f"cannot write {sysctl_file}: {exc.strerror}") from None
    if as_json:
        print_json({"findings": [to_jsonable(f) for r in reports for f in r.findings]})
    else:
        console = stdout()
        for report in reports:
            console.print(render_findings(report.findings, report.netns, report.interval_s))
    worst = session.worst(reports)
    if worst in (Severity.WARNING, Severity.CRITICAL):
        sys.exit(1)
