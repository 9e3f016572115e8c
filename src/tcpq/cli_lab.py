"""Commands that use the real kernel in throwaway namespaces: lab (run, clean, verify), compare."""

import sys
from pathlib import Path

import click

from tcpq.cli_common import emit_run_result, picture_options, print_json, stdout, write_json, write_pictures
from tcpq.errors import TcpqError


class _LabGroup(click.Group):
    """`tcpq lab FILE` runs a scenario; `tcpq lab clean` (and later `verify`) are subcommands."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


@click.group(cls=_LabGroup)
def lab() -> None:
    """Run a scenario on the real kernel in throwaway network namespaces (root).

    \b
    Examples:
      sudo .venv/bin/tcpq lab examples/backlog-nobody-accepts.toml
      sudo .venv/bin/tcpq lab examples/e2-final-ack-overflow.toml --json
      sudo .venv/bin/tcpq lab clean
    """


@lab.command("run")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a scenario key.")
@click.option("--json", "as_json", is_flag=True, help="Print the RunResult as JSON.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the JSON to this file."
)
@picture_options
def lab_run(
    file: Path,
    overrides: tuple[str, ...],
    as_json: bool,
    out: Path | None,
    html_file: Path | None,
    png_dir: Path | None,
) -> None:
    """Run FILE in namespaces tcpq creates and removes; report like `tcpq simulate`."""
    from tcpq.lab.runner import run_lab
    from tcpq.report.console import progress
    from tcpq.scenario import load_scenario

    scenario = load_scenario(file, overrides)
    with progress(f"lab: {scenario.name}") as on_progress:
        result = run_lab(scenario, origin=str(file), on_progress=on_progress, overrides=overrides)
    emit_run_result(result, as_json, out)
    write_pictures([result], None, file, html_file, png_dir)


@lab.command("clean")
def lab_clean() -> None:
    """Remove namespaces and tracefs instances left by tcpq processes that no longer run (root)."""
    from tcpq.lab.sandbox import clean_stale
    from tcpq.trace.instance import sweep_stale_instances

    removed = clean_stale()
    click.echo(f"removed {len(removed)} stale namespace(s)" + (f": {', '.join(removed)}" if removed else ""))
    instances = sweep_stale_instances()  # `tcpq trace` SIGKILLed: its tcpq-PID instance stays
    if instances:
        click.echo(f"removed {len(instances)} stale trace instance(s): {', '.join(instances)}")


@lab.command("calibrate")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the [host] file here."
)
@click.option("--json", "as_json", is_flag=True, help="Print the measured values as JSON.")
def lab_calibrate(out: Path | None, as_json: bool) -> None:
    """Measure this machine's speed for the model (root): wake-up, accept(), connect(), packets.

    Writes a [host] file for `tcpq simulate --host FILE`; `tcpq compare` uses the same values
    (kept per boot in ~/.cache/tcpq). docs/scenarios.md ("[host]") says what each one is.

    \b
    Examples:
      sudo .venv/bin/tcpq lab calibrate
      sudo .venv/bin/tcpq lab calibrate --out host.toml && \\
        tcpq simulate examples/java-backlog-50.toml --host host.toml
    """
    from tcpq.app.calibration import save
    from tcpq.lab.calibrate import calibrate
    from tcpq.report.calibrate import render_calibration
    from tcpq.report.console import progress
    from tcpq.report.json import to_jsonable

    with progress("calibrating the host") as on_progress:
        calibration = calibrate(on_progress)
    written = [save(calibration)]
    if out is not None:
        try:
            written.append(save(calibration, out))
        except OSError as exc:
            raise TcpqError(f"cannot write {out}: {exc.strerror}") from None
    if as_json:
        print_json({**to_jsonable(calibration), "files": [str(path) for path in written]})
    else:
        stdout().print(render_calibration(calibration, written))


@click.command("compare")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a scenario key.")
@click.option("--json", "as_json", is_flag=True, help="Print both results and the comparison as JSON.")
@click.option(
    "--host",
    "host_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The model's [host] from this file instead of this machine's calibration.",
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the JSON to this file."
)
@picture_options
def compare_command(
    file: Path,
    overrides: tuple[str, ...],
    as_json: bool,
    host_file: Path | None,
    out: Path | None,
    html_file: Path | None,
    png_dir: Path | None,
) -> None:
    """Run FILE through the model and on the real kernel (root); compare them metric by metric.

    Exit status 1 when a metric is outside tolerance (counts ±2 % or ±2; connect-time
    percentiles ±10 % or ±50 ms, whichever is larger).

    \b
    Examples:
      sudo .venv/bin/tcpq compare examples/backlog-nobody-accepts.toml
      sudo .venv/bin/tcpq compare examples/e2-final-ack-overflow.toml --json
      sudo .venv/bin/tcpq compare examples/backlog-nobody-accepts.toml --html compare.html
    """
    from tcpq.app.fidelity import compare_scenario
    from tcpq.report.compare import render_comparison
    from tcpq.report.console import progress
    from tcpq.report.json import comparison_dict
    from tcpq.scenario import load_scenario

    scenario = load_scenario(file, overrides)
    with progress(f"lab: {scenario.name}") as on_progress:
        result = compare_scenario(scenario, origin=str(file), on_progress=on_progress, host_file=host_file)
    simulated, measured, comparison = result.sim, result.lab, result.comparison
    data = comparison_dict(simulated, measured, comparison)
    if out is not None:
        write_json(out, data)
    if as_json:
        print_json(data)
    else:
        stdout().print(render_comparison(comparison))
    write_pictures([simulated, measured], comparison, file, html_file, png_dir)
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
      sudo .venv/bin/tcpq lab verify
      sudo .venv/bin/tcpq lab verify --long --json
    """
    from tcpq.app.verify import run_checks
    from tcpq.report.json import to_jsonable
    from tcpq.report.verify import render_checks
    from tcpq.types import Verdict

    results = run_checks(
        long=long_checks, on_check=None if as_json else lambda name: click.echo(f"… {name}", err=True)
    )
    if as_json:
        print_json({"checks": [to_jsonable(result) for result in results]})
    else:
        stdout().print(render_checks(results))
    if any(result.verdict is Verdict.FAIL for result in results):
        sys.exit(1)


@lab.command("fuzz", context_settings={"ignore_unknown_options": True})
@click.argument("count", metavar="N")
@click.option("--seed", type=int, default=None, help="Draw scenarios with this seed (default: a new one).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts and causes as JSON.")
@click.option(
    "--keep",
    "keep_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where disagreeing scenarios are written (default ./tcpq-fuzz-SEED/, made only if needed).",
)
def lab_fuzz(count: str, seed: int | None, as_json: bool, keep_dir: Path | None) -> None:
    """Compare the model with this kernel on N random scenarios (root); group what differs.

    Each scenario is short (1-10 s of lab time); every disagreeing one is kept as
    DIR/fuzz-SEED-K.toml, rerun with `sudo .venv/bin/tcpq compare FILE`. Exit status 0 when all agree,
    1 when any differs, 2 on bad input, 130 when interrupted (the summary is still printed).

    \b
    Examples:
      sudo .venv/bin/tcpq lab fuzz 60 --seed 1
      sudo .venv/bin/tcpq lab fuzz 20 --seed 7 --json --keep /tmp/fuzz
    """
    from tcpq.app.fuzz import check_request, default_keep_dir, exit_status, new_seed, parse_count, run_fuzz
    from tcpq.report.console import steps
    from tcpq.report.fuzz import fuzz_dict, render_fuzz

    total = parse_count(count)
    seed = new_seed() if seed is None else seed
    keep = default_keep_dir(seed) if keep_dir is None else keep_dir
    check_request(keep)
    with steps(total) as show:
        report = run_fuzz(seed, total, keep, on_progress=show)
    if as_json:
        print_json(fuzz_dict(report))
    else:
        stdout().print(render_fuzz(report))
    sys.exit(exit_status(report))
