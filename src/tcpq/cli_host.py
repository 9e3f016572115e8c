"""Commands that look at a live host: status, states, counters, sysctl, doctor."""

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tcpq.cli_common import print_json, stdout
from tcpq.errors import TcpqError, Terminated

if TYPE_CHECKING:
    from rich.console import RenderableType

    from tcpq.app.host_session import Scan
    from tcpq.observe.holder_search import HolderSearch

NETNS_HELP = "Network namespace: an `ip netns` name, a PID inside it, `self` (default) or `all`."
STATES_SORT_HELP = "Order the groups: total (default), name, or a state such as TIME_WAIT (most first)."
LISTENERS_SORT_HELP = "Order the listeners: port (default), accept-queue, syn-recv or drops (most first)."
Command = Callable[..., None]


def _netns_option(function: Command) -> Command:
    return click.option("--netns", "netns", default=None, metavar="NAME|PID|all", help=NETNS_HELP)(function)


def _selection_options(sort_help: str) -> Callable[[Command], Command]:
    """--sport/--dport/--sort/--top, checked by host_views.selection (one-line errors)."""
    options = [
        click.option(
            "--sport", metavar="PORT", help="Only sockets of this local port (one that listens here)."
        ),
        click.option("--dport", metavar="PORT", help="Only connections to this remote port."),
        click.option("--sort", "sort", metavar="KEY", help=sort_help),
        click.option("--top", metavar="N", help="Show the first N rows; the rest are counted."),
    ]

    def apply(function: Command) -> Command:
        for option in reversed(options):
            function = option(function)
        return function

    return apply


def _status_document(result: "Scan", views: list[Any], every: bool) -> dict[str, Any]:
    """The Snapshot JSON contract per namespace (DESIGN.md), plus what the view left out."""
    from tcpq.report.json import snapshot_dict, to_jsonable

    items = [snapshot_dict(v.snapshot, v.rates) | {"listeners_more": v.listeners_more} for v in views]
    if not every:
        return items[0]
    return {"namespaces": items, "not_seen": to_jsonable(result.not_seen), "notes": result.notes}


def _frames(
    frames: Iterator[Any],
    render: Callable[[Any], "RenderableType"],
    document: Callable[[Any], Any],
    as_json: bool,
) -> None:
    """--watch: redraw in place on a terminal; elsewhere (or with --json) one frame after another,
    JSON as one document per line (NDJSON)."""
    from tcpq.report.json import to_jsonable

    try:
        if as_json:
            for frame in frames:
                click.echo(json.dumps(to_jsonable(document(frame))))
            return
        from rich.live import Live

        console = stdout()
        if console.is_terminal:
            with Live(console=console, auto_refresh=False) as live:
                for frame in frames:
                    live.update(render(frame), refresh=True)
        else:
            for number, frame in enumerate(frames):
                if number:
                    console.print()
                console.print(render(frame))
    except KeyboardInterrupt as exc:
        if isinstance(exc, Terminated):
            raise  # SIGTERM is not the documented way to end --watch: exit 128 + signal


@click.command()
@_netns_option
@click.option(
    "--interval",
    type=float,
    default=1.0,
    show_default=True,
    help="Seconds between the two samples that give rates; 0 = one sample, no rates.",
)
@click.option(
    "--watch", is_flag=True, help="Refresh every interval until Ctrl-C (piped: one frame after another)."
)
@click.option(
    "--count", type=click.IntRange(min=1), default=None, help="With --watch: stop after N refreshes."
)
@click.option("--all", "show_all", is_flag=True, help="Show every counter, not only connection handling.")
@_selection_options(LISTENERS_SORT_HELP)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the Snapshot(s) as JSON (--watch: one per line)."
)
def status(
    netns: str | None,
    interval: float,
    watch: bool,
    count: int | None,
    show_all: bool,
    sport: str | None,
    dport: str | None,
    sort: str | None,
    top: str | None,
    as_json: bool,
) -> None:
    """Listeners and their queues, states, counter rates and sysctls of a live host.

    \b
    Examples:
      tcpq status
      tcpq status --netns all --json
      tcpq status --watch --interval 2
      tcpq status --sort accept-queue --top 10
    """
    from tcpq.observe.holder_search import holder_search

    # One sample of this namespace names its listeners' processes: start that walk of every
    # fd now, on another CPU, so it runs while the rest of the command is imported.
    one_sample = netns is None and interval == 0 and not watch
    with holder_search() if one_sample else nullcontext() as search:
        _status(netns, interval, watch, count, show_all, (sport, dport, sort, top), as_json, search)


def _status(
    netns: str | None,
    interval: float,
    watch: bool,
    count: int | None,
    show_all: bool,
    selection: tuple[str | None, str | None, str | None, str | None],
    as_json: bool,
    search: "HolderSearch | None",
) -> None:
    from tcpq.app import host_session as session
    from tcpq.app import host_views
    from tcpq.observe.snapshot import Attribution

    selected = host_views.selection(*selection, listeners=True)
    target = session.targets(netns)

    def views(result: "Scan") -> list[host_views.StatusView]:
        return [host_views.status_view(item, selected, show_all) for item in result.samples]

    def render(result: "Scan") -> "RenderableType":
        from tcpq.report.host import render_status_scan  # rich: not for --json

        return render_status_scan(views(result), result.not_seen, result.notes)

    def document(result: "Scan") -> dict[str, Any]:
        return _status_document(result, views(result), target.every)

    shown = host_views.STATUS_ATTRIBUTION
    if watch:
        frames = session.watch(target, session.check_interval(interval or 1.0), count, shown)
        _frames(frames, render, document, as_json)
        return
    # The first of two samples gives counter rates and drop rates only: it names no process.
    result = session.scan(
        target, interval if interval > 0 else None, attribution=shown, before=Attribution.NONE, search=search
    )
    if as_json:
        print_json(document(result))
    else:
        stdout().print(render(result))


@click.command()
@_netns_option
@click.option(
    "--by",
    "by",
    type=click.Choice(["state", "process", "port", "remote", "netns"]),
    default="state",
    show_default=True,
    help="Group the state counts (port: the one listening here, else the remote one).",
)
@_selection_options(STATES_SORT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def states(
    netns: str | None,
    by: str,
    sport: str | None,
    dport: str | None,
    sort: str | None,
    top: str | None,
    as_json: bool,
) -> None:
    """Count TCP states, per process, service port, remote address or namespace.

    \b
    Examples:
      tcpq states --by process
      tcpq states --by port --sort TIME_WAIT --top 10
      tcpq states --by netns --netns all --json
    """
    from tcpq.app import host_session as session
    from tcpq.app import host_views

    selected = host_views.selection(sport, dport, sort, top)
    target = session.targets("all" if by == "netns" and netns is None else netns)
    result = session.scan(target, None, attribution=host_views.states_attribution(by))
    view = host_views.states_view(result, by, selected)
    if as_json:
        from tcpq.report.json import to_jsonable

        print_json(to_jsonable(view))
    else:
        from tcpq.report.host import grouped_states_table  # rich: not for --json

        stdout().print(grouped_states_table(view))


@click.command()
@click.argument("patterns", nargs=-1, metavar="[PATTERN]...")
@_netns_option
@click.option(
    "--interval", type=float, default=1.0, show_default=True, help="Seconds between the two samples."
)
@click.option(
    "--all", "show_all", is_flag=True, help="Every TcpExt/Tcp/Ip counter, not only connection handling."
)
@click.option("--json", "as_json", is_flag=True, help="Print values, deltas and rates as JSON.")
def counters(
    patterns: tuple[str, ...], netns: str | None, interval: float, show_all: bool, as_json: bool
) -> None:
    """nstat-like counters with rates and their `netstat -s` wording.

    PATTERNs pick counters as nstat's do: shell globs on nstat names (quote them), here
    case-insensitive, chosen from every counter as with --all.

    \b
    Examples:
      tcpq counters
      tcpq counters 'TcpExt*Listen*' '*SynRetrans'
      tcpq counters --interval 5 --all --json
    """
    from tcpq.app import host_session as session
    from tcpq.observe.snapshot import Attribution
    from tcpq.report.json import to_jsonable

    # Counters name no process: none is read.
    target = session.targets(netns)
    result = session.scan(target, interval if interval > 0 else None, attribution=Attribution.NONE)
    samples = result.samples
    session.check_counter_patterns([s.after for s in samples], patterns)
    if as_json:
        out = []
        for s in samples:
            names = session.counter_names(s.after, show_all, patterns)
            out.append(
                {
                    "netns": s.after.netns,
                    "interval_s": s.rates.interval_s if s.rates else None,
                    "counters": {n: s.after.counters[n] for n in names},
                    "deltas": {n: s.rates.counter_deltas.get(n) for n in names} if s.rates else None,
                    "per_s": {n: s.rates.counters_per_s.get(n) for n in names} if s.rates else None,
                }
            )
        if netns != "all":
            print_json(out[0])
        else:
            print_json({"namespaces": out, "not_seen": to_jsonable(result.not_seen), "notes": result.notes})
        return
    from tcpq.report.host import counters_table, not_seen_lines, rates_table  # rich

    console = stdout()
    for line in not_seen_lines(result.not_seen, result.notes):
        console.print(line)
    for s in samples:
        names = session.counter_names(s.after, show_all, patterns)
        if len(samples) > 1:
            console.print(f"netns {s.after.netns}", style="title")
        console.print(rates_table(s.rates, names) if s.rates else counters_table(s.after, names))


@click.command()
@_netns_option
@click.option("--verbose", "-v", is_flag=True, help="Also say what each sysctl does.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def sysctl(netns: str | None, verbose: bool, as_json: bool) -> None:
    """The sysctls that govern connection handling: value, kernel default, scope, notes.

    \b
    Examples:
      tcpq sysctl
      tcpq sysctl --verbose
      tcpq sysctl --netns myns --json
    """
    from tcpq.app import host_session as session
    from tcpq.observe.snapshot import Attribution
    from tcpq.report.json import to_jsonable

    target = session.targets(netns)
    result = session.scan(target, None, attribution=Attribution.NONE)  # sysctls name no process
    if as_json:
        out = [
            {
                "netns": s.after.netns,
                "sysctls": to_jsonable(session.sysctl_view(s.after)),
                "notes": s.after.notes,
            }
            for s in result.samples
        ]
        if not target.every:
            print_json(out[0])
        else:
            print_json({"namespaces": out, "not_seen": to_jsonable(result.not_seen), "notes": result.notes})
        return
    from rich.console import Group
    from rich.text import Text

    from tcpq.report.host import not_seen_lines, sysctl_table

    parts: list[RenderableType] = list(not_seen_lines(result.not_seen, result.notes))
    for s in result.samples:
        if target.every:
            parts.append(Text(f"netns {s.after.netns}", style="title"))
        parts.append(sysctl_table(session.sysctl_view(s.after), verbose=verbose))
        parts.extend(Text(f"note: {note}", style="warn") for note in s.after.notes)
    stdout().print(Group(*parts))


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
    from tcpq.app import host_session as session
    from tcpq.report import doctor as render
    from tcpq.report.host import not_seen_lines
    from tcpq.report.json import to_jsonable
    from tcpq.types import Severity

    run = session.doctor(session.targets(netns), session.check_interval(interval))
    reports = run.reports
    findings = [finding for report in reports for finding in report.findings]
    if sysctl_file is not None:
        try:
            sysctl_file.write_text(render.sysctl_file(findings), encoding="utf-8")
        except OSError as exc:
            raise TcpqError(f"cannot write {sysctl_file}: {exc.strerror}") from None
    if as_json:
        print_json(
            {
                "findings": [render.finding_dict(f) for f in findings],
                "not_seen": to_jsonable(run.not_seen),
                "notes": run.notes,
            }
        )
    else:
        console = stdout()
        for line in not_seen_lines(run.not_seen, run.notes):
            console.print(line)
        for report in reports:
            console.print(render.render_findings(report.findings, report.netns, report.interval_s))
    worst = session.worst(reports)
    if worst in (Severity.WARNING, Severity.CRITICAL):
        sys.exit(1)
