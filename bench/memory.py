#!/usr/bin/env python3
"""Peak memory of whole `tcpq simulate` runs: the process's peak RSS, its wall time, the
attempts it simulated and the estimate tcpq made before starting.

Each run is a new process (`python3 -m tcpq simulate SCENARIO --set duration=D --json`); its
peak RSS comes from the kernel's accounting of that child (os.wait4), so nothing inside tcpq
measures itself. With `--before SRC`, the same runs with that tree's `src` on PYTHONPATH, side by
side (e.g. `git worktree add /tmp/before REV`).

    python3 bench/memory.py bench/keeping-up.toml --duration 1000s           # 20 M attempts
    python3 bench/memory.py bench/keeping-up.toml --duration 100s --before /tmp/before/src
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


def one_run(scenario: Path, duration: str, src: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, "-m", "tcpq", "simulate", str(scenario), "--set", f"duration={duration}"]
    command += ["--json", "--max-memory", "16G"]  # the older tree's estimate would refuse it
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"{' '.join(command)}: exit status {child.returncode}")
        out.seek(0)
        result = json.load(out)
    estimate = estimated_bytes(scenario, duration, src)
    return {
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "wall_s": wall,
        "attempts": result["clients"]["attempted"],
        "estimate_mb": estimate / 1024**2,
    }


def estimated_bytes(scenario: Path, duration: str, src: Path) -> int:
    code = (
        "import sys; from pathlib import Path; from tcpq.scenario import load_scenario;"
        "from tcpq.sim.runner import estimate_memory;"
        "print(estimate_memory(load_scenario(Path(sys.argv[1]), [f'duration={sys.argv[2]}'])))"
    )
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, "-c", code, str(scenario), duration]
    text = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--duration", default="100s", help="the scenario's duration for the run")
    parser.add_argument("--before", type=Path, help="an older tree's src, run beside this one")
    args = parser.parse_args()
    trees = [("this tree", SRC)] + ([("before", args.before)] if args.before else [])
    print(f"{args.scenario} at duration {args.duration}")
    print(f"{'tree':<10} {'attempts':>12} {'peak RSS':>10} {'B/attempt':>10} {'estimate':>10} {'wall':>8}")
    for name, src in trees:
        run = one_run(args.scenario, args.duration, src)
        per_attempt = run["peak_rss_mb"] * 1024**2 / max(run["attempts"], 1)
        print(
            f"{name:<10} {run['attempts']:>12,.0f} {run['peak_rss_mb']:>7,.0f} MB {per_attempt:>10.0f}"
            f" {run['estimate_mb']:>7,.0f} MB {run['wall_s']:>7.1f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
