#!/usr/bin/env python3
"""The lab's load generators, side by side: connection attempts/s of the client generator and
spoofed SYNs/s of the attacker, each against a real listener in throwaway namespaces.

Needs root. Creates `tcpq-test-<pid>-srv`, `-cli` and `-atk` (the lab's own topology: veth
198.18.0.0/30 between server and client, the attacker's veth 198.18.0.4/30 with the spoofed
127.1.0.0/16 sources accepted there and the SYN-ACKs to them swallowed by nft) and removes them,
with every process it started, in every case (finally). Nothing outside those namespaces is
touched; every load is bounded in count and time.

    sudo .venv/bin/python bench/lab_generators.py                         # the figures in docs/benchmarks.md
    sudo .venv/bin/python bench/lab_generators.py --seconds 2 --client-rates 5000 --attack-rates 50000

(a) Client generator (src/tcpq/lab/clients.py, its `Run` loop unchanged, driven in-process
    inside the client namespace so each start can be timed against its schedule): uniform
    arrivals at the offered rate for --seconds, each connection closed 10 ms after it is up
    (`close_after`), against the lab server accepting immediately (backlog 65535: a handshake never waits for
    accept()). The client
    namespace keeps no TIME_WAIT (tcp_max_tw_buckets 0) and uses ports 1024-65535, so
    descriptors and ports are recycled. Reported: attempts started, achieved attempts/s (started
    on time, i.e. ≤ 10 ms late, over the wall time of the schedule), start lateness (p50, p99,
    max), outcomes, and the generator's CPU time.
(b) Attacker (src/tcpq/lab/attacker.py, the program as `tcpq lab` runs it): uniform SYN times
    at the offered rate for --seconds to a listener with backlog 128 and tcp_syncookies 1 (the
    SYN queue fills with 129 half-open requests, then every SYN is a cookie SYN-ACK). Reported:
    offered, sent, sent/s, lateness, and what the server namespace's counters saw (TcpInSegs,
    TcpExtTCPReqQFullDoCookies).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
PORT = 8080
CLIENT_BACKLOG = 65535  # the kernel completes every handshake even when the server's accept() lags
ON_TIME_S = 0.010  # a start at most this late counts as on time
CLOSE_AFTER_S = 0.010
TAIL_S = 0.3  # the client generator runs this long after the last scheduled start
MARGIN_S = 30.0  # programs exit by themselves this long after their work, whatever happens


# ---------------------------------------------------------------- inside the client namespace


def client_driver() -> None:
    """Run clients.Run with the config on stdin, timing each start; print one JSON line."""
    from tcpq.lab import clients
    from tcpq.lab.wire import ClientConfig

    config = ClientConfig.from_json(sys.stdin.readline())
    groups = list(config.groups)
    schedule = sorted(t for group in groups for t in group.times_s)
    late: list[float] = [0.0] * len(schedule)
    profile = os.environ.get("TCPQ_BENCH_PROFILE")

    class TimedRun(clients.Run):
        def start(self, index: int, now: float) -> None:
            late[index] = now - (self.t0 + schedule[index])
            super().start(index, now)

    run = TimedRun(config.address, config.port, config.duration_s, groups)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    if os.environ.get("TCPQ_BENCH_NOGC"):
        import gc

        gc.disable()
    if profile:
        import cProfile

        cProfile.runctx("run.run()", globals(), {"run": run}, profile)
    else:
        run.run()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    report = run.report()
    started = sum(1 for attempt in run.attempts if attempt.sock is not None or attempt.state != "new")
    print(
        json.dumps(
            {
                "started": started,
                "late_s": late[:started],
                "outcomes": report.outcomes,
                "cpu_s": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
                "user_s": cpu1.ru_utime - cpu0.ru_utime,
            }
        ),
        flush=True,
    )


# ---------------------------------------------------------------- the lab


@contextmanager
def namespaces() -> Iterator[Any]:
    from tcpq.lab import sandbox

    pid = os.getpid()
    server_name, client_name = f"tcpq-test-{pid}-srv", f"tcpq-test-{pid}-cli"
    attacker = (f"tcpq-test-{pid}-atk", f"tqb{pid}a"[:15], f"tqb{pid}x"[:15])
    created = None
    try:
        created = sandbox._create(server_name, client_name, f"tqb{pid}s"[:15], f"tqb{pid}c"[:15])
        sandbox.add_attacker(created, attacker)
        yield created
    finally:
        if created is not None:
            for ns in created.namespaces:
                ns.stop_processes()
        sandbox._remove([server_name, client_name, attacker[0]])


def start_server(lab: Any, backlog: int, seconds: float) -> subprocess.Popen[bytes]:
    config = {
        "address": lab.server.address,
        "port": PORT,
        "backlog": backlog,
        "accept": "immediate",
        "rate": 0.0,
        "workers": 0,
        "service_s": 0.0,
        "service_exponential": False,
        "accept_after_s": 0.0,
        "request_mode": False,
        "lifetime_s": seconds + MARGIN_S,
        "seed": 1,
        "close_delay_s": 0.0,
    }
    server: subprocess.Popen[bytes] = lab.server.python("tcpq.lab.server", json.dumps(config))
    assert server.stdout is not None
    if b"ready" not in server.stdout.readline():
        raise SystemExit("the lab server did not start")
    return server


def counters(pid: int) -> dict[str, int]:
    from tcpq.observe.procfs import read_counters

    return read_counters(Path(f"/proc/{pid}/net"))


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs so far (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def process_cpu_s(pid: int) -> float:
    """utime + stime of a running process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_clients(lab: Any, rate: float, seconds: float) -> dict[str, Any]:
    server = start_server(lab, CLIENT_BACKLOG, seconds)
    count = int(rate * seconds)
    config = {
        "address": lab.server.address,
        "port": PORT,
        "duration_s": seconds + TAIL_S,
        "groups": [
            {
                "times_s": [i / rate for i in range(count)],
                "connect_timeout_s": 2.0,
                "request": False,
                "request_after_s": 0.0,
                "close_after_s": CLOSE_AFTER_S,
            }
        ],
    }
    driver = lab.client.spawn([sys.executable, str(HERE), "--client-driver"], stdin=True)
    before = counters(server.pid)
    server_cpu, ticks = process_cpu_s(server.pid), machine_ticks()
    driver.stdin.write(json.dumps(config).encode() + b"\n")
    driver.stdin.flush()
    line = driver.stdout.readline()
    server_cpu, ticks = (
        process_cpu_s(server.pid) - server_cpu,
        tuple(map(int.__sub__, machine_ticks(), ticks)),
    )
    after = counters(server.pid)
    server.kill()
    if not line:
        raise SystemExit(f"client driver failed: {driver.stderr.read().decode(errors='replace')}")
    result = json.loads(line)
    late = result["late_s"]
    on_time = sum(1 for x in late if x <= ON_TIME_S)
    return {
        "offered_per_s": rate,
        "attempts": count,
        "started": result["started"],
        "on_time": on_time,
        "achieved_per_s": on_time / seconds,
        "late_p50_ms": percentile(late, 0.5) * 1000,
        "late_p99_ms": percentile(late, 0.99) * 1000,
        "late_max_ms": max(late, default=0.0) * 1000,
        "outcomes": result["outcomes"],
        "cpu_s": result["cpu_s"],
        "cpu_share": result["cpu_s"] / (seconds + TAIL_S),
        "server_cpu_share": server_cpu / (seconds + TAIL_S),
        "machine_busy": ticks[0] / ticks[1] if ticks[1] else 0.0,
        "server_passive_opens": after.get("TcpPassiveOpens", 0) - before.get("TcpPassiveOpens", 0),
        "server_listen_drops": after.get("TcpExtListenDrops", 0) - before.get("TcpExtListenDrops", 0),
    }


def bench_attacker(lab: Any, rate: float, seconds: float) -> dict[str, Any]:
    from tcpq.lab.attack import NFT_TABLE, swallow_synacks

    lab.server.run("nft", "delete", "table", "ip", NFT_TABLE, check=False)
    swallow_synacks(lab.server)
    server = start_server(lab, 128, seconds)
    count = int(rate * seconds)
    config = {
        "address": lab.server.address,
        "port": PORT,
        "times_s": [i / rate for i in range(count)],
        "until_s": seconds,
        "lifetime_s": seconds + MARGIN_S,
        "seed": 1,
    }
    assert lab.attacker is not None
    attacker = lab.attacker.python("tcpq.lab.attacker", "-", stdin=True)
    attacker.stdin.write(json.dumps(config).encode() + b"\n")
    attacker.stdin.flush()
    if b"ready" not in attacker.stdout.readline():
        raise SystemExit(f"attacker failed: {attacker.stderr.read().decode(errors='replace')}")
    before = counters(server.pid)
    attacker_cpu, ticks = process_cpu_s(attacker.pid), machine_ticks()
    started = time.monotonic()
    attacker.stdin.write(b"go\n")
    attacker.stdin.flush()
    line = attacker.stdout.readline()
    wall = time.monotonic() - started
    attacker_cpu, ticks = (
        process_cpu_s(attacker.pid) - attacker_cpu,
        tuple(map(int.__sub__, machine_ticks(), ticks)),
    )
    time.sleep(0.05)  # the last SYNs are processed in the sender's softirq; be sure
    after = counters(server.pid)
    server.kill()
    report = json.loads(line)

    def delta(name: str) -> int:
        return after.get(name, 0) - before.get(name, 0)

    span = (report["last_s"] or 0.0) - (report["first_s"] or 0.0)
    return {
        "offered_per_s": rate,
        "offered": count,
        "sent": report["sent"],
        "sent_per_s": report["sent"] / span if span > 0 else 0.0,
        "late_mean_ms": report["late_mean_s"] * 1000,
        "late_max_ms": report["late_max_s"] * 1000,
        "wall_s": wall,
        "attacker_cpu_share": attacker_cpu / wall,
        "machine_busy": ticks[0] / ticks[1] if ticks[1] else 0.0,
        "TcpInSegs": delta("TcpInSegs"),
        "TcpExtTCPReqQFullDoCookies": delta("TcpExtTCPReqQFullDoCookies"),
        "TcpExtSyncookiesSent": delta("TcpExtSyncookiesSent"),
        "received_per_s": delta("TcpInSegs") / span if span > 0 else 0.0,
    }


def summary(rows: list[dict[str, Any]], rate_key: str, value_key: str, lateness_key: str) -> list[str]:
    """Per offered rate: the median over runs (and its range) of the achieved rate and lateness."""
    lines = []
    for rate in sorted({row[rate_key] for row in rows}):
        values = [row[value_key] for row in rows if row[rate_key] == rate]
        late = [row[lateness_key] for row in rows if row[rate_key] == rate]
        lines.append(
            f"{rate:>9,.0f}/s offered: {statistics.median(values):>9,.0f}/s "
            f"({min(values):,.0f}–{max(values):,.0f}), {lateness_key} median "
            f"{statistics.median(late):.1f} ms ({min(late):.1f}–{max(late):.1f})"
        )
    return lines


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client-driver":
        client_driver()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3, help="of each rate, interleaved")
    parser.add_argument("--client-rates", type=int, nargs="+", default=[5000, 10000, 12500, 15000, 20000])
    parser.add_argument("--attack-rates", type=int, nargs="+", default=[50000, 100000, 150000])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: it creates network namespaces")
    before = machine_ticks()
    time.sleep(1.0)
    busy, total = (x - y for x, y in zip(machine_ticks(), before, strict=True))
    idle_check = busy / total if total else 0.0
    results: dict[str, list[dict[str, Any]]] = {"clients": [], "attacker": []}
    with namespaces() as lab:
        # Recycle descriptors and ports: no TIME_WAIT kept on the client side, every port usable.
        lab.client.sysctl("net.ipv4.tcp_max_tw_buckets", 0)
        lab.client.sysctl("net.ipv4.ip_local_port_range", (1024, 65535))
        lab.server.sysctl("net.core.somaxconn", CLIENT_BACKLOG)
        for run in range(args.runs):
            for rate in args.client_rates:
                results["clients"].append({"run": run + 1, **bench_clients(lab, rate, args.seconds)})
            for rate in args.attack_rates:
                results["attacker"].append({"run": run + 1, **bench_attacker(lab, rate, args.seconds)})
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"machine busy in the second before the run: {idle_check:.0%} "
        "(the figures need an otherwise idle machine)"
    )
    print(f"\n(a) client generator: uniform arrivals for {args.seconds:g} s, each closed 10 ms after connect")
    print(
        "run  offered/s  started  on time/s  late p50  late p99  late max  connected  other  "
        "cpu: clients  server  machine"
    )
    for row in sorted(results["clients"], key=lambda row: (row["offered_per_s"], row["run"])):
        outcomes = dict(row["outcomes"])
        connected = outcomes.pop("connected", 0)
        other = ",".join(f"{k} {v}" for k, v in outcomes.items()) or "-"
        print(
            f"{row['run']:>3}  {row['offered_per_s']:>9,.0f}  {row['started']:>7,}  "
            f"{row['achieved_per_s']:>9,.0f}  {row['late_p50_ms']:>5.1f} ms  {row['late_p99_ms']:>5.1f} ms  "
            f"{row['late_max_ms']:>5.1f} ms  "
            f"{connected:>9,}  {other:>5}  {row['cpu_share']:>12.0%}  {row['server_cpu_share']:>6.0%}  "
            f"{row['machine_busy']:>7.0%}"
        )
    print("\n".join(summary(results["clients"], "offered_per_s", "achieved_per_s", "late_p99_ms")))
    print(f"\n(b) attacker: uniform SYN times for {args.seconds:g} s, backlog 128, tcp_syncookies 1")
    print(
        "run  offered/s     sent    sent/s  late mean  late max  server TcpInSegs  ReqQFullDoCookies  "
        "cpu: attacker  machine"
    )
    for row in sorted(results["attacker"], key=lambda row: (row["offered_per_s"], row["run"])):
        print(
            f"{row['run']:>3}  {row['offered_per_s']:>9,.0f}  {row['sent']:>7,}  {row['sent_per_s']:>8,.0f}  "
            f"{row['late_mean_ms']:>6.1f} ms  {row['late_max_ms']:>5.0f} ms  {row['TcpInSegs']:>16,}  "
            f"{row['TcpExtTCPReqQFullDoCookies']:>17,}  {row['attacker_cpu_share']:>13.0%}  "
            f"{row['machine_busy']:>7.0%}"
        )
    print("\n".join(summary(results["attacker"], "offered_per_s", "sent_per_s", "late_mean_ms")))


if __name__ == "__main__":
    main()
