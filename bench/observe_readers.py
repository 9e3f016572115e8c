#!/usr/bin/env python3
"""Socket readers at 100k sockets: tcpq's inet_diag reader vs pyroute2, /proc/net/tcp and `ss -tan`.

Needs root. Creates a throwaway network namespace (tcpq-test-<pid>-bench), starts inside it a
few helper processes that open CONNECTIONS loopback connections (two sockets each) spread
over several listener ports and source addresses in 127.0.0.0/8, then, inside that namespace,
times each reader over several runs and prints medians and ratios. The namespace and the
helper are removed in every case (finally).

    sudo .venv/bin/python bench/observe_readers.py                        # 50k connections, 5 runs
    sudo .venv/bin/python bench/observe_readers.py --connections 5000 --runs 3

Readers timed in-process (a warm Python, one full dump consumed, records built), interleaved:
  tcpq.observe.inet_diag.dump_tcp()  every field of SockRecord, listener drops included
  pyroute2 DiagSocket                the same two dumps per family, the same fields extracted
  tcpq.observe.sockets.read_proc_net_tcp()
then as whole processes under `ip netns exec` (start-up included): `ss -tan > /dev/null`,
each Python reader (with its peak RSS), and `python3 -c pass` for the interpreter's own start.
pyroute2 is optional (`pip install pyroute2`); without it its rows fail, nothing else does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve()
FIRST_PORT = 5000
PORTS_PER_HELPER = 4
FD_CAP = 65536  # per helper process, even where the limit is higher
FD_SPARE = 256  # descriptors left for Python itself
SOURCE_ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
HOLD_LIMIT_S = 900  # the helper exits by itself after this, whatever happens to the bench
SETUP_LIMIT_S = 300  # opening the connections must finish within this


# ---------------------------------------------------------------- inside the namespace: helper


def fd_budget() -> int:
    """Connections one process can hold: two descriptors each, within the hard RLIMIT_NOFILE.

    Raising the hard limit needs CAP_SYS_RESOURCE, which a container root may lack, so the
    bench spreads the connections over several helper processes instead.
    """
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = FD_CAP if hard == resource.RLIM_INFINITY else min(hard, FD_CAP)
    return (limit - FD_SPARE) // 2


def hold(connections: int, first_port: int) -> None:
    """Open `connections` loopback connections, print "ready N", keep them until stdin closes."""
    import resource
    import signal
    import socket

    signal.alarm(HOLD_LIMIT_S)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ports = [first_port + offset for offset in range(PORTS_PER_HELPER)]
    listeners = []
    for port in ports:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(4096)
        listener.setblocking(False)
        listeners.append(listener)
    kept: list[socket.socket] = []
    deadline = time.monotonic() + SETUP_LIMIT_S
    for index in range(connections):
        if time.monotonic() > deadline:
            raise SystemExit(f"only {index} connections after {SETUP_LIMIT_S} s")
        client = socket.socket()
        # The port is chosen at connect() for the whole 4-tuple, so several sources × ports
        # share the namespace's ephemeral range without running out.
        client.setsockopt(socket.IPPROTO_IP, socket.IP_BIND_ADDRESS_NO_PORT, 1)
        client.bind((SOURCE_ADDRESSES[index % len(SOURCE_ADDRESSES)], 0))
        client.connect(("127.0.0.1", ports[(index // len(SOURCE_ADDRESSES)) % len(ports)]))
        kept.append(client)
        if index % 512 == 511 or index == connections - 1:
            for listener in listeners:
                while True:
                    try:
                        kept.append(listener.accept()[0])
                    except BlockingIOError:  # this listener's accept queue is drained
                        break
    kept.extend(listeners)
    print(f"ready {len(kept)}", flush=True)
    sys.stdin.read()


# ---------------------------------------------------------------- inside the namespace: timing


def consume_tcpq() -> int:
    from tcpq.observe.inet_diag import dump_tcp

    count = 0
    for _ in dump_tcp():
        count += 1
    return count


def consume_proc() -> int:
    from tcpq.observe.sockets import read_proc_net_tcp

    count = 0
    for _ in read_proc_net_tcp():
        count += 1
    return count


def consume_pyroute2() -> int:
    """The same two dumps per family as dump_tcp, and the same fields taken from each message."""
    import socket

    from pyroute2 import DiagSocket  # type: ignore[import-untyped, import-not-found, unused-ignore]

    from tcpq.observe.inet_diag import LISTEN_MASK, OTHER_STATES_MASK, SK_MEMINFO_DROPS, SKMEMINFO_EXT

    count = 0
    with DiagSocket() as diag:
        diag.bind()
        for family in (socket.AF_INET, socket.AF_INET6):
            for states, ext in ((LISTEN_MASK, SKMEMINFO_EXT), (OTHER_STATES_MASK, 0)):
                for message in diag.get_sock_stats(family=family, states=states, extensions=ext):
                    drops = None
                    if ext:
                        meminfo = message.get_attr("INET_DIAG_SKMEMINFO")
                        if meminfo is not None:
                            raw = bytes.fromhex(meminfo.replace(":", ""))
                            drops = int.from_bytes(
                                raw[SK_MEMINFO_DROPS * 4 : SK_MEMINFO_DROPS * 4 + 4], "little"
                            )
                    (
                        message["idiag_family"],
                        message["idiag_state"],
                        message["idiag_src"],
                        message["idiag_sport"],
                        message["idiag_dst"],
                        message["idiag_dport"],
                        message["idiag_rqueue"],
                        message["idiag_wqueue"],
                        message["idiag_inode"],
                        message["idiag_uid"],
                        message["idiag_cookie"],
                        drops,
                        message["idiag_timer"],
                        message["idiag_retrans"],
                    )
                    count += 1
    return count


READERS: dict[str, Callable[[], int]] = {
    "tcpq": consume_tcpq,
    "pyroute2": consume_pyroute2,
    "proc": consume_proc,
}
LABELS = {
    "tcpq": "tcpq dump_tcp()",
    "pyroute2": "pyroute2 DiagSocket",
    "proc": "tcpq read_proc_net_tcp()",
}


def time_readers(runs: int) -> None:
    """In-process: time each reader `runs` times, interleaved; print {name: [sockets, seconds...]}."""
    import importlib

    for module in ("tcpq.observe.inet_diag", "tcpq.observe.sockets", "pyroute2"):
        importlib.import_module(module)  # imports are not part of a reader's time here
    results: dict[str, list[float]] = {name: [] for name in READERS}
    counts: dict[str, int] = {}
    for _ in range(runs):
        for name, reader in READERS.items():
            started = time.perf_counter()
            counts[name] = reader()
            results[name].append(time.perf_counter() - started)
    print(json.dumps({name: [counts[name], *seconds] for name, seconds in results.items()}))


def consume_once(name: str) -> None:
    """A whole process: import, one dump, and the peak memory it took.

    VmHWM, not ru_maxrss: Linux carries ru_maxrss across execve, so it would include the
    memory of the forking parent (this bench, holding `ss` output) before the exec.
    """
    count = READERS[name]()
    status = Path("/proc/self/status").read_text(encoding="ascii")
    peak_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    print(json.dumps({"sockets": count, "max_rss_kib": peak_kib}))


# ---------------------------------------------------------------- outside: orchestration


def run(*command: str, capture: bool = False) -> str:
    return subprocess.run(list(command), check=True, text=True, capture_output=capture).stdout


@contextmanager
def namespace(name: str) -> Iterator[str]:
    run("ip", "netns", "add", name)
    try:
        run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


@contextmanager
def helpers(ns: str, connections: int) -> Iterator[int]:
    """Start as many holding processes as the descriptor limit needs; yield the sockets held."""
    per_process = fd_budget()
    shares = [min(per_process, connections - start) for start in range(0, connections, per_process)]
    processes: list[subprocess.Popen[str]] = []
    try:
        for index, share in enumerate(shares):
            port = str(FIRST_PORT + index * PORTS_PER_HELPER)
            command = ["ip", "netns", "exec", ns, sys.executable, str(HERE), "--hold", str(share), port]
            processes.append(
                subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            )
        held = 0
        for process in processes:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line.startswith("ready "):
                raise SystemExit(f"helper failed: {line!r}")
            held += int(line.split()[1])
        yield held
    finally:
        for process in processes:
            if process.stdin is not None:
                process.stdin.close()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def whole_process(command: list[str], runs: int, keep_output: bool = True) -> tuple[list[float], str]:
    """Wall times of `runs` executions and the last one's standard output (or /dev/null)."""
    walls: list[float] = []
    output = ""
    stdout = subprocess.PIPE if keep_output else subprocess.DEVNULL
    for _ in range(runs):
        started = time.perf_counter()
        output = subprocess.run(command, check=True, text=True, stdout=stdout).stdout or ""
        walls.append(time.perf_counter() - started)
    return walls, output


Row = tuple[str, int, list[float], str]


def report(title: str, rows: list[Row], baseline: str) -> None:
    base = statistics.median(next(walls for name, _, walls, _ in rows if name == baseline))
    print(f"\n{title}")
    print(f"{'':42} {'sockets':>8} {'median':>9} {'min':>9} {'max':>9} {'ratio':>8}  note")
    for name, sockets, walls, note in rows:
        median = statistics.median(walls)
        print(
            f"{name:42} {sockets:>8} {median * 1000:>7.0f}ms {min(walls) * 1000:>7.0f}ms "
            f"{max(walls) * 1000:>7.0f}ms {median / base:>7.2f}x  {note}"
        )


def in_process_rows(exec_ns: list[str], runs: int) -> list[Row]:
    timed = json.loads(run(*exec_ns, sys.executable, str(HERE), "--time", str(runs), capture=True))
    return [(LABELS[name], int(values[0]), values[1:], "") for name, values in timed.items()]


def process_rows(exec_ns: list[str], runs: int, pyroute2_runs: int) -> list[Row]:
    rows: list[Row] = []
    listed = run(*exec_ns, "ss", "-tan", capture=True).count("\n") - 1
    walls, _ = whole_process([*exec_ns, "ss", "-tan"], runs, keep_output=False)
    rows.append(("ss -tan > /dev/null", listed, walls, ""))
    for name, count in (("tcpq", runs), ("proc", runs), ("pyroute2", pyroute2_runs)):
        if count:
            walls, output = whole_process([*exec_ns, sys.executable, str(HERE), "--consume", name], count)
            result = json.loads(output)
            rss = f"peak RSS {result['max_rss_kib'] / 1024:.0f} MiB"
            rows.append((f"python3 {LABELS[name]}", result["sockets"], walls, rss))
    walls, _ = whole_process([*exec_ns, sys.executable, "-c", "pass"], runs)
    rows.append(("python3 -c pass (start-up alone)", 0, walls, ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pyroute2-process-runs", type=int, default=1, help="whole-process pyroute2 runs")
    parser.add_argument("--hold", type=int, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--time", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--consume", choices=sorted(READERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hold is not None:
        return hold(*args.hold)
    if args.time is not None:
        return time_readers(args.time)
    if args.consume is not None:
        return consume_once(args.consume)
    if os.geteuid() != 0:
        raise SystemExit("needs root (creates a network namespace)")
    with namespace(f"tcpq-test-{os.getpid()}-bench") as ns, helpers(ns, args.connections) as held:
        exec_ns = ["ip", "netns", "exec", ns]
        print(f"namespace {ns}: helpers hold {held} sockets; {args.runs} runs each", flush=True)
        report(
            "in-process (warm Python, one full dump consumed)",
            in_process_rows(exec_ns, args.runs),
            LABELS["tcpq"],
        )
        report(
            "whole processes under `ip netns exec` (start-up included)",
            process_rows(exec_ns, args.runs, args.pyroute2_process_runs),
            "ss -tan > /dev/null",
        )


if __name__ == "__main__":
    main()
