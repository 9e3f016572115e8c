"""The direction of imports (DESIGN.md, STYLE.md habit 1), for every package of src/tcpq.

Readers (observe, trace, lab's samplers) produce the data model (types); rules (doctor, compare)
and renderers (report, top, export) consume it and never read; app combines the faces; the CLI
sits on top. sim and lab share what they must through the neutral `run` package and never
import each other; the model is pure. Each package lists the tcpq packages it may import, so a
new edge is refused until it is argued for here, and a new package must say where it stands.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "tcpq"

# The bottom: facts and values every layer may use.
_BASE = frozenset({"errors", "records", "units", "types", "model", "kernel"})
# Pure computations over the data model.
_PURE = _BASE | {"histogram"}

ALLOWED: dict[str, frozenset[str]] = {
    # the package's __init__: the version, and which simulator core to import (simcore)
    "tcpq": frozenset({"simcore"}),
    "simcore": frozenset({"sim"}),  # is the compiled core the one in use (tcpq.sim.engine)?
    "errors": frozenset(),
    "records": frozenset(),  # @frozen: the dataclass decorator of everything outside sim/model
    "units": frozenset({"records", "model"}),  # model/constants.py: µs per second, one definition
    "kernel": frozenset({"errors", "records", "types"}),  # facts about Linux, as data
    "model": frozenset({"kernel"}),  # the executable specification: pure (BANNED_LIBRARIES)
    "types": frozenset({"records", "model"}),
    "histogram": frozenset({"records", "model", "types"}),
    "scenario": frozenset({"errors", "records", "units", "model", "kernel"}),
    "compare": _PURE,  # rule: RunResult, RunResult -> Comparison
    "doctor": _PURE,  # rules: Snapshot, Snapshot -> [Finding]
    "observe": _BASE,  # readers: never the rules, a use-case, a face or a renderer
    "trace": _BASE | {"observe"},  # a reader of tracefs, attributing with observe's readers
    "run": _PURE | {"scenario"},  # what sim and lab share: arrivals, sysctls, RunResult assembly
    "sim": _PURE | {"scenario", "run"},
    "lab": _PURE | {"scenario", "run", "observe"},
    "app": _PURE | {"scenario", "run", "sim", "lab", "observe", "trace", "doctor", "compare"},
    # Renderers draw what the readers and app produced; they never read themselves.
    "report": _PURE | {"compare", "app", "trace"},  # trace: its typed events, beside their parser
    "top": _BASE | {"app"},
    "export": _BASE | {"app"},
}
# The CLI is on top: it may call any package, and only __main__ calls it.
ALLOWED["cli"] = frozenset(ALLOWED)
ALLOWED["__main__"] = frozenset({"cli"})

# Modules outside tcpq a package must not use: the model has no clock, no I/O and no
# randomness; the rules and renderers never read; the simulator and the shared run code keep
# time only as the engine's integer µs.
_IO = frozenset({"os", "subprocess", "socket"})
BANNED_LIBRARIES: dict[str, frozenset[str]] = {
    "model": frozenset(
        {"rich", "os", "time", "random", "numpy", "socket", "subprocess", "pathlib", "datetime"}
    ),
    "kernel": frozenset({"os", "time", "random"}),
    "types": _IO | {"rich", "time"},
    "doctor": _IO | {"rich", "time", "pathlib"},
    "compare": _IO | {"rich", "time", "pathlib"},
    "report": _IO,
    "run": _IO | {"rich", "time"},
    "sim": _IO | {"rich", "time"},
}


def package_of(relative: Path) -> str:
    """The layer a module of src/tcpq belongs to: its package, or `cli` for every cli*.py."""
    if len(relative.parts) > 1:
        return relative.parts[0]
    stem = relative.stem
    if stem == "__init__":
        return "tcpq"
    return "cli" if stem == "cli" or stem.startswith("cli_") else stem


def _absolute(node: ast.ImportFrom, relative: Path) -> str:
    """The module a relative `from . import x` names, as if written absolute."""
    package = ["tcpq", *relative.parts[:-1]]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _is_module(name: str) -> bool:
    return (SRC / name).is_dir() or (SRC / f"{name}.py").is_file()


def imported_modules(source: str, relative: Path) -> set[str]:
    """Every module `source` imports, at any depth: an import inside a function counts. In
    `from tcpq import x`, x is the module imported when it is one (`from tcpq import top`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, relative) if node.level else (node.module or "")
            if module != "tcpq":
                names.add(module)
                continue
            for alias in node.names:
                names.add(f"tcpq.{alias.name}" if _is_module(alias.name) else "tcpq")
    return names


def _tcpq_package(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "tcpq":
        return None
    if len(parts) == 1:
        return "tcpq"
    return "cli" if parts[1] == "cli" or parts[1].startswith("cli_") else parts[1]


def refusals(relative: Path, source: str) -> list[str]:
    """Each import of `source` (the text of src/tcpq/`relative`) that goes against the direction."""
    package = package_of(relative)
    if package not in ALLOWED:
        return [f"{relative}: package {package!r} has no place in ALLOWED"]
    allowed = ALLOWED[package] | {package}
    banned = BANNED_LIBRARIES.get(package, frozenset())
    found = []
    for module in sorted(imported_modules(source, relative)):
        target = _tcpq_package(module)
        if target is not None and target not in allowed:
            found.append(f"{relative}: {package} imports {module}")
        elif target is None and module.split(".")[0] in banned:
            found.append(f"{relative}: {package} uses {module}")
    return found


def _modules() -> list[Path]:
    return sorted(path.relative_to(SRC) for path in SRC.rglob("*.py"))


def test_every_package_has_a_place() -> None:
    packages = {package_of(relative) for relative in _modules()}
    assert packages - ALLOWED.keys() == set()
    assert ALLOWED.keys() - packages == set(), "a package listed in ALLOWED no longer exists"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_import_direction(package: str) -> None:
    modules = [relative for relative in _modules() if package_of(relative) == package]
    assert modules, f"no modules in {package}"
    found = [line for relative in modules for line in refusals(relative, (SRC / relative).read_text())]
    assert found == []


# The imports issue 12 found going the wrong way, each as it was written, and a few more of the
# same kinds: the rule must refuse every one.
WRONG_WAY = [
    ("observe/session.py", "def doctor():\n    from tcpq.doctor import diagnose\n"),
    ("lab/runner.py", "from tcpq.sim.arrivals import arrival_times\n"),
    ("lab/runner.py", "from tcpq.sim.runner import percentiles, sample_interval, with_settings\n"),
    ("lab/attack.py", "from tcpq.sim.arrivals import arrival_times\n"),
    ("lab/verify.py", "from tcpq.sim.runner import simulate\n"),
    ("sim/runner.py", "from tcpq.lab.runner import run_lab\n"),
    ("observe/snapshot.py", "import tcpq.app.host_session\n"),
    ("report/host.py", "from tcpq.observe.procfs import read_counters\n"),
    ("top/source.py", "from tcpq.observe import netns\n"),
    ("export/server.py", "from tcpq import observe\n"),
    ("doctor/rules.py", "from tcpq.observe.snapshot import take_snapshot\n"),
    ("model/listener.py", "import time\n"),
    ("model/client.py", "from tcpq.sim.engine import Engine\n"),
    ("app/sweep.py", "from tcpq.report.sweep import sweep_table\n"),
    ("app/fidelity.py", "from tcpq.cli_common import print_json\n"),
    ("run/summary.py", "from tcpq.sim import runner\n"),
    ("sim/app.py", "from ..lab import clients\n"),
]


@pytest.mark.parametrize(("where", "source"), WRONG_WAY, ids=[where for where, _ in WRONG_WAY])
def test_the_wrong_way_is_refused(where: str, source: str) -> None:
    assert len(refusals(Path(where), source)) == 1


# The same modules importing what they should: the rule is not refusing everything.
RIGHT_WAY = [
    ("app/host_session.py", "def doctor():\n    from tcpq.doctor import diagnose\n"),
    ("lab/runner.py", "from tcpq.run.arrivals import arrival_times\n"),
    ("sim/runner.py", "from tcpq.run.summary import run_result\n"),
    ("app/verify.py", "from tcpq.sim.runner import simulate\nfrom tcpq.lab.runner import run_lab\n"),
    ("top/source.py", "from tcpq.app import host_session\n"),
    ("cli_host.py", "from tcpq import top\nfrom tcpq.observe.snapshot import Attribution\n"),
    ("observe/snapshot.py", "from . import procfs\nimport os\n"),
]


@pytest.mark.parametrize(("where", "source"), RIGHT_WAY, ids=[where for where, _ in RIGHT_WAY])
def test_the_right_way_is_allowed(where: str, source: str) -> None:
    assert refusals(Path(where), source) == []


def test_modules_stay_small() -> None:
    """STYLE.md habit 14: split by concern (catalogue data files excepted)."""
    # Entries only (tests/kernel/test_catalogue.py checks it).
    data_files = {"sysctl_data.py", "sysctl_timer_data.py", "counter_data.py", "state_data.py"}
    for path in SRC.rglob("*.py"):
        if path.name not in data_files:
            assert len(path.read_text(encoding="utf-8").splitlines()) <= 500, path
