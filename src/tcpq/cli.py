"""The command line: parse, call one function, render. No logic lives here."""

import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tcpq import __version__
from tcpq.errors import TcpqError
from tcpq.report.json import dumps

if TYPE_CHECKING:
    from rich.console import Console


def _stdout() -> "Console":
    from tcpq.report.console import stdout

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
def simulate(
    file: Path, overrides: tuple[str, ...], seed: int | None, as_json: bool, out: Path | None
) -> None:
    """Predict what a scenario does to a service, with the kernel model.

    \b
    Examples:
      tcpq simulate examples/backlog-nobody-accepts.toml
      tcpq simulate examples/nginx-somaxconn-128.toml --set kernel.sysctl.net.core.somaxconn=4096
      tcpq simulate examples/synflood-cookies-1.toml --json --out result.json
    """
    from tcpq.report.json import run_result_dict
    from tcpq.report.run import render_run
    from tcpq.scenario import load_scenario
    from tcpq.sim.runner import simulate as run_simulation

    all_overrides = (*overrides, f"seed={seed}") if seed is not None else overrides
    scenario = load_scenario(file, all_overrides)
    from tcpq.report.console import progress

    with progress(f"simulating {scenario.name}") as on_progress:
        result = run_simulation(
            scenario, running_release=platform.release(), origin=str(file), on_progress=on_progress
        )
    data = run_result_dict(result)
    if out is not None:
        try:
            out.write_text(dumps(data) + "\n", encoding="utf-8")
        except OSError as exc:
            raise TcpqError(f"cannot write {out}: {exc.strerror}") from None
    if as_json:
        click.echo(dumps(data))
    else:
        _stdout().print(render_run(result))


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


NETNS_HELP = "Network namespace: an `ip netns` name, a PID inside it, `self` (default) or `all`."


def _netns_option(function: Callable[..., None]) -> Callable[..., None]:
    return click.option("--netns", "netns", default=None, metavar="NAME|PID|all", help=NETNS_HELP)(function)


def _print_json(data: object) -> None:
    click.echo(dumps(data))


@main.command()
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
        with Live(console=_stdout(), auto_refresh=False) as live:
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
        _print_json(items[0] if netns != "all" else {"namespaces": items})
        return
    console = _stdout()
    for s in samples:
        console.print(
            render_status(
                s.after,
                s.rates,
                session.status_counter_names(s.after, show_all),
                session.sysctl_view(s.after),
            )
        )


@main.command()
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
        _print_json({"by": by, "groups": groups})
    else:
        _stdout().print(grouped_states_table(groups, by))


@main.command()
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
        _print_json(out[0] if len(out) == 1 else {"namespaces": out})
        return
    console = _stdout()
    for s in samples:
        names = session.status_counter_names(s.after, show_all)
        console.print(rates_table(s.rates, names) if s.rates else counters_table(s.after, names))


@main.command()
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
        _print_json(out[0] if len(out) == 1 else {"namespaces": out})
        return
    for s in samples:
        _stdout().print(sysctl_table(session.sysctl_view(s.after), verbose=True))


@main.command()
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
        _print_json({"findings": [to_jsonable(f) for r in reports for f in r.findings]})
    else:
        console = _stdout()
        for report in reports:
            console.print(render_findings(report.findings, report.netns, report.interval_s))
    worst = session.worst(reports)
    if worst in (Severity.WARNING, Severity.CRITICAL):
        sys.exit(1)


class _LabGroup(click.Group):
    """`tcpq lab FILE` runs a scenario; `tcpq lab clean` (and later `verify`) are subcommands."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


@main.group(cls=_LabGroup)
def lab() -> None:
    """Run a scenario on the real kernel in throwaway network namespaces (root).

    \b
    Examples:
      sudo tcpq lab examples/backlog-nobody-accepts.toml
      sudo tcpq lab examples/e2-final-ack-overflow.toml --json
      sudo tcpq lab clean
    """


@lab.command("run")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a scenario key.")
@click.option("--json", "as_json", is_flag=True, help="Print the RunResult as JSON.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the JSON to this file."
)
def lab_run(file: Path, overrides: tuple[str, ...], as_json: bool, out: Path | None) -> None:
    """Run FILE in namespaces tcpq creates and removes; report like `tcpq simulate`."""
    from tcpq.lab.runner import run_lab
    from tcpq.report.console import progress
    from tcpq.report.json import run_result_dict
    from tcpq.report.run import render_run
    from tcpq.scenario import load_scenario

    scenario = load_scenario(file, overrides)
    with progress(f"lab: {scenario.name}") as on_progress:
        result = run_lab(scenario, origin=str(file), on_progress=on_progress)
    data = run_result_dict(result)
    if out is not None:
        try:
            out.write_text(dumps(data) + "\n", encoding="utf-8")
        except OSError as exc:
            raise TcpqError(f"cannot write {out}: {exc.strerror}") from None
    if as_json:
        click.echo(dumps(data))
    else:
        _stdout().print(render_run(result))


@lab.command("clean")
def lab_clean() -> None:
    """Remove namespaces left by tcpq processes that no longer run."""
    from tcpq.lab.sandbox import clean_stale

    removed = clean_stale()
    click.echo(f"removed {len(removed)} stale namespace(s)" + (f": {', '.join(removed)}" if removed else ""))


@main.command("compare")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a scenario key.")
@click.option("--json", "as_json", is_flag=True, help="Print both results and the comparison as JSON.")
def compare_command(file: Path, overrides: tuple[str, ...], as_json: bool) -> None:
    """Run FILE through the model and on the real kernel (root); compare them metric by metric.

    Exit status 1 when a metric is outside tolerance (counts ±2 % or ±2; connect-time
    percentiles ±10 % or ±50 ms, whichever is larger).

    \b
    Examples:
      sudo tcpq compare examples/backlog-nobody-accepts.toml
      sudo tcpq compare examples/e2-final-ack-overflow.toml --json
    """
    from tcpq.compare import compare
    from tcpq.lab.runner import run_lab
    from tcpq.report.compare import render_comparison
    from tcpq.report.console import progress
    from tcpq.report.json import run_result_dict, to_jsonable
    from tcpq.scenario import load_scenario
    from tcpq.sim.runner import simulate as run_simulation

    scenario = load_scenario(file, overrides)
    # The lab runs the real kernel: the model predicts for that kernel too.
    simulated = run_simulation(
        scenario.model_copy(
            update={"kernel": scenario.kernel.model_copy(update={"version": platform.release()})}
        ),
        origin=str(file),
    )
    with progress(f"lab: {scenario.name}") as on_progress:
        measured = run_lab(scenario, origin=str(file), on_progress=on_progress)
    comparison = compare(simulated, measured)
    if as_json:
        click.echo(
            dumps(
                {
                    "sim": run_result_dict(simulated),
                    "lab": run_result_dict(measured),
                    "comparison": to_jsonable(comparison),
                    "agrees": comparison.agrees,
                }
            )
        )
    else:
        _stdout().print(render_comparison(comparison))
    if not comparison.agrees:
        sys.exit(1)


@lab.command("verify")
@click.option(
    "--long",
    "long_checks",
    is_flag=True,
    help="Also run checks over 10 s (63 s request expiry, 131 s timeout).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def lab_verify(long_checks: bool, as_json: bool) -> None:
    """Check the seed articles' claims and the model's rules on this kernel (root).

    Exit status 1 when the model and the kernel disagree on any check.

    \b
    Examples:
      sudo tcpq lab verify
      sudo tcpq lab verify --long --json
    """
    from tcpq.lab.verify import Verdict, run_checks
    from tcpq.report.json import to_jsonable
    from tcpq.report.verify import render_checks

    results = run_checks(
        long=long_checks, on_check=None if as_json else lambda name: click.echo(f"… {name}", err=True)
    )
    if as_json:
        click.echo(dumps({"checks": [to_jsonable(result) for result in results]}))
    else:
        _stdout().print(render_checks(results))
    if any(result.verdict is Verdict.FAIL for result in results):
        sys.exit(1)
