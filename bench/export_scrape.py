#!/usr/bin/env python3
"""`tcpq export` scrapes at 100k sockets, against `ss -tanp` and node_exporter's netstat/sockstat.

Needs root. Two scenes, each in a throwaway namespace (tcpq-test-bench-<pid>) whose
ip_local_port_range is raised (namespaced; the host's is untouched) and which
bench/observe_readers.py's helpers fill with loopback connections (several processes, four
source addresses and ports each, each raising its RLIMIT_NOFILE to the hard limit).

At CONNECTIONS (50k = 100k sockets), inside the namespace:
- side by side, interleaved, RUNS times each: one scrape of `tcpq export --min-interval 0`
  (HTTP GET /metrics, body read), `ss -tanp > /dev/null` (whole process), one scrape of a real
  node_exporter with only its netstat and sockstat collectors, and that work done in-process:
  reading and parsing /proc/net/netstat, /proc/net/snmp and /proc/net/sockstat;
- SCRAPERS threads scraping at once: every status, and the wall time until all are served.
At RSS_CONNECTIONS (2k = 4k sockets: 1,000 scrapes at 100k would take ~40 minutes):
- the exporter's VmRSS every 100 scrapes over RSS_SCRAPES scrapes (first, last, max).

    sudo .venv/bin/python bench/export_scrape.py        # 100k sockets, 5 runs; 1,000 scrapes at 4k
    sudo .venv/bin/python bench/export_scrape.py --connections 5000 --runs 3 --rss-scrapes 200
    sudo .venv/bin/python bench/export_scrape.py --runs 0 --rss-connections 50000 --rss-scrapes 200
                                                        # RSS alone, at 100k sockets (~9 minutes)

node_exporter is Debian's prometheus-node-exporter (or node_exporter on PATH); without it
that row is left out.
The exporter and node_exporter die with the measuring process (PR_SET_PDEATHSIG) and are
stopped by PID; the helpers and the namespace are removed in a `finally`.
"""

from __future__ import annotations

import argparse
import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import observe_readers as load

HERE = Path(__file__).resolve()
TCPQ_PORT = 9841
NODE_PORT = 9100
# Wider than Linux's default 32768-60999 for more tuples, and still above the helpers'
# listener ports (5000-5099), so the exporter does not fold them as ephemeral.
PORT_RANGE = "10000 65000"
MEASURE_LIMIT_S = 1200  # the measuring process exits by itself after this (SIGALRM)
SCRAPE_TIMEOUT_S = 120.0
START_LIMIT_S = 30.0
RSS_EVERY = 100
PR_SET_PDEATHSIG = 1  # include/uapi/linux/prctl.h
PROC_FILES = ("/proc/net/netstat", "/proc/net/snmp", "/proc/net/sockstat")


# ---------------------------------------------------------------- inside the namespace: servers


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the measuring process dies, however it dies."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_LIMIT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except ConnectionRefusedError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {START_LIMIT_S} s")


@contextmanager
def server(command: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent
    )
    try:
        wait_for_port(port, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tcpq_export(port: int) -> list[str]:
    listen = f"127.0.0.1:{port}"
    return [sys.executable, "-m", "tcpq", "export", "--listen", listen, "--min-interval", "0"]


def node_exporter(port: int) -> list[str] | None:
    program = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if program is None:
        return None
    return [
        program,
        "--collector.disable-defaults",
        "--collector.netstat",
        "--collector.sockstat",
        f"--web.listen-address=127.0.0.1:{port}",
    ]


# ---------------------------------------------------------------- inside the namespace: timing


def scrape(port: int) -> tuple[int, bytes]:
    """One GET /metrics on a new connection, as a Prometheus scrape does at its first attempt."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=SCRAPE_TIMEOUT_S)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def parse_proc_net() -> dict[str, int]:
    """What node_exporter's netstat and sockstat collectors read: header/value line pairs in
    netstat and snmp ("TcpExt: A B" then "TcpExt: 1 2"), "TCP: inuse 5 orphan 0 ..." in sockstat."""
    values: dict[str, int] = {}
    for path in PROC_FILES[:2]:
        lines = Path(path).read_text().splitlines()
        for header, numbers in zip(lines[::2], lines[1::2], strict=True):
            prefix, *names = header.split()
            for name, number in zip(names, numbers.split()[1:], strict=True):
                values[prefix.rstrip(":") + name] = int(number)
    for line in Path(PROC_FILES[2]).read_text().splitlines():
        prefix, *fields = line.split()
        for name, number in zip(fields[::2], fields[1::2], strict=True):
            values[f"{prefix.rstrip(':')}_{name}"] = int(number)
    return values


def proc_net_seconds(repeats: int = 100) -> float:
    """Seconds per read-and-parse, averaged over `repeats` (one alone is below the clock's noise)."""
    return timed(lambda: [parse_proc_net() for _ in range(repeats)]) / repeats


def vm_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))


def series_count(body: bytes) -> int:
    return sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))


def established(body: bytes) -> int:
    line = next(
        line for line in body.splitlines() if line.startswith(b"tcpq_sockets{") and b'"ESTABLISHED"' in line
    )
    return int(float(line.split()[-1]))


def side_by_side(runs: int) -> dict[str, Any]:
    walls: dict[str, list[float]] = {"tcpq": [], "ss": [], "node": [], "proc": []}
    peer = node_exporter(NODE_PORT)
    with (
        server(tcpq_export(TCPQ_PORT), TCPQ_PORT) as exporter,
        server(peer, NODE_PORT) if peer else nullcontext(),
    ):
        rss_kib = [vm_rss_kib(exporter.pid)]
        started = time.perf_counter()
        status, body = scrape(TCPQ_PORT)
        first_s = time.perf_counter() - started
        assert status == 200, status
        ss_lines = subprocess.run(["ss", "-tanp"], check=True, capture_output=True).stdout.count(b"\n") - 1
        for _ in range(runs):
            walls["tcpq"].append(timed(lambda: scrape(TCPQ_PORT)))
            walls["ss"].append(
                timed(lambda: subprocess.run(["ss", "-tanp"], check=True, stdout=subprocess.DEVNULL))
            )
            if peer:
                walls["node"].append(timed(lambda: scrape(NODE_PORT)))
            walls["proc"].append(proc_net_seconds())
            rss_kib.append(vm_rss_kib(exporter.pid))
        node_body = scrape(NODE_PORT)[1] if peer else b""
    return {
        "walls": walls,
        "first_scrape_s": first_s,
        "tcpq_series": series_count(body),
        "tcpq_bytes": len(body),
        "tcpq_established": established(body),
        "ss_lines": ss_lines,
        "node_series": series_count(node_body),
        "node_bytes": len(node_body),
        "rss_kib": rss_kib,
    }


def rss_over(scrapes: int) -> dict[str, Any]:
    samples: list[tuple[int, int]] = []
    with server(tcpq_export(TCPQ_PORT), TCPQ_PORT) as process:
        samples.append((0, vm_rss_kib(process.pid)))
        started = time.perf_counter()
        for done in range(1, scrapes + 1):
            status, _ = scrape(TCPQ_PORT)
            assert status == 200, status
            if done % RSS_EVERY == 0:
                samples.append((done, vm_rss_kib(process.pid)))
        wall = time.perf_counter() - started
    return {"samples": samples, "wall_s": wall}


def concurrent(scrapers: int) -> dict[str, Any]:
    """All threads start together (a barrier), each scrapes once; --min-interval 0 still lets
    scrapes that arrive during one scan share it (the exporter's lock)."""
    statuses: list[int] = []
    latencies: list[float] = []
    barrier = threading.Barrier(scrapers + 1)
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        started = time.perf_counter()
        try:
            status = scrape(TCPQ_PORT)[0]
        except OSError:  # refused or reset: counted as a failed scrape, not a crash of the bench
            status = 0
        with lock:
            statuses.append(status)
            latencies.append(time.perf_counter() - started)

    with server(tcpq_export(TCPQ_PORT), TCPQ_PORT):
        scrape(TCPQ_PORT)  # the first scan fills the process map, as in a running exporter
        threads = [threading.Thread(target=one) for _ in range(scrapers)]
        for thread in threads:
            thread.start()
        started = time.perf_counter()
        barrier.wait()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    return {
        "statuses": statuses,
        "wall_s": wall,
        "max_s": max(latencies),
        "median_s": statistics.median(latencies),
    }


def measure(phase: str, runs: int, rss_scrapes: int, scrapers: int) -> None:
    signal.alarm(MEASURE_LIMIT_S)
    if phase == "scrapes":
        result = {"side_by_side": side_by_side(runs), "concurrent": concurrent(scrapers)}
    else:
        result = {"rss": rss_over(rss_scrapes)}
    print(json.dumps(result))


# ---------------------------------------------------------------- outside: scenes and report


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.2f} ms"


def print_side_by_side(result: dict[str, Any], sockets: int) -> None:
    walls = result["walls"]
    rows = [
        ("tcpq export: GET /metrics", walls["tcpq"], f"{result['tcpq_series']} series"),
        ("ss -tanp > /dev/null", walls["ss"], f"{result['ss_lines']} lines"),
        ("node_exporter netstat+sockstat: GET", walls["node"], f"{result['node_series']} series"),
        ("read+parse netstat, snmp, sockstat", walls["proc"], "in-process, mean of 100 reads"),
    ]
    base = statistics.median(walls["tcpq"])
    print(f"\none scrape each at {sockets} sockets, {len(walls['tcpq'])} interleaved runs")
    print(f"{'':38} {'median':>10} {'min':>10} {'max':>10} {'vs tcpq':>9}  note")
    for name, times, note in rows:
        if not times:  # no node_exporter here
            continue
        median = statistics.median(times)
        print(
            f"{name:38} {milliseconds(median):>10} {milliseconds(min(times)):>10} "
            f"{milliseconds(max(times)):>10} {median / base:>8.3f}x  {note}"
        )
    rss = [kib / 1024 for kib in result["rss_kib"]]
    print(
        f"first scrape after start (empty process map): {milliseconds(result['first_scrape_s'])}; "
        f"tcpq_sockets ESTABLISHED {result['tcpq_established']}; body {result['tcpq_bytes']} bytes "
        f"(node_exporter {result['node_bytes']})"
    )
    print(
        "exporter VmRSS before the first scrape, then after each run: " + ", ".join(f"{m:.1f}" for m in rss)
    )


def print_rss(result: dict[str, Any], sockets: int) -> None:
    samples = result["samples"]
    rss = [kib / 1024 for _, kib in samples]
    scrapes = samples[-1][0]
    print(f"\nexporter VmRSS over {scrapes} scrapes at {sockets} sockets ({result['wall_s']:.0f} s), MiB:")
    print("  " + ", ".join(f"{done}: {mib:.1f}" for (done, _), mib in zip(samples, rss, strict=True)))
    settled = rss[1:] or rss
    print(
        f"  before the first scrape {rss[0]:.1f}; after {samples[1][0]} scrapes {settled[0]:.1f}; "
        f"last {rss[-1]:.1f}; max {max(rss):.1f}; growth from scrape {samples[1][0]} to {scrapes}: "
        f"{rss[-1] - settled[0]:+.1f} MiB"
    )


def print_concurrent(result: dict[str, Any], scrapers: int, sockets: int) -> None:
    ok = sum(1 for status in result["statuses"] if status == 200)
    print(
        f"\n{scrapers} concurrent scrapers at {sockets} sockets: {ok}/{len(result['statuses'])} got 200; "
        f"all served in {milliseconds(result['wall_s'])} (per scrape median "
        f"{milliseconds(result['median_s'])}, max {milliseconds(result['max_s'])})"
    )


def scene(connections: int, arguments: list[str]) -> tuple[int, dict[str, Any]]:
    """A fresh namespace holding `connections`; run this file's --measure inside it."""
    with load.namespace(f"tcpq-test-bench-{os.getpid()}") as ns:
        exec_ns = ["ip", "netns", "exec", ns]
        load.run(*exec_ns, "sysctl", "-q", "-w", f"net.ipv4.ip_local_port_range={PORT_RANGE}")
        with load.helpers(ns, connections) as held:
            print(f"namespace {ns}: helpers hold {held} sockets; measuring {' '.join(arguments)}", flush=True)
            output = load.run(*exec_ns, sys.executable, str(HERE), "--measure", *arguments, capture=True)
    result: dict[str, Any] = json.loads(output)
    return held, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scrapers", type=int, default=20)
    parser.add_argument("--rss-scrapes", type=int, default=1000)
    parser.add_argument("--rss-connections", type=int, default=2000, help="the RSS scene's connections")
    parser.add_argument("--measure", choices=("scrapes", "rss"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure(args.measure, args.runs, args.rss_scrapes, args.scrapers)
    if os.geteuid() != 0:
        raise SystemExit("needs root (creates a network namespace)")
    if args.runs:  # --runs 0: the RSS scene alone
        scrapes = ["scrapes", "--runs", str(args.runs), "--scrapers", str(args.scrapers)]
        held, result = scene(args.connections, scrapes)
        print_side_by_side(result["side_by_side"], held)
        print_concurrent(result["concurrent"], args.scrapers, held)
    if args.rss_scrapes:
        held, result = scene(args.rss_connections, ["rss", "--rss-scrapes", str(args.rss_scrapes)])
        print_rss(result["rss"], held)


if __name__ == "__main__":
    main()
