#!/usr/bin/env python3
"""`tcpq sweep` on 1 process against 2: 64 points (8 backlogs × 8 somaxconn), the same command.

Runs the whole command `tcpq sweep SCENARIO --vary ... --json --jobs N` (a new process each
time: start-up, planning and the workers' start included, as a user sees it) for each N, checks
that the results are identical, and prints the wall times and the speed-up.

    python3 bench/sweep.py                     # nginx-somaxconn-128 over 12 s, 3 seeds: 192 runs
    python3 bench/sweep.py --seeds 1 --jobs 1 2
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "examples" / "nginx-somaxconn-128.toml"
BACKLOGS = "16,32,64,128,256,511,1024,4096"
SOMAXCONNS = "64,128,256,512,1024,2048,4096,8192"
# 12 s of the example's 100/s Poisson traffic and its one burst of 400: ~1,600 attempts a run
OVERRIDES = ("duration=12s",)


def command(seeds: int, jobs: int) -> list[str]:
    args = [sys.executable, "-m", "tcpq", "sweep", str(SCENARIO), "--json", "--jobs", str(jobs)]
    args += [
        "--vary",
        f"server.backlog={BACKLOGS}",
        "--vary",
        f"kernel.sysctl.net.core.somaxconn={SOMAXCONNS}",
    ]
    for override in OVERRIDES:
        args += ["--set", override]
    return [*args, "--seeds", str(seeds)]


def one_run(seeds: int, jobs: int) -> tuple[float, str]:
    started = time.perf_counter()
    output = subprocess.run(command(seeds, jobs), check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - started, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    shown = " ".join(command(args.seeds, 0)[2:]).replace(str(ROOT) + "/", "")
    print(f"command   {shown.replace('--jobs 0', '--jobs N')}")
    walls: dict[int, float] = {}
    outputs: dict[int, str] = {}
    for jobs in args.jobs:
        walls[jobs], outputs[jobs] = one_run(args.seeds, jobs)
        print(f"--jobs {jobs}  {walls[jobs]:.2f} s", flush=True)
    first = args.jobs[0]
    same = all(output == outputs[first] for output in outputs.values())
    print(f"results   {'identical' if same else 'DIFFER'} for --jobs {' and '.join(map(str, args.jobs))}")
    for jobs in args.jobs[1:]:
        print(f"speed-up  --jobs {jobs} vs --jobs {first}: {walls[first] / walls[jobs]:.2f}×")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
