#!/usr/bin/env python3
"""`tcpq status --json` against `ss -tanp` and psutil.net_connections(), at 10k and 100k sockets.

Needs root and psutil (`pip install psutil`; it is the peer, not a tcpq dependency). For each
scene, creates a throwaway namespace (tcpq-bench-<pid>-N) holding CONNECTIONS loopback
connections (bench/observe_readers.py's helpers: several processes, several ports and source
addresses, bounded in time), then times whole commands inside it, interleaved, several runs
each, and prints medians and ratios to `ss -tanp` and to psutil. Everything is removed
afterwards (finally).

    sudo .venv/bin/python bench/status_vs_peers.py                      # 5k and 50k connections, 3 runs
    sudo .venv/bin/python bench/status_vs_peers.py --connections 5000 --runs 5
    sudo .venv/bin/python bench/status_vs_peers.py --before HEAD~3      # and an older tcpq beside it

All of them attribute sockets to processes: `ss -p` and psutil read every fd of every process
and name the owner of every socket; tcpq status names every holder of each listener (the only
owners it shows), reading every fd too, on the other CPUs while it reads the sockets. tcpq runs
with `--interval 0` (one sample: no rates, so no sleep is timed) and from cached bytecode (see
bench/startup.py), as an installed tcpq does. `--before REV` runs the tree of an older commit
(`git archive REV src`, imported through PYTHONPATH) the same way, for a before/after in one run.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import observe_readers as load
from startup import child_env

REPO = Path(__file__).resolve().parent.parent
PSUTIL = "import psutil; print(len(psutil.net_connections('tcp')))"
TCPQ = "tcpq status --json --interval 0"
SS = "ss -tanp"
PSUTIL_NAME = "psutil.net_connections('tcp')"


def commands(ns: str, before: Path | None) -> dict[str, list[str]]:
    exec_ns = ["ip", "netns", "exec", ns]
    tcpq = [sys.executable, "-m", "tcpq", "status", "--json", "--interval", "0"]
    out = {TCPQ: [*exec_ns, *tcpq]}
    if before is not None:
        out[f"{TCPQ} (before)"] = [*exec_ns, "env", f"PYTHONPATH={before}", *tcpq]
    return out | {SS: [*exec_ns, "ss", "-tanp"], PSUTIL_NAME: [*exec_ns, sys.executable, "-c", PSUTIL]}


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=child_env())
    return time.perf_counter() - started


def scene(index: int, connections: int, runs: int, before: Path | None) -> None:
    name = f"tcpq-bench-{os.getpid()}-{index}"
    with load.namespace(name) as ns, load.helpers(ns, connections) as held:
        print(f"\nnamespace {ns}: helpers hold {held} sockets; {runs} runs each, interleaved", flush=True)
        cmds = commands(ns, before)
        for command in cmds.values():
            timed(command)  # warm: page cache, bytecode
        walls: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(runs):
            for label, command in cmds.items():
                walls[label].append(timed(command))
        ss, psutil = statistics.median(walls[SS]), statistics.median(walls[PSUTIL_NAME])
        print(f"{'':44} {'sockets':>8} {'median':>8} {'min':>8} {'max':>8} {'vs ss':>7} {'vs psutil':>9}")
        for label, times in walls.items():
            median = statistics.median(times)
            print(
                f"{label:44} {held:>8} {median * 1000:6.0f}ms {min(times) * 1000:6.0f}ms "
                f"{max(times) * 1000:6.0f}ms {median / ss:6.2f}x {median / psutil:8.2f}x"
            )
        tcpq = statistics.median(walls[TCPQ])
        print(f"  tcpq status: {ss / tcpq:.2f}x as fast as ss -tanp, {psutil / tcpq:.2f}x as psutil")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[5_000, 50_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before", metavar="REV", help="also time tcpq as of this commit")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (creates a network namespace)")
    with tempfile.TemporaryDirectory(prefix="tcpq-bench-before-") as tmp:
        before = None
        if args.before:
            archive = subprocess.run(
                ["git", "-C", str(REPO), "archive", args.before, "src"], check=True, capture_output=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            before = Path(tmp) / "src"
        for index, connections in enumerate(args.connections):
            scene(index, connections, args.runs, before)


if __name__ == "__main__":
    main()
