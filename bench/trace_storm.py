"""tcpq trace under a SYN-retransmission storm: events handled without loss, CPU per event.

A namespace `tcpq-test-bench-<pid>` drops every segment to one port on its loopback (nft, in
that namespace only); a generator opens non-blocking connects to it at RATE per second and
closes each after KEEP s, so every socket retransmits its SYN (1 s apart: linear timeouts)
and emits CLOSE→SYN_SENT and SYN_SENT→CLOSE. `tcpq trace --json --summary` traces that port for
the run; its CPU time (user + system, its mount helper included) over the wall time is the
cost, the summary's lost counts say whether it kept up.

    sudo .venv/bin/python bench/trace_storm.py [RATE ...]   # default: 400 1700 3400 connects/s
"""

import collections
import json
import os
import re
import resource
import subprocess
import sys
import textwrap
import threading
import time

PORT = 29999
T_FIELD = re.compile(rb'"t":([0-9.]+)')
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
print(made, start)
"""


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


def _cpu_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime


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
    while b'"type":"start"' not in (first := trace.stdout.readline()):
        if not first:  # tcpq exited before it started: say so rather than wait forever
            raise SystemExit(f"tcpq trace exited with {trace.wait()} before its start line")
    t0 = time.monotonic()  # ≈ tcpq's own t0 (its start line is written right after it)
    summary: dict[str, object] = {}
    per_second: collections.Counter[int] = collections.Counter()

    def read() -> None:  # tcpq must never block on a full stdout pipe: that is not its cost
        assert trace.stdout is not None
        for line in trace.stdout:
            if line.startswith(b'{"type":"event"'):  # only its time: json.loads of 10k lines/s
                found = T_FIELD.search(line, 0, 48)  # would cost the bench a CPU it shares
                if found is not None:
                    per_second[int(float(found.group(1)))] += 1
                continue
            record = json.loads(line)
            if record["type"] == "summary":
                summary.update(record)

    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:  # tcpq's CPU time every 0.1 s, to cut out the storm's steady part
        while not done.is_set():
            ticks = _cpu_ticks(trace.pid)
            if ticks is not None:
                samples.append((time.monotonic(), ticks))
            done.wait(0.1)

    reader = threading.Thread(target=read)
    reader.start()
    sampler = threading.Thread(target=sample)
    sampler.start()
    code = GENERATOR.format(rate=rate, seconds=SECONDS, keep=KEEP_S, port=PORT)
    generator = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=SECONDS + 30,
        check=True,
    )
    trace.wait(timeout=60)
    done.set()
    sampler.join(timeout=10)
    reader.join(timeout=60)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    made, gen_start = generator.stdout.split()
    # The steady part: every socket alive has made all its events' kinds (from KEEP_S after the
    # first connect) until the generator stops; events/s and tcpq's CPU over the same window.
    low, high = float(gen_start) + KEEP_S + 0.5, float(gen_start) + SECONDS
    window = [(t, ticks) for t, ticks in samples if low <= t <= high] or samples[:1] + samples[-1:]
    (t_a, c_a), (t_b, c_b) = window[0], window[-1]
    steady_cpu = (c_b - c_a) / os.sysconf("SC_CLK_TCK") / (t_b - t_a)
    steady_seconds = [s for s in per_second if low - t0 <= s and s + 1 <= high - t0]
    steady_events = sum(per_second[s] for s in steady_seconds)
    events = int(summary["events"])  # type: ignore[call-overload]
    lost = summary["lost"]
    duration = float(summary["duration_s"])  # type: ignore[arg-type]
    return {
        "connects_per_s": rate,
        "connects": int(made),
        "events": events,
        "events_per_s": round(events / duration),
        "steady_events_per_s": round(steady_events / max(1, len(steady_seconds))),
        "peak_events_per_s": max(per_second.values(), default=0),
        "lost": sum(lost.values()),  # type: ignore[attr-defined]
        "cpu_fraction": round(cpu / duration, 3),
        "steady_cpu_fraction": round(steady_cpu, 3),
        "wall_s": round(wall, 1),
    }


def show(results: list[dict[str, float]]) -> None:
    print(
        f"{'connects/s':>10} {'events':>8} {'events/s':>9} {'steady/s':>9} {'peak/s':>8} "
        f"{'lost':>7} {'CPU run':>8} {'CPU steady':>10}"
    )
    for r in results:
        print(
            f"{r['connects_per_s']:>10} {r['events']:>8} {r['events_per_s']:>9} "
            f"{r['steady_events_per_s']:>9} {r['peak_events_per_s']:>8} {r['lost']:>7} "
            f"{r['cpu_fraction']:>8.0%} {r['steady_cpu_fraction']:>10.0%}"
        )
    clean = [r for r in results if r["lost"] == 0]
    if clean:
        best = max(clean, key=lambda r: r["steady_events_per_s"])
        print(
            f"highest rate without loss: {best['steady_events_per_s']} events/s steady "
            f"({best['peak_events_per_s']}/s peak second), tcpq CPU {best['steady_cpu_fraction']:.0%}"
        )


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
        results = []
        for rate in rates:
            results.append(storm(ns, rate))
            print(json.dumps(results[-1]), flush=True)
            time.sleep(KEEP_S + 1)  # the last sockets' retransmissions end before the next run
        show(results)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30, check=False)


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [1700, 2200, 2800, 3400])
