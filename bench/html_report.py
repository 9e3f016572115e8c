#!/usr/bin/env python3
"""What a picture of a run costs: whole commands, side by side, in one run of this script.

For each scenario, the median wall time over --runs of
  A  `tcpq simulate SCENARIO --json`                  (the run alone)
  B  `tcpq simulate SCENARIO --json --html F`         (the run and its page)
  C  `tcpq report RESULT.json --html F`               (the page of a saved run: drawing only)
  D  `tcpq report RESULT.json --png DIR`              (the same charts as PNG files)
and the page's size. B − A and C are what --html adds; C/A compares drawing with simulating.

    python3 bench/html_report.py
    python3 bench/html_report.py --runs 5 examples/java-backlog-50.toml bench/heavy.toml
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = [ROOT / "examples" / "backlog-nobody-accepts.toml", ROOT / "examples" / "java-backlog-50.toml"]


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tcpq", *args], check=True, capture_output=True)
    return time.perf_counter() - started


def median_of(runs: int, args: list[str]) -> float:
    return statistics.median(timed(args) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", type=Path, default=DEFAULT)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"{'scenario':28} {'A sim':>7} {'B +html':>8} {'C report':>9} {'D png':>7} {'page KB':>8}")
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        result, page = work / "run.json", work / "run.html"
        for scenario in args.scenarios:
            alone = median_of(args.runs, ["simulate", str(scenario), "--json"])
            with_page = median_of(
                args.runs, ["simulate", str(scenario), "--out", str(result), "--html", str(page)]
            )
            drawing = median_of(args.runs, ["report", str(result), "--html", str(page)])
            pngs = median_of(args.runs, ["report", str(result), "--png", str(work / "png")])
            size = page.stat().st_size / 1024
            times = f"{alone:6.2f}s {with_page:7.2f}s {drawing:8.2f}s {pngs:6.2f}s"
            print(f"{scenario.stem[:28]:28} {times} {size:8.0f}")


if __name__ == "__main__":
    main()
