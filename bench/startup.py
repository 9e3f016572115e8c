#!/usr/bin/env python3
"""How long the host commands take to start: whole processes, beside `sysctl -a` and `python3 -c pass`.

Each command runs RUNS times, interleaved (one round runs every command once), stdout to
/dev/null; the table gives medians, min and max, and the ratio to `sysctl -a`. A last column
names the heavy modules the command imported (one extra run with `-X importtime`): the host
commands must import none of pydantic, numpy, matplotlib, textual or the simulator.

    .venv/bin/python bench/startup.py                    # 15 runs each
    .venv/bin/python bench/startup.py --runs 5 --only help explain

The commands read this host (no namespace is made and nothing is changed): `status` and
`states` with one sample (`--interval 0`), `counters` likewise, `doctor` with its shortest
interval (50 ms, which the figure includes).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
TCPQ = str(VENV_BIN / "tcpq") if (VENV_BIN / "tcpq").exists() else "tcpq"
HEAVY = ("pydantic", "numpy", "matplotlib", "textual", "tcpq.sim", "tcpq.run", "tcpq.scenario", "tcpq.lab")

COMMANDS: dict[str, list[str]] = {
    "help": [TCPQ, "--help"],
    "version": [TCPQ, "--version"],
    "explain": [TCPQ, "explain", "somaxconn"],
    "explain-json": [TCPQ, "explain", "somaxconn", "--json"],
    "explain-list": [TCPQ, "explain", "--list"],
    "status": [TCPQ, "status", "--interval", "0"],
    "status-json": [TCPQ, "status", "--interval", "0", "--json"],
    "states": [TCPQ, "states"],
    "states-process": [TCPQ, "states", "--by", "process"],
    "counters": [TCPQ, "counters", "--interval", "0"],
    "sysctl": [TCPQ, "sysctl"],
    "doctor": [TCPQ, "doctor", "--interval", "0.05"],
    "simulate-help": [TCPQ, "simulate", "--help"],
}
PEERS: dict[str, list[str]] = {
    "sysctl -a": ["sysctl", "-a"],
    "ss -tanp": ["ss", "-tanp"],
    "python3 -c pass": [sys.executable, "-c", "pass"],
}
BASELINE = "sysctl -a"
# An installed tcpq runs from cached bytecode. PYTHONDONTWRITEBYTECODE (set in some shells and
# CI images) would make every run compile each module again, so the children drop it and keep
# their bytecode in a directory of their own, outside the source tree.
PYCACHE = Path(os.environ.get("TMPDIR", "/tmp")) / "tcpq-bench-pycache"


def child_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return env | {"PYTHONPYCACHEPREFIX": str(PYCACHE)}


def run_once(command: list[str]) -> float:
    started = time.perf_counter()
    # doctor exits 1 when it finds something: that is an answer, not a failure of the run.
    subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=child_env()
    )
    return time.perf_counter() - started


def heavy_imports(command: list[str]) -> str:
    """The heavy modules a tcpq command imports, from one run under `python3 -X importtime`."""
    if command[0] != TCPQ:
        return ""
    python = [sys.executable, "-X", "importtime", "-m", "tcpq", *command[1:]]
    stderr = subprocess.run(python, capture_output=True, text=True, check=False, env=child_env()).stderr
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")
    }
    found = sorted(
        {name for name in HEAVY for module in imported if module == name or module.startswith(name + ".")}
    )
    return ", ".join(found) if found else "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--only", nargs="*", choices=sorted(COMMANDS), help="tcpq commands to time")
    args = parser.parse_args()
    chosen = {name: COMMANDS[name] for name in (args.only or COMMANDS)}
    peers = {name: command for name, command in PEERS.items() if shutil.which(command[0])}
    everything = {f"tcpq {' '.join(command[1:])}": command for command in chosen.values()} | peers
    for command in everything.values():
        run_once(command)  # warm the page cache and the .pyc files: every figure is a warm start
    walls: dict[str, list[float]] = {name: [] for name in everything}
    for _ in range(args.runs):
        for name, command in everything.items():
            walls[name].append(run_once(command))
    base = statistics.median(walls[BASELINE]) if BASELINE in walls else None
    print(f"{args.runs} runs each, interleaved; warm start; stdout to /dev/null")
    print(f"{'command':44} {'median':>8} {'min':>8} {'max':>8} {'ratio':>7}  heavy imports")
    for name, times in walls.items():
        median = statistics.median(times)
        ratio = f"{median / base:6.2f}x" if base else "      -"
        print(
            f"{name:44} {median * 1000:6.0f}ms {min(times) * 1000:6.0f}ms {max(times) * 1000:6.0f}ms "
            f"{ratio}  {heavy_imports(everything[name])}"
        )


if __name__ == "__main__":
    main()
