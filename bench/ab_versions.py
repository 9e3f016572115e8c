#!/usr/bin/env python3
"""Simulator throughput of two versions of tcpq, side by side, runs alternating.

Each run is the whole command `python -m tcpq simulate SCENARIO --json` in a new process, once
with the tree under test and once with an older tree (a `git worktree` of an earlier commit,
put first on PYTHONPATH), alternating so that a machine slowing down hurts both equally.
Prints each run, the medians, attempts per wall second and the ratio.

    git worktree add /tmp/before <commit>
    python3 bench/ab_versions.py --before /tmp/before/src --runs 2 bench/heavy.toml
"""

import argparse
import json
import os
import statistics
from pathlib import Path

from sim_throughput import timed_simulate

HERE = Path(__file__).resolve().parent


def one_run(scenario: Path, src: Path | None) -> tuple[float, int, int]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    wall, output = timed_simulate(scenario, env)
    data = json.loads(output)
    syns = int(data["clients"]["attempted"]) + int(data["client_counters"]["TcpExtTCPSynRetrans"])
    return wall, int(data["clients"]["attempted"]), syns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", type=Path, default=HERE / "heavy.toml")
    parser.add_argument("--before", type=Path, required=True, help="the older tree's src/ directory")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    walls: dict[str, list[float]] = {"before": [], "after": []}
    sizes: dict[str, tuple[int, int]] = {}
    for index in range(args.runs):
        for name, src in (("before", args.before), ("after", None)):
            wall, attempts, syns = one_run(args.scenario, src)
            walls[name].append(wall)
            sizes[name] = (attempts, syns)
            print(f"run {index + 1} {name}: {wall:.2f} s ({attempts:,} attempts, {syns:,} SYNs)", flush=True)
    medians = {name: statistics.median(values) for name, values in walls.items()}
    for name, median in medians.items():
        attempts, syns = sizes[name]
        rates = f"{attempts / median:,.0f} attempts/s  {syns / median:,.0f} SYNs/s"
        print(f"{name:6}  median {median:.2f} s  {rates}")
    print(f"after/before wall time: {medians['after'] / medians['before']:.2f}")


if __name__ == "__main__":
    main()
