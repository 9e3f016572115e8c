#!/usr/bin/env python3
"""`tcpq status --json` against `ss -tanp` and psutil.net_connections() at 100k sockets.

Needs root and psutil (`pip install psutil`; it is the peer, not a tcpq dependency). Creates a
throwaway namespace holding CONNECTIONS loopback connections (bench/observe_readers.py's
helpers: several processes, several ports and source addresses, bounded in time), then times
whole commands inside it, interleaved, several runs each, and prints medians and ratios.
Everything is removed afterwards (finally).

    sudo .venv/bin/python bench/status_vs_peers.py                    # 50k connections = 100k sockets, 3 runs
    sudo .venv/bin/python bench/status_vs_peers.py --connections 5000 --runs 5

All three attribute sockets to processes: `ss -p` and psutil walk /proc/*/fd like tcpq does.
tcpq runs with `--interval 0` (one sample: no rates, so no sleep is timed).
"""

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import observe_readers as load

PSUTIL = "import psutil; print(len(psutil.net_connections('tcp')))"


def commands(ns: str) -> dict[str, list[str]]:
    exec_ns = ["ip", "netns", "exec", ns]
    return {
        "tcpq status --json --interval 0": [
            *exec_ns,
            sys.executable,
            "-m",
            "tcpq",
            "status",
            "--json",
            "--interval",
            "0",
        ],
        "ss -tanp": [*exec_ns, "ss", "-tanp"],
        "psutil.net_connections('tcp')": [*exec_ns, sys.executable, "-c", PSUTIL],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (creates a network namespace)")
    with load.namespace(f"tcpq-test-{os.getpid()}-status") as ns, load.helpers(ns, args.connections) as held:
        print(f"namespace {ns}: helpers hold {held} sockets; {args.runs} runs each, interleaved", flush=True)
        cmds = commands(ns)
        walls: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(args.runs):
            for name, command in cmds.items():
                times, _ = load.whole_process(command, 1, keep_output=False)
                walls[name] += times
                print(f"  {name}: {times[0]:.2f} s", flush=True)
        rows = [(name, held, times, "") for name, times in walls.items()]
        load.report("whole commands under `ip netns exec` (start-up included)", rows, "ss -tanp")


if __name__ == "__main__":
    main()
