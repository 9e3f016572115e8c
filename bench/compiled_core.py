#!/usr/bin/env python3
"""The compiled simulator core against the reference model: whole `tcpq simulate` commands.

Runs `python -m tcpq simulate SCENARIO --json` alternately with TCPQ_PURE=1 (the Python
sources, the reference) and without it (the core mypyc compiled from them, setup.py), checks
that both print the same JSON, and reports the medians, attempts and SYN events per wall
second, and the ratio.

    python3 bench/compiled_core.py --runs 3 bench/heavy.toml
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from sim_throughput import timed_simulate

HERE = Path(__file__).resolve().parent


def core_env(pure: bool) -> dict[str, str]:
    """This environment, with TCPQ_PURE=1 for the reference or without it for the compiled core."""
    env = {key: value for key, value in os.environ.items() if key != "TCPQ_PURE"}
    if pure:
        env["TCPQ_PURE"] = "1"
    return env


def one_run(scenario: Path, pure: bool) -> tuple[float, str]:
    return timed_simulate(scenario, core_env(pure))


def core_in_use(pure: bool) -> bool:
    env = core_env(pure)
    code = "from tcpq.simcore import compiled; print(compiled())"
    answer = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout
    return answer.strip() == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", type=Path, default=HERE / "heavy.toml")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not core_in_use(pure=False):
        raise SystemExit("the compiled core is not built (pip install -e . builds it)")
    walls: dict[str, list[float]] = {"reference": [], "compiled": []}
    outputs: dict[str, str] = {}
    for index in range(args.runs):
        for name, pure in (("reference", True), ("compiled", False)):
            wall, output = one_run(args.scenario, pure)
            walls[name].append(wall)
            if outputs.setdefault(name, output) != output:
                raise SystemExit(f"{name}: two runs of the same scenario differ")
            print(f"run {index + 1} {name}: {wall:.2f} s", flush=True)
    same = outputs["reference"] == outputs["compiled"]
    data = json.loads(outputs["compiled"])
    attempts = int(data["clients"]["attempted"])
    syns = attempts + int(data["client_counters"]["TcpExtTCPSynRetrans"])
    for name, values in walls.items():
        median = statistics.median(values)
        rates = f"{attempts / median:,.0f} attempts/s  {syns / median:,.0f} SYNs/s"
        print(f"{name:<10} median {median:.2f} s  {rates}")
    ratio = statistics.median(walls["reference"]) / statistics.median(walls["compiled"])
    print(f"compiled is {ratio:.2f}x the reference's speed; JSON {'identical' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
