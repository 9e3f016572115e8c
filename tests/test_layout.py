"""The direction of imports (STYLE.md habit 1): the model is pure, renderers never read."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "tcpq"

FORBIDDEN = {
    "model": {
        "tcpq.sim",
        "tcpq.lab",
        "tcpq.observe",
        "tcpq.report",
        "tcpq.cli",
        "rich",
        "os",
        "time",
        "random",
        "numpy",
        "socket",
        "subprocess",
        "pathlib",
        "datetime",
    },
    "kernel": {"tcpq.sim", "tcpq.lab", "tcpq.observe", "tcpq.report", "tcpq.cli", "os", "time", "random"},
    "report": {"tcpq.sim", "tcpq.lab", "tcpq.observe", "os", "subprocess", "socket"},
    "sim": {"tcpq.lab", "tcpq.observe", "tcpq.report", "tcpq.cli", "rich", "os", "time", "socket"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_import_direction(package: str) -> None:
    files = sorted((SRC / package).glob("*.py"))
    assert files, f"no modules in {package}"
    for path in files:
        for name in imported_modules(path):
            for banned in FORBIDDEN[package]:
                assert not (name == banned or name.startswith(banned + ".")), f"{path.name} imports {name}"


def test_modules_stay_small() -> None:
    """STYLE.md habit 14: split by concern (catalogue data files excepted)."""
    data_files = {"sysctl_data.py", "counter_data.py", "state_data.py"}  # entries only (tests/kernel)
    for path in SRC.rglob("*.py"):
        if path.name not in data_files:
            assert len(path.read_text(encoding="utf-8").splitlines()) <= 500, path
