"""Host commands import only what they run: never pydantic, numpy, matplotlib, textual or the
simulator (issue 13). Checked on the modules each command loaded, never on its speed."""

import json
import subprocess
import sys

import pytest

HEAVY = ("pydantic", "numpy", "matplotlib", "textual", "tcpq.sim", "tcpq.run", "tcpq.scenario", "tcpq.lab")

# Runs a command in a fresh interpreter as `tcpq` would, then prints the modules it loaded.
PROBE = """
import json, sys
from tcpq.cli import main
try:
    main(sys.argv[1:], prog_name="tcpq")
except SystemExit:
    pass
sys.stdout.flush()
print("\\nMODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr)
"""

HOST_COMMANDS = [
    ["--help"],
    ["--version"],
    ["explain", "somaxconn"],
    ["explain", "somaxconn", "--json"],
    ["explain", "--list"],
    ["status", "--interval", "0"],
    ["status", "--interval", "0", "--json"],
    ["states"],
    ["states", "--by", "process", "--json"],
    ["counters", "--interval", "0"],
    ["sysctl", "--json"],
    ["doctor", "--interval", "0.05", "--json"],
    ["status", "--help"],
    ["simulate", "--help"],
]


def loaded_modules(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60, check=False
    )
    marker = result.stderr.rfind("MODULES ")
    assert marker >= 0, result.stderr
    return set(json.loads(result.stderr[marker + len("MODULES ") :]))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules for name in HEAVY if m == name or m.startswith(name + "."))


@pytest.mark.parametrize("args", HOST_COMMANDS, ids=" ".join)
def test_host_command_imports_nothing_heavy(args: list[str]) -> None:
    assert heavy(loaded_modules(*args)) == []


def test_help_and_explain_do_not_load_the_host_readers_or_the_data_model() -> None:
    for args in (["--help"], ["explain", "somaxconn"]):
        modules = loaded_modules(*args)
        assert not {m for m in modules if m.startswith("tcpq.observe")}, args
        assert "tcpq.types" not in modules, args
    assert "rich" not in loaded_modules("--help")


def test_json_output_does_not_draw() -> None:
    """--json serialises objects: the terminal renderer (rich) is never imported for it."""
    for args in (["status", "--interval", "0", "--json"], ["explain", "somaxconn", "--json"]):
        modules = loaded_modules(*args)
        assert "rich" not in modules and "tcpq.report.host" not in modules, args


def test_the_probe_sees_a_heavy_import() -> None:
    """The check can fail: `simulate` loads the simulator (here before it finds no file)."""
    found = heavy(loaded_modules("simulate", "/nonexistent/scenario.toml"))
    assert "tcpq.sim" in found and "tcpq.scenario" in found
