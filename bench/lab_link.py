#!/usr/bin/env python3
"""The lab's user-space link (TUN relay): added-delay accuracy and packet rate.

Needs root. Each measurement runs in a fresh lab (`tcpq.lab.sandbox.lab()`: namespaces
tcpq-<pid>-srv/-cli joined by a veth) with tcpq's user-space link forced on (so the figures
are the relay's even on a kernel with netem); everything is removed on exit, error or signal.

Delay accuracy: a listener in the server namespace accepts and closes; the client namespace
times TCP connects (SYN → SYN-ACK = one round trip through the relay) in batches of 10 at once.
The plain veth is measured first (no link), then one-way delays of 10, 50 and 200 ms
(rtt 20/100/400 ms). The figure of interest is measured − requested RTT.

Packet rate: a UDP sender in the client namespace paces 64-byte datagrams at a target rate for
a few seconds to a UDP sink in the server namespace, through the relay with 10 ms one way; per
rate: what the sink received, the relay's own counters (read, forwarded, late), the TUN queue's
drops and the relay's CPU. Then an unpaced flood (as fast as one Python sender goes) and a
bulk TCP transfer.

    sudo .venv/bin/python bench/lab_link.py                 # the figures in docs/benchmarks.md
    sudo .venv/bin/python bench/lab_link.py --quick         # fewer samples, shorter floods
    sudo .venv/bin/python bench/lab_link.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

from tcpq.lab import link, sandbox

PORT = 5001
UDP_PORT = 5002
CLK_TCK = os.sysconf("SC_CLK_TCK")

SERVER = r"""
import socket, sys, threading, time
end = time.monotonic() + float(sys.argv[2])
tcp = socket.socket(); tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind((sys.argv[1], 5001)); tcp.listen(4096); tcp.settimeout(0.2)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
udp.bind((sys.argv[1], 5002)); udp.settimeout(0.2)
bulk = socket.socket(); bulk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
bulk.bind((sys.argv[1], 5003)); bulk.listen(8); bulk.settimeout(0.2)
def accept_close():
    while time.monotonic() < end:
        try:
            conn, _ = tcp.accept()
        except OSError:
            continue
        conn.close()
def sink_bulk():
    while time.monotonic() < end:
        try:
            conn, _ = bulk.accept()
        except OSError:
            continue
        conn.settimeout(1.0)
        while time.monotonic() < end:
            try:
                if not conn.recv(1 << 20):
                    break
            except OSError:
                break
        conn.close()
count = 0
last = time.monotonic()
def sink_udp():
    global count, last
    while time.monotonic() < end:
        try:
            udp.recv(2048)
        except OSError:
            continue
        count += 1
        last = time.monotonic()
threading.Thread(target=accept_close, daemon=True).start()
threading.Thread(target=sink_bulk, daemon=True).start()
threading.Thread(target=sink_udp, daemon=True).start()
print("ready", flush=True)
for line in sys.stdin:  # "count" → datagrams received since the last "count", once 0.3 s quiet
    while time.monotonic() < end and time.monotonic() - last < 0.3:
        time.sleep(0.05)
    print(count, flush=True)
    count = 0
"""

CONNECTS = r"""
import json, selectors, socket, sys, time
address, batches, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
times = []
for _ in range(batches):
    sel = selectors.DefaultSelector(); start = {}
    for _ in range(size):
        s = socket.socket(); s.setblocking(False)
        start[s] = time.monotonic(); s.connect_ex((address, 5001)); sel.register(s, selectors.EVENT_WRITE)
    end = time.monotonic() + 10
    while start and time.monotonic() < end:
        for key, _ in sel.select(1.0):
            s = key.fileobj
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                times.append(time.monotonic() - start[s])
            del start[s]; sel.unregister(s); s.close()
    for s in start:
        s.close()
print(json.dumps(times))
"""

FLOOD = r"""
import json, socket, sys, time
address, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
payload = bytes(36)  # 64-byte IP packets
target = (address, 5002)
sent = 0
t0 = time.monotonic(); end = t0 + seconds
while True:
    now = time.monotonic()
    if now >= end:
        break
    due = int((now - t0) * rate) + 1 if rate > 0 else sent + 1000
    while sent < due:
        try:
            s.sendto(payload, target)
        except OSError:
            break
        sent += 1
    if rate > 0:
        time.sleep(0.0005)
print(json.dumps({"sent": sent, "seconds": time.monotonic() - t0}))
"""

BULK = r"""
import json, socket, sys, time
s = socket.create_connection((sys.argv[1], 5003), timeout=5)
chunk = bytes(1 << 16); sent = 0
t0 = time.monotonic(); end = t0 + float(sys.argv[2])
while time.monotonic() < end:
    sent += s.send(chunk)
s.close()
print(json.dumps({"bytes": sent, "seconds": time.monotonic() - t0}))
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tun_dropped(lab: sandbox.Lab, info: link.LinkInfo) -> int:
    assert info.devices is not None
    total = 0
    for ns, dev in ((lab.server, info.devices[0]), (lab.client, info.devices[1])):
        data = json.loads(ns.run("ip", "-s", "-j", "link", "show", "dev", dev).stdout)
        total += int(data[0]["stats64"]["tx"]["dropped"])
    return total


class Bench:
    def __init__(self, lab: sandbox.Lab, one_way_us: int) -> None:
        self.lab = lab
        self.info = link.setup_link(lab, 2 * one_way_us, 0.0, 1, lifetime_s=600, method="user-space")
        if one_way_us == 0:
            self.info = link.LinkInfo(link.NONE, 0, 0.0)
        self.server = lab.server.spawn([sys.executable, "-c", SERVER, lab.server.address, "600"], stdin=True)
        assert self.server.stdout is not None
        assert b"ready" in self.server.stdout.readline()

    def client(self, program: str, *args: str) -> Any:
        return json.loads(self.lab.client.run(sys.executable, "-c", program, *args).stdout)

    def relay_stats(self, reset: bool = False) -> dict[str, Any]:
        relay = self.info.relay
        if relay is None or relay.stdin is None or relay.stdout is None:
            return {}
        relay.stdin.write(b"reset\n" if reset else b"stats\n")
        relay.stdin.flush()
        stats: dict[str, Any] = json.loads(relay.stdout.readline())
        return stats

    def sink_count(self) -> int:
        assert self.server.stdin is not None and self.server.stdout is not None
        self.server.stdin.write(b"count\n")
        self.server.stdin.flush()
        return int(self.server.stdout.readline())


def summary(values: list[float]) -> dict[str, float]:
    quantiles = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
    return {name: round(percentile(values, q), 3) for name, q in quantiles.items()} | {
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def bench_delay(one_way_ms: int, connects: int, runs: int) -> dict[str, Any]:
    """Sequential connects: each one SYN → SYN-ACK round trip, nothing else in flight.

    Each run is a fresh lab; the connect times of all runs are pooled, the relay's lateness
    figures are the median over runs."""
    times: list[float] = []
    lateness: list[dict[str, Any]] = []
    for _ in range(runs):
        with sandbox.lab() as lab:
            bench = Bench(lab, one_way_ms * 1000)
            times += bench.client(CONNECTS, lab.server.address, str(connects), "1")
            lateness.append(bench.relay_stats())
    rtt = 2 * one_way_ms / 1000
    late_keys = ("late_p50_us", "late_p99_us", "late_max_us")
    return {
        "one_way_ms": one_way_ms,
        "samples": len(times),
        "added_ms": summary([(t - rtt) * 1000 for t in times]),
        "relay_late_us": {
            key: statistics.median(run[key] for run in lateness) if lateness[0] else None for key in late_keys
        },
    }


def bench_rates(rates: list[float], seconds: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """UDP floods at each rate through one relay (10 ms one way), then a bulk TCP transfer."""
    rows = []
    with sandbox.lab() as lab:
        bench = Bench(lab, 10_000)
        assert bench.info.relay is not None
        relay_pid = bench.info.relay.pid
        for rate in rates:
            before = bench.relay_stats(reset=True)
            cpu_before, dropped_before, wall = (
                cpu_s(relay_pid),
                tun_dropped(lab, bench.info),
                time.monotonic(),
            )
            sent = bench.client(FLOOD, lab.server.address, str(rate), str(seconds))
            received = bench.sink_count()  # after 0.3 s without a datagram
            wall = time.monotonic() - wall
            after = bench.relay_stats()
            cpu = cpu_s(relay_pid) - cpu_before
            rows.append(
                {
                    "target_pps": rate,
                    "sent": sent["sent"],
                    "sent_pps": round(sent["sent"] / sent["seconds"]),
                    "forwarded_pps": round((after["forwarded"] - before["forwarded"]) / sent["seconds"]),
                    "received": received,
                    "lost_pct": round(100 * (1 - received / sent["sent"]), 2) if sent["sent"] else 0.0,
                    "tun_drops": tun_dropped(lab, bench.info) - dropped_before,
                    "relay_overflow": after["overflow"] - before["overflow"],
                    "relay_cpu_pct": round(100 * cpu / wall, 1),
                    "late_p50_us": after["late_p50_us"],
                    "late_p99_us": after["late_p99_us"],
                    "late_max_us": after["late_max_us"],
                }
            )
        before = bench.relay_stats(reset=True)
        bulk = bench.client(BULK, lab.server.address, str(seconds))
        time.sleep(0.1)
        after = bench.relay_stats()
        tcp = {
            "mbit_s": round(8 * bulk["bytes"] / bulk["seconds"] / 1e6, 1),
            "packets_pps": round((after["forwarded"] - before["forwarded"]) / bulk["seconds"]),
            "late_p99_us": after["late_p99_us"],
        }
    return rows, tcp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter floods")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=3, help="fresh labs per measurement (medians)")
    parser.add_argument("--spin-us", type=int, default=link.SPIN_US, help="the relay's early wake-up")
    parser.add_argument("--nice", type=int, default=link.RELAY_NICE, help="the relay's nice value")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/lab_link.py needs root (it creates network namespaces)")
    link.SPIN_US, link.RELAY_NICE = args.spin_us, args.nice
    seconds = 1.0 if args.quick else 3.0
    plan = ((0, 200), (10, 100), (50, 40), (200, 15))
    delays = [bench_delay(ms, 10 if args.quick else count, args.runs) for ms, count in plan]
    offered = [5_000, 10_000, 20_000, 40_000, 60_000, 80_000, 0]
    all_rates, all_tcp = zip(*(bench_rates(offered, seconds) for _ in range(args.runs)), strict=True)
    rates = [
        {key: statistics.median(run[index][key] for run in all_rates) for key in all_rates[0][index]}
        for index in range(len(offered))
    ]
    tcp = {key: statistics.median(run[key] for run in all_tcp) for key in all_tcp[0]}
    if args.json:
        print(json.dumps({"delay": delays, "rate": rates, "tcp": tcp, "spin_us": args.spin_us}, indent=1))
        return
    print(
        f"relay: spin {args.spin_us} µs, nice {args.nice}; {args.runs} runs (connects pooled, else medians)"
    )
    print("| one way | connects | added RTT p50 | p90 | p99 | min | max | relay late p50 / p99 / max |")
    print("|---|---|---|---|---|---|---|---|")
    for row in delays:
        added, late = row["added_ms"], row["relay_late_us"]
        late_text = " / ".join("–" if late[k] is None else f"{late[k]:.0f}" for k in late)
        print(
            f"| {row['one_way_ms']} ms | {row['samples']} | {added['p50']:.3f} ms | {added['p90']:.3f} ms | "
            f"{added['p99']:.3f} ms | {added['min']:.3f} ms | {added['max']:.3f} ms | {late_text} µs |"
        )
    print()
    print(
        "| offered pkt/s | sent | relayed pkt/s | lost % | TUN drops | relay CPU % | late p50 / p99 / max |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rates:
        target = "unpaced" if not row["target_pps"] else f"{row['target_pps']:,.0f}"
        late = f"{row['late_p50_us']:.0f} / {row['late_p99_us']:.0f} / {row['late_max_us']:.0f} µs"
        print(
            f"| {target} | {row['sent_pps']:,.0f}/s | {row['forwarded_pps']:,.0f} | {row['lost_pct']} | "
            f"{row['tun_drops']:.0f} | {row['relay_cpu_pct']} | {late} |"
        )
    print()
    relayed = f"{tcp['packets_pps']:,.0f} packets/s relayed"
    print(f"bulk TCP through the link: {tcp['mbit_s']:.0f} Mbit/s, {relayed}")


if __name__ == "__main__":
    main()
