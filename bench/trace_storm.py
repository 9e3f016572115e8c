"""tcpq trace under a SYN-retransmission storm: events handled without loss, CPU per event.

A namespace `tcpq-test-bench-<pid>` drops every segment to one port on its loopback (nft, in
that namespace only); a generator opens non-blocking connects to it at RATE per second and
closes each after KEEP s, so every socket retransmits its SYN (1 s apart: linear timeouts)
and emits CLOSE→SYN_SENT and SYN_SENT→CLOSE. `tcpq trace --json --summary` traces that port for
the run; its CPU time (user + system, its mount helper included) over the wall time is the
cost, the summary's lost counts say whether it kept up.

    sudo .venv/bin/python bench/trace_storm.py [RATE ...]   # default: 400 1700 3400 connects/s
"""

import json
import os
import resource
import subprocess
import sys
import textwrap
import threading
import time

PORT = 29999
SECONDS = 8
KEEP_S = 4.5
GENERATOR = """
import collections, resource, socket, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
rate, seconds, keep = {rate}, {seconds}, {keep}
open_socks = collections.deque()
start = time.monotonic()
made = 0
while time.monotonic() < start + seconds:
    now = time.monotonic()
    while made < int((now - start) * rate):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", {port}))
        open_socks.append((now, c))
        made += 1
    while open_socks and open_socks[0][0] < now - keep:
        open_socks.popleft()[1].close()
    time.sleep(0.005)
for _, c in open_socks:
    c.close()
print(made)
"""


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


def storm(ns: str, rate: int) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    trace = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tcpq",
            "trace",
            "--json",
            "--summary",
            "--netns",
            ns,
            "--port",
            str(PORT),
            "--duration",
            f"{SECONDS + 3}s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert trace.stdout is not None
    while b'"type":"start"' not in trace.stdout.readline():
        pass
    summary: dict[str, object] = {}

    def read() -> None:  # tcpq must never block on a full stdout pipe: that is not its cost
        assert trace.stdout is not None
        for line in trace.stdout:
            record = json.loads(line)
            if record["type"] == "summary":
                summary.update(record)

    reader = threading.Thread(target=read)
    reader.start()
    code = GENERATOR.format(rate=rate, seconds=SECONDS, keep=KEEP_S, port=PORT)
    generator = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=SECONDS + 30,
        check=True,
    )
    trace.wait(timeout=60)
    reader.join(timeout=60)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    events = int(summary["events"])  # type: ignore[call-overload]
    lost = summary["lost"]
    duration = float(summary["duration_s"])  # type: ignore[arg-type]
    return {
        "connects_per_s": rate,
        "connects": int(generator.stdout.strip()),
        "events": events,
        "events_per_s": events / duration,
        "lost": sum(lost.values()),  # type: ignore[attr-defined]
        "cpu_s": cpu,
        "cpu_fraction": cpu / duration,
        "wall_s": wall,
    }


def main(rates: list[int]) -> None:
    ns = f"tcpq-test-bench-{os.getpid()}"
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.tcp_syn_retries=6")
        sh("ip", "netns", "exec", ns, "nft", "add", "table", "inet", "tcpqbench")
        sh(
            "ip",
            "netns",
            "exec",
            ns,
            "nft",
            "add",
            "chain",
            "inet",
            "tcpqbench",
            "c",
            "{ type filter hook input priority 0; }",
        )
        sh(
            "ip",
            "netns",
            "exec",
            ns,
            "nft",
            "add",
            "rule",
            "inet",
            "tcpqbench",
            "c",
            "tcp",
            "dport",
            str(PORT),
            "drop",
        )
        for rate in rates:
            result = storm(ns, rate)
            print(json.dumps(result), flush=True)
            time.sleep(KEEP_S + 1)  # the last sockets' retransmissions end before the next run
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30, check=False)


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [400, 1700, 3400])
