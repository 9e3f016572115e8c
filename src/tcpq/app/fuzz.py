"""`tcpq lab fuzz`: random scenarios through the model and the real kernel, disagreements kept.

It is how a user checks the model on their own kernel (after an upgrade, say): draw N
scenarios (app/fuzz_scenarios.py), run `compare_scenario` on each, write every disagreeing one
to DIR/fuzz-S-K.toml with a header saying how to rerun it and what differed, and group the
disagreements by cause (app/fuzz_causes.py). Ctrl-C (or SIGTERM) stops after the lab has
cleaned up its namespaces; the report then covers the scenarios that finished.
"""

import contextlib
import os
import platform
import secrets
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from tcpq.app.fidelity import compare_scenario
from tcpq.app.fuzz_causes import FuzzCase, FuzzReport, group_causes
from tcpq.app.fuzz_scenarios import draw_scenario, rng_for, scenario_name, to_toml
from tcpq.errors import PermissionDenied, TcpqError
from tcpq.scenario import scenario_from_dict

MAX_SCENARIOS = 1000
EXIT_AGREE, EXIT_DIFFER, EXIT_INTERRUPTED = 0, 1, 130
Steps = Callable[[float, str], None]  # (scenarios done, fractional within the current one; label)


def new_seed() -> int:
    """A seed for a run without --seed (printed in the report, so the run can be repeated)."""
    return secrets.randbelow(999_999) + 1


def default_keep_dir(seed: int) -> Path:
    return Path(f"tcpq-fuzz-{seed}")


def parse_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise TcpqError(f"N must be a whole number of scenarios, got {text!r}") from None
    if not 1 <= count <= MAX_SCENARIOS:
        raise TcpqError(f"N must be between 1 and {MAX_SCENARIOS}, got {count}")
    return count


def check_keep_dir(path: Path) -> None:
    """Fail before any run if disagreeing scenarios could not be kept in `path` (made later, and
    only when something disagrees)."""
    if path.exists() and not path.is_dir():
        raise TcpqError(f"--keep {path}: exists and is not a directory")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise TcpqError(f"--keep {path}: {existing} is not a directory")
    try:  # permissions alone do not tell (root, read-only mounts, /proc): try it
        os.rmdir(tempfile.mkdtemp(prefix=".tcpq-fuzz-probe-", dir=existing))
    except OSError as exc:
        raise TcpqError(f"--keep {path}: cannot write in {existing}: {exc.strerror or exc}") from None


def check_request(keep_dir: Path) -> None:
    """Everything that can fail before the first run, so it fails before it."""
    check_keep_dir(keep_dir)
    if os.geteuid() != 0:
        raise PermissionDenied("tcpq lab fuzz needs root: the lab creates network namespaces")


def run_fuzz(
    seed: int,
    count: int,
    keep_dir: Path,
    *,
    on_progress: Steps | None = None,
) -> FuzzReport:
    """Compare scenarios 1..count of `seed`; keep the disagreeing ones in `keep_dir`."""
    release = platform.release()
    cases: list[FuzzCase] = []
    interrupted = False
    with _terminate_as_interrupt():
        try:
            for index in range(1, count + 1):
                case = _run_one(seed, index, count, keep_dir, release, on_progress)
                cases.append(case)
        except KeyboardInterrupt:
            interrupted = True
    kept = any(case.file is not None for case in cases)
    return FuzzReport(
        seed=seed,
        requested=count,
        kernel=release,
        cases=tuple(cases),
        causes=group_causes(cases),
        keep_dir=str(keep_dir) if kept else None,
        interrupted=interrupted,
    )


def exit_status(report: FuzzReport) -> int:
    if report.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_AGREE if report.agreeing == report.finished else EXIT_DIFFER


def _run_one(
    seed: int,
    index: int,
    count: int,
    keep_dir: Path,
    release: str,
    on_progress: Steps | None,
) -> FuzzCase:
    name = scenario_name(seed, index)
    data = draw_scenario(rng_for(seed, index), index, name=name)
    path = keep_dir / f"{name}.toml"
    scenario = scenario_from_dict(data, str(path))
    label = f"{index}/{count} {name}"

    def lab_progress(fraction: float) -> None:
        if on_progress is not None:
            on_progress(index - 1 + fraction, label)

    lab_progress(0.0)
    try:
        result = compare_scenario(scenario, origin=str(path), on_progress=lab_progress)
    except PermissionDenied:
        raise
    except TcpqError as exc:  # this scenario only (a lab process that did not start, …)
        case = FuzzCase(index, name, agrees=False, error=" ".join(str(exc).split()))
    else:
        rows = tuple(row for row in result.comparison.rows if not row.ok)
        case = FuzzCase(index, name, agrees=result.comparison.agrees, differing=rows)
    if case.agrees:
        return case
    _keep(path, to_toml(data, _header(case, seed, count, path, release)))
    return replace(case, file=str(path))


def _header(case: FuzzCase, seed: int, count: int, path: Path, release: str) -> str:
    lines = [
        f"Scenario {case.index} of `tcpq lab fuzz {count} --seed {seed}` (tcpq's random scenarios).",
        f"Reproduce: sudo .venv/bin/tcpq compare {path}",
    ]
    if case.error is not None:
        lines.append(f"On kernel {release} the lab could not run it: {case.error}")
        return "\n".join(lines)
    lines += [
        f"Model and kernel differed on kernel {release}.",
        f"Cause (the most telling metric family): {case.cause}. Every metric that differed:",
    ]
    for row in case.differing:
        sim, lab = _number(row.sim), _number(row.lab)
        lines.append(f"  {row.metric}: model {sim}, kernel {lab} (tolerance ±{row.tolerance:g})")
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def _keep(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".toml.part")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)  # a Ctrl-C never leaves half a file under the final name
    except OSError as exc:
        raise TcpqError(f"cannot keep {path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM between two lab runs stops like Ctrl-C (inside a run the lab does the same)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
