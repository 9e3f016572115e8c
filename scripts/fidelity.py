#!/usr/bin/env python3
"""Write docs/fidelity.md: `tcpq compare` of every example, side by side, with accounts.

Needs root (the lab). For each file in examples/ it runs `python3 -m tcpq compare FILE --json`
RUNS times in a row (the issue asks for three agreeing runs), renders the metrics of the last
run that are non-zero on either side, and adds the hand-written account of the disagreements
kept in ACCOUNTS below (update it when the results change). The model side uses this machine's
calibration (`tcpq lab calibrate`), which the page prints.

    sudo .venv/bin/python scripts/fidelity.py            # all examples → docs/fidelity.md
    sudo .venv/bin/python scripts/fidelity.py --only e2-final-ack-overflow --runs 1
"""

import argparse
import json
import platform
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
OUTPUT = ROOT / "docs" / "fidelity.md"

# Why model and kernel differ, per example (written after reading the tables; keep them true).
ACCOUNTS: dict[str, str] = {
    "java-backlog-50": (
        "In some lab runs (1 in 3 to 1 in 6 on 2026-12-03), about 14 requests of the 1 s SYN "
        "retransmission wave stay in the SYN queue, acked: their final ACKs met a full accept queue "
        "(abort_on_overflow 0 keeps them), each gets one SYN-ACK retransmission 1 s later "
        "(TCPSynRetrans 14, answered by the client's challenge ACK), and the SYN queue they hold "
        "turns ~50 later SYNs away before the cookie test (ReqQFullDoCookies 137 instead of 188). In "
        "the model every request of the wave finds room. `tcpq trace` shows the same class in "
        "docs/fuzz/fuzz-1-45.toml: which final ACKs of a wave meet a full queue is decided by the "
        "order of SYNs, final ACKs and accept() calls within a few ms, which the model does not "
        "reproduce yet. In the run of three before this page's: client SYN retransmissions 247 "
        "against 239, 3 % where the fixed tolerance is 2 %."
    ),
    "tomcat-backlog-100": (
        "In 1 of 3 runs on 2026-12-03 (evening) the kernel sent 10 SYN cookies where the model and "
        "the other runs send 88; in 8 more lab runs with a packet tap in the server namespace, 7 sent"
        " 88 and one 43: in that one the clients' 1 s retransmissions came in two waves, 45 SYNs at "
        "+1.006 s and 144 at +1.038 s, because the 32 ms timer-wheel bucket edge fell inside the "
        "burst of 300 connects (itself 4-10 ms long, once with a pause of ~10 ms after 82 connects); "
        "the second wave finds the SYN queue drained by the first and gets request socks instead of "
        "cookies. The model draws where a run falls on the jiffies clock and splits such waves too, "
        "but rarely enough that a 10 lies outside its 21 runs. The same class as "
        "docs/fuzz/fuzz-7-1.toml (docs/fuzz/README.md)."
    ),
    "backend-3s-late-current-kernel": (
        "The 4 workers wait out the burst of 20 in most lab runs this evening (2026-12-03: 11-15 "
        "ListenOverflows and 2-6 SyncookiesRecv in 11 of 13 runs, 7 in the other two and in 3 of 3 "
        "that morning); the model draws it with calibrate's `workers_behind_client` (10 % in the "
        "calibration above, 50 % half an hour earlier), so counts agree by its draws. In the run of "
        "three before this page's (same calibration, before the server's reply was retransmitted) "
        "response_time_s.max differed once, 1.22-1.24 s in the kernel's waiting runs against "
        "1.02-1.06 s in 30 of the model's draws: in the kernel one client's request "
        "(sent at once, its cookie ACK having met the full accept queue) is dropped again and "
        "retransmitted 0.2 s later; in the model's waiting runs the queue has room by then. Not "
        "traced further."
    ),
    "backend-3s-late-old-kernel": (
        "The file asks for kernel 2.6; the lab can only run this machine's kernel, so `tcpq compare` "
        "models the running kernel too (see the lab's note), which makes this run the current-kernel "
        "example's, with its account (response_time_s.max in the workers' waiting runs). The 3 s "
        "story is the model's alone: compare `tcpq simulate` of this file with the current-kernel "
        "file, and `tcpq lab verify`'s client-syn-schedule check for today's 1 s."
    ),
    "timewait-port-exhaustion": (
        "Counts and latencies agree; the lab's sampled accept-queue peak is 4-6 in some runs where "
        "the model's is 1. At 500 clients/s an immediate-accept server 8-12 ms late holds 4-6 "
        "connections; the wake-ups `tcpq lab calibrate` measures (50, top decile 0.6 ms) contain no "
        "such stall, so the model never draws one. The stall is the lab server's (a 2-CPU machine "
        "shared with the client program and the sampler), not the kernel's."
    ),
}


# `tcpq lab fuzz` on this machine: hand-written after the run (keep it true when re-running).
FUZZ_ACCOUNT = ROOT / "docs" / "fuzz" / "README.md"


def compare(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "tcpq", "compare", str(path), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 1):
        return {"error": (result.stderr or result.stdout).strip().splitlines()[-1:]}
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def host_table() -> str:
    """The calibration the comparisons used, as the [host] file shows it."""
    sys.path.insert(0, str(ROOT / "src"))
    from tcpq.app.calibration import cache_path

    path = cache_path()
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return "\n".join(["```toml", *lines, "```"])


def fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def section(path: Path, runs: list[dict[str, Any]]) -> list[str]:
    lines = [f"## {path.stem}", ""]
    errors = [run for run in runs if "error" in run]
    if errors:
        return [*lines, f"The comparison could not run: `{' '.join(errors[-1]['error'])}`", ""]
    agreed = sum(1 for run in runs if run.get("agrees"))
    differing = [run for run in runs if not run.get("agrees")]
    # The table is the run that needs an account: the last one that differed, if any did.
    data = differing[-1] if differing else runs[-1]
    rows = data["comparison"]["rows"]
    shown = "the last that differed" if differing else "the last"
    verdict = "agree within tolerance" if not differing else "**agree only**"
    lines += [
        f"Model and kernel {verdict} in {agreed} of {len(runs)} runs in a row (the table: {shown}). "
        f"Command: `sudo .venv/bin/tcpq compare examples/{path.name}`",
        "",
    ]
    lines += ["| metric | sim | lab | Δ | ± | verdict |", "|---|---|---|---|---|---|"]
    for row in rows:
        if not row["sim"] and not row["lab"] and row["ok"]:
            continue
        mark = "ok" if row["ok"] else "**differs**"
        lab = ("≥" if row.get("lab_lower_bound") else "") + fmt(row["lab"])
        lines.append(
            f"| {row['metric']} | {fmt(row['sim'])} | {lab} | {fmt(row['difference'])} "
            f"| {fmt(row['tolerance'])} | {mark} |"
        )
    notes = data["comparison"]["notes"]
    if notes:
        lines += ["", *[f"- {note}" for note in notes]]
    account = ACCOUNTS.get(path.stem)
    if account:
        lines += ["", account]
    elif not data["agrees"]:
        lines += ["", "_No account written yet for this disagreement._"]
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="one example (file stem); prints instead of writing the page")
    parser.add_argument("--runs", type=int, default=3, help="compare each example this many times")
    args = parser.parse_args()
    paths = sorted(EXAMPLES.glob("*.toml"))
    if args.only:
        paths = [p for p in paths if p.stem == args.only]
    body: list[str] = []
    summary: list[str] = ["| example | verdict |", "|---|---|"]
    for path in paths:
        runs = []
        for run in range(args.runs):
            print(f"comparing {path.name} ({run + 1}/{args.runs}) ...", file=sys.stderr, flush=True)
            runs.append(compare(path))
        body += section(path, runs)
        agreed = sum(1 for data in runs if data.get("agrees"))
        errors = sum(1 for data in runs if "error" in data)
        verdict = "error" if errors else ("agree" if agreed == len(runs) else "differ")
        summary.append(f"| [{path.stem}](#{path.stem}) | {verdict} ({agreed}/{len(runs)}) |")
    page = [
        "# Fidelity: the model against the real kernel",
        "",
        f"Produced by `sudo .venv/bin/python scripts/fidelity.py` on {date.today().isoformat()}, kernel "
        f"{platform.release()}, {args.runs} runs of each example in a row. Each example runs through "
        "`tcpq simulate` (for this kernel's profile, with this machine's host timing below) and "
        "`tcpq lab` (throwaway namespaces), compared by `tcpq compare`: counts agree within ±2 % or ±2, "
        "connect-time percentiles within ±10 % or ±50 ms. Where the lab draws afresh what it cannot "
        "replay from the simulator (exponential service times, `network.loss`, the server's wake-up "
        "latencies and where it runs; arrival times are replayed exactly), the scenario is simulated "
        "again with 20 other draw seeds and each tolerance becomes the larger of the fixed one and 3 "
        "standard deviations of the difference of two such runs, 3 × √2 × the standard deviation of "
        "that metric over those runs (the model's run and the lab's are two draws; rounded up; the "
        "comparison's notes list every widened row), and a row outside it still agrees `by draws` when "
        "the lab's value lies in the prediction interval of the model's 21 runs, mean ± 3 × sd × "
        "√(1 + 1/21) (the seeded run may be in a rare mode of a two-valued outcome); no tolerance is "
        "widened otherwise. A lab queue peak that no counter proves "
        "(shown `≥N`) is a lower bound: it agrees when sim ≥ lab − tolerance and sim ≤ what the queue "
        "can hold. Rows that are zero on both sides are left out.",
        "",
        "The model's host timing, measured on this machine by `sudo .venv/bin/tcpq lab calibrate` "
        "(docs/scenarios.md, `[host]`):",
        "",
        host_table(),
        "",
        *summary,
        "",
        *body,
        FUZZ_ACCOUNT.read_text(encoding="utf-8"),
    ]
    text = "\n".join(page)
    if args.only:
        print(text)
    else:
        OUTPUT.write_text(text, encoding="utf-8")
        print(f"wrote {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
