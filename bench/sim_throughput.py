#!/usr/bin/env python3
"""Simulator throughput: simulated connection attempts per wall-clock second.

Runs the whole command `tcpq simulate SCENARIO --json` several times (a new process each time,
so start-up is included, as a user sees it) and reports, per run and as the median:
attempts per wall second, SYN events handled per wall second, and how much faster than real
time the scenario ran (simulated seconds / wall seconds; the real kernel needs the scenario's
own duration, so that ratio is the speed-up over running it in `tcpq lab`).

    python3 bench/sim_throughput.py                      # bench/heavy.toml, 3 runs
    python3 bench/sim_throughput.py --runs 5 examples/synflood-cookies-1.toml
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed_simulate(scenario: Path, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall seconds and stdout of one whole `python -m tcpq simulate SCENARIO --json` (env:
    the child's environment, default this one's). The other simulator benches time it so too."""
    started = time.perf_counter()
    output = subprocess.run(
        [sys.executable, "-m", "tcpq", "simulate", str(scenario), "--json"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return time.perf_counter() - started, output


def one_run(scenario: Path) -> tuple[float, dict[str, object]]:
    wall, output = timed_simulate(scenario)
    return wall, json.loads(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", type=Path, default=HERE / "heavy.toml")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    walls: list[float] = []
    result: dict[str, object] = {}
    for index in range(args.runs):
        wall, result = one_run(args.scenario)
        walls.append(wall)
        print(f"run {index + 1}: {wall:.2f} s", flush=True)
    clients = result["clients"]
    counters = result["counters"]
    client_counters = result["client_counters"]
    assert isinstance(clients, dict) and isinstance(counters, dict) and isinstance(client_counters, dict)
    attempts = int(clients["attempted"])
    syns = attempts + int(client_counters["TcpExtTCPSynRetrans"])
    wall = statistics.median(walls)
    simulated = float(str(result["duration_s"]))
    print(f"scenario            {args.scenario}")
    print(f"attempts            {attempts:,}")
    print(f"client SYNs         {syns:,}  (ListenOverflows {int(counters['TcpExtListenOverflows']):,})")
    print(
        f"median wall time    {wall:.2f} s over {args.runs} runs (min {min(walls):.2f}, max {max(walls):.2f})"
    )
    print(f"attempts / wall s   {attempts / wall:,.0f}")
    print(f"SYNs / wall s       {syns / wall:,.0f}")
    print(f"simulated / wall    {simulated / wall:.2f}x real time")


if __name__ == "__main__":
    main()
