#!/usr/bin/env python3
"""Write docs/fidelity.md: `tcpq compare` of every example, side by side, with accounts.

Needs root (the lab). For each file in examples/ it runs `python3 -m tcpq compare FILE --json`,
renders the metrics that are non-zero on either side, and adds the hand-written account of the
disagreements kept in ACCOUNTS below (update it when the results change).

    sudo python3 scripts/fidelity.py            # all examples → docs/fidelity.md
    sudo python3 scripts/fidelity.py --only e2-final-ack-overflow
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
BURST = (
    "**Why they differ: a burst over a veth is not serialized.** The model runs `rtt = 0` as loopback "
    "(kernel-model §14.2: the whole handshake completes inside `connect()`), so 300 clients starting at "
    "once complete one by one and the SYN queue never holds more than one request. In the lab the "
    "clients cross a veth: hundreds of SYNs leave before the first SYN-ACK is processed, up to backlog+1 "
    "request socks pile up, and from then on the kernel answers with SYN cookies "
    "(TCPReqQFullDoCookies). Cookie clients whose ACK or request later meets a full accept queue are "
    "dropped and retransmit their data, each arrival another SyncookiesRecv and ListenOverflows; they "
    "get in sooner than the model's clients, which wait for SYN retries at 1, 2, 4 s, hence the lower "
    "connect and reply latencies in the lab. The mechanism is the model's: with "
    "`--set network.rtt=100us` the simulation shows the same cookies (java-backlog-50: 249 sent, 1,260 "
    "received, 1,011 overflows against the lab's 188 / 832 / 883); the remaining gap is the client "
    "generator spreading its 300 connects over a few milliseconds. Left as it is: a scenario that means "
    "a burst over a real network should say so with a small `rtt`."
)
ACCOUNTS: dict[str, str] = {
    "java-backlog-50": BURST,
    "tomcat-backlog-100": BURST,
    "nginx-somaxconn-128": BURST,
    "backend-3s-late-current-kernel": (
        "A 20-client burst over the lab's veth: how many SYNs reach the listener before the workers "
        "drain the queue depends on scheduling (the same effect as in java-backlog-50 below, smaller). "
        "Across runs the lab's ListenOverflows ranged from 7 (equal to the model) to 11; the latency "
        "story (1 s, not 3 s) holds in every run."
    ),
    "backend-3s-late-old-kernel": (
        "The file asks for kernel 2.6; the lab can only run this machine's kernel, so `tcpq compare` "
        "models the running kernel too (see the lab's note). The 3 s story is the model's alone: compare "
        "`tcpq simulate` of this file with the current-kernel file, and `tcpq lab verify`'s "
        "client-syn-schedule check for today's 1 s."
    ),
}


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


def fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def section(path: Path, data: dict[str, Any]) -> list[str]:
    lines = [f"## {path.stem}", ""]
    if "error" in data:
        return [*lines, f"The comparison could not run: `{' '.join(data['error'])}`", ""]
    rows = data["comparison"]["rows"]
    verdict = "agree within tolerance" if data["agrees"] else "**differ**"
    lines += [f"Model and kernel {verdict}. Command: `sudo tcpq compare examples/{path.name}`", ""]
    lines += ["| metric | sim | lab | Δ | ± | verdict |", "|---|---|---|---|---|---|"]
    for row in rows:
        if not row["sim"] and not row["lab"] and row["ok"]:
            continue
        mark = "ok" if row["ok"] else "**differs**"
        lines.append(
            f"| {row['metric']} | {fmt(row['sim'])} | {fmt(row['lab'])} | {fmt(row['difference'])} "
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
    args = parser.parse_args()
    paths = sorted(EXAMPLES.glob("*.toml"))
    if args.only:
        paths = [p for p in paths if p.stem == args.only]
    body: list[str] = []
    summary: list[str] = ["| example | verdict |", "|---|---|"]
    for path in paths:
        print(f"comparing {path.name} ...", file=sys.stderr, flush=True)
        data = compare(path)
        body += section(path, data)
        verdict = "error" if "error" in data else ("agree" if data["agrees"] else "differ")
        summary.append(f"| [{path.stem}](#{path.stem}) | {verdict} |")
    page = [
        "# Fidelity: the model against the real kernel",
        "",
        f"Produced by `sudo python3 scripts/fidelity.py` on {date.today().isoformat()}, kernel "
        f"{platform.release()}. Each example runs through `tcpq simulate` (for this kernel's profile) and "
        "`tcpq lab` (throwaway namespaces), compared by `tcpq compare`: counts agree within ±2 % or ±2, "
        "connect-time percentiles within ±10 % or ±50 ms. Rows that are zero on both sides are left out.",
        "",
        *summary,
        "",
        *body,
    ]
    text = "\n".join(page)
    if args.only:
        print(text)
    else:
        OUTPUT.write_text(text, encoding="utf-8")
        print(f"wrote {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
