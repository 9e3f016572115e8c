"""`tcpq lab calibrate`: measure the host's speed (model/timing.py) with the lab's own programs.

Four probes in throwaway namespaces, independent of any scenario (nothing is fitted to a
scenario being compared):

- wake-up: the lab server (an epoll loop, as `accept = "immediate"` runs) is asleep; a probe
  client makes blocking connect() calls 15 ms apart; each wake-up is the time from connect()
  returning (the child is queued by then) to the server's accept() returning. Kept as deciles:
  on a virtual machine the latency is bimodal (an idle vCPU may take a millisecond to run).
- accept cost: 200 children wait in the queue of a server that starts accepting at 0.4 s; the
  median time between two accept() returns of that drain.
- connect gap: the lab's client generator starts a burst of 300 clients at a port whose SYNs
  are dropped (as most SYNs of an overflowing burst are); the mean time between two calls.
- packet cost: the same burst of non-blocking connect() calls against a listener (the whole
  handshake, three packets, is processed inside each call: kernel-model §14.2) and against a
  port whose SYNs are dropped (one packet sent, none processed); a third of the difference.

The timer tick is the kernel's CONFIG_HZ, read from /proc/config.gz or /boot/config-*, else
250 (the reference machine's) with a note.
"""

import gzip
import itertools
import json
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tcpq.errors import TcpqError
from tcpq.lab import sandbox
from tcpq.lab.clients import go_line
from tcpq.lab.sampler import ListenerSampler
from tcpq.model.timing import REFERENCE_HOST, HostTiming
from tcpq.observe.netns import resolve_netns
from tcpq.types import Calibration

Progress = Callable[[float], None]
ROUNDS = 40  # bursts for the wake-up and connect-gap probe
BURST = 10  # clients in each
ROUND_S = 0.04
QUEUED = 200
LOOP = 200  # connect() calls in each packet-cost burst
GAP_BURST = 300  # the generator's burst for its connect gap
REPEAT = 5
PORTS = {"accept": 5102, "burst": 5103, "loop": 5104, "dropped": 5105}


def _server(lab: sandbox.Lab, port: int, *, accept: str, accept_after_s: float, lifetime_s: float) -> (
    "subprocess.Popen[bytes]"
):
    config = {
        "address": lab.server.address,
        "port": port,
        "backlog": 4096,
        "accept": accept,
        "rate": 0.0,
        "workers": 0,
        "service_s": 0.0,
        "service_exponential": False,
        "accept_after_s": accept_after_s,
        "request_mode": False,
        "lifetime_s": lifetime_s,
        "seed": 1,
        "close_delay_s": 0.0,
        "log_accepts": True,
    }
    proc = lab.server.python("tcpq.lab.server", json.dumps(config))
    _ready(proc, "server")
    return proc


def _ready(proc: "subprocess.Popen[bytes]", what: str) -> None:
    assert proc.stdout is not None
    if b"ready" not in proc.stdout.readline():
        raise TcpqError(f"calibrate: the {what} did not start")


def _last_json(proc: "subprocess.Popen[bytes]", key: str, timeout_s: float) -> object:
    """The JSON line a probe program prints when it is done."""
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise TcpqError("calibrate: a probe did not finish in time") from None
    for line in reversed(out.decode(errors="replace").splitlines()):
        if line.startswith("{"):
            return json.loads(line)[key]
    raise TcpqError("calibrate: a probe printed no result")


def _probe(lab: sandbox.Lab, config: dict[str, object]) -> "subprocess.Popen[bytes]":
    proc = lab.client.python("tcpq.lab.probe", json.dumps(config), stdin=True)
    _ready(proc, "probe client")
    assert proc.stdin is not None
    proc.stdin.write(b"go\n")
    proc.stdin.flush()
    return proc


def _deciles(values: list[float]) -> tuple[int, ...]:
    """Ten values at the 5th, 15th … 95th percentiles, in µs (never negative)."""
    ordered = sorted(max(0.0, value) for value in values)
    picks = [ordered[min(len(ordered) - 1, int(len(ordered) * (k + 0.5) / 10))] for k in range(10)]
    return tuple(round(pick * 1e6) for pick in picks)


def measure_accept_cost(lab: sandbox.Lab) -> list[float]:
    server = _server(lab, PORTS["accept"], accept="immediate", accept_after_s=0.4, lifetime_s=1.5)
    probe = _probe(
        lab,
        {
            "mode": "spaced",
            "address": lab.server.address,
            "port": PORTS["accept"],
            "count": QUEUED,
            "spacing_s": 0.0,
            "lifetime_s": 1.2,
        },
    )
    _last_json(probe, "result", 10)
    accepted = _last_json(server, "accepted", 10)
    assert isinstance(accepted, list)
    times = [float(t) for t in accepted]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def _generator_starts(lab: sandbox.Lab, port: int, times: list[float], duration_s: float) -> list[float]:
    """Run the lab's client generator on `times`; when each connect() call was made (monotonic).

    The lab's own sampler runs meanwhile: it takes CPU time from the server as in every lab run."""
    config = {
        "address": lab.server.address,
        "port": port,
        "duration_s": duration_s,
        "groups": [
            {
                "times_s": times,
                "connect_timeout_s": None,
                "request": False,
                "request_after_s": 0.0,
                "close_after_s": None,
            }
        ],
    }
    clients = lab.client.python("tcpq.lab.clients", "-", stdin=True)
    assert clients.stdin is not None and clients.stdout is not None
    clients.stdin.write(json.dumps(config).encode() + b"\n")
    clients.stdin.flush()
    _ready(clients, "client generator")
    sampler = ListenerSampler(resolve_netns(lab.server.name), port, 0.1)
    t0 = time.monotonic() + 0.05
    sampler.start(t0, duration_s)
    clients.stdin.write(go_line(t0))
    clients.stdin.flush()
    try:
        report = json.loads(clients.stdout.readline())
    finally:
        sampler.stop()
        clients.kill()
    return sorted(t0 + float(t) for t in report["started_s"])


def measure_bursts(lab: sandbox.Lab) -> tuple[list[tuple[float, float]], list[float]]:
    """Wake-ups and connect gaps: the lab's client generator starts ROUNDS bursts of BURST
    clients, ROUND_S apart, against an event-loop server that sleeps between them.

    A wake-up is the time from the first connect() call of a burst (its handshake completes
    inside that call on the lab link) to the server's first accept() after it; it includes
    the wait for a CPU while the generator keeps its own busy, as in any lab burst.
    """
    lifetime_s = ROUNDS * ROUND_S + 0.5
    server = _server(lab, PORTS["burst"], accept="immediate", accept_after_s=0.0, lifetime_s=lifetime_s)
    times = [round(r * ROUND_S, 6) for r in range(ROUNDS) for _ in range(BURST)]
    starts = _generator_starts(lab, PORTS["burst"], times, ROUNDS * ROUND_S)
    accepted = _last_json(server, "accepted", 10)
    assert isinstance(accepted, list)
    wakeups: list[tuple[float, float]] = []  # (first accept, last connect() call), from the first call
    gaps: list[float] = []
    for r in range(ROUNDS):
        burst = starts[r * BURST : (r + 1) * BURST]
        if len(burst) < BURST:
            break
        gaps += [later - earlier for earlier, later in itertools.pairwise(burst)]
        after = [float(a) for a in accepted if burst[0] <= float(a) < burst[0] + ROUND_S]
        if after:
            wakeups.append((min(after) - burst[0], burst[-1] - burst[0]))
    return wakeups, gaps


def measure_packet_cost(lab: sandbox.Lab) -> tuple[float, list[float]]:
    """The stack's time per packet: the same burst of non-blocking connect() calls against a
    listener (SYN, SYN-ACK and final ACK processed inside each call) and against a port whose
    SYNs an nft rule in the server namespace drops (only the SYN leaves); a third of the
    difference per call (the median of REPEAT bursts each)."""
    server = _server(lab, PORTS["loop"], accept="immediate", accept_after_s=0.0, lifetime_s=5.0)
    table = "tcpqcal"
    lab.server.run("nft", "add", "table", "inet", table)
    lab.server.run("nft", "add", "chain", "inet", table, "in", "{ type filter hook input priority 0; }")
    lab.server.run(
        "nft", "add", "rule", "inet", table, "in", "tcp", "dport", str(PORTS["dropped"]), "drop"
    )
    try:
        per_call = {}
        for name in ("loop", "dropped"):
            probe = _probe(
                lab,
                {
                    "mode": "burst",
                    "address": lab.server.address,
                    "port": PORTS[name],
                    "count": LOOP,
                    "repeat": REPEAT,
                    "lifetime_s": 5.0,
                },
            )
            values = _last_json(probe, "result", 20)
            assert isinstance(values, list)
            per_call[name] = statistics.median(float(value) for value in values)
        # The generator's own pace: a burst whose SYNs are dropped, so no handshake is
        # processed inside its connect() calls (as for most calls of an overflowing burst).
        starts = _generator_starts(lab, PORTS["dropped"], [0.0] * GAP_BURST, 0.5)
        gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    finally:
        lab.server.run("nft", "delete", "table", "inet", table, check=False)
        server.kill()
    return max(0.0, (per_call["loop"] - per_call["dropped"]) / 3), gaps


def wake_components(firsts: list[tuple[float, float]], gap_s: float) -> tuple[list[float], float]:
    """Split burst wake-ups into latencies and the share that waited for the client program.

    `firsts`: per burst, (first accept, start of the last connect() call), both from the
    burst's first call. A first accept after the last call ended (start + one gap) waited for
    the client program to sleep; its latency counts from then, the others' from the first call.
    """
    latencies = []
    behind = 0
    for first_accept, last_call in firsts:
        client_done = last_call + gap_s
        if first_accept > client_done:
            behind += 1
            latencies.append(first_accept - client_done)
        else:
            latencies.append(first_accept)
    return latencies, behind / len(firsts) if firsts else 0.0


def kernel_hz(release: str) -> int | None:
    """CONFIG_HZ of the running kernel, if its configuration can be read."""
    candidates = [(Path("/proc/config.gz"), True), (Path(f"/boot/config-{release}"), False)]
    for path, packed in candidates:
        try:
            text = gzip.decompress(path.read_bytes()).decode() if packed else path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("CONFIG_HZ="):
                return int(line.split("=", 1)[1])
    return None


def calibrate(on_progress: Progress | None = None) -> Calibration:
    """Run the four probes; every process and namespace is gone when this returns."""
    release = platform.release()
    notes = []
    hz = kernel_hz(release)
    if hz is None:
        hz = REFERENCE_HOST.hz
        notes.append(f"CONFIG_HZ not readable (no /proc/config.gz or /boot/config-{release}): assumed {hz}")
    steps: list[Callable[[sandbox.Lab], object]] = [measure_bursts, measure_accept_cost, measure_packet_cost]
    results: list[object] = []
    with sandbox.lab() as lab:
        for index, step in enumerate(steps):
            results.append(step(lab))
            if on_progress is not None:
                on_progress((index + 1) / len(steps))
    bursts, accept_gaps, packets = results
    assert isinstance(bursts, tuple) and isinstance(accept_gaps, list) and isinstance(packets, tuple)
    firsts, burst_gaps = bursts
    packet, connect_gaps = packets
    if len(firsts) < ROUNDS // 2 or len(accept_gaps) < QUEUED // 2:
        raise TcpqError("calibrate: too few samples (the probes fell behind); try again on a quieter machine")
    gap = statistics.mean(connect_gaps)
    latencies, behind = wake_components(firsts, statistics.mean(burst_gaps))
    timing = HostTiming(
        hz=hz,
        connect_gap_us=round(gap * 1e6),
        packet_us=round(packet * 1e6),
        # A connect() whose handshake completes inside it, against one whose SYN is dropped.
        inline_packet_us=round(max(0.0, statistics.mean(burst_gaps) - gap) * 1e6 / 3),
        wakeup_us=_deciles(latencies),
        accept_us=round(statistics.median(accept_gaps) * 1e6),
        behind_client=round(behind, 2),
        # Not measured here: the reference machine's (docs/scenarios.md, [host]).
        slice_us=REFERENCE_HOST.slice_us,
        warm_wakeup_us=REFERENCE_HOST.warm_wakeup_us,
        cold_after_us=REFERENCE_HOST.cold_after_us,
    )
    samples = {
        "wakeup": len(firsts),
        "accept": len(accept_gaps) + 1,
        "connect": len(connect_gaps) + 1,
        "packet": 2 * LOOP * REPEAT,
    }
    return Calibration(kernel=release, timing=timing, samples=samples, notes=notes)


def host_toml(calibration: Calibration, when: str) -> str:
    """The file `tcpq simulate --host FILE` reads: a [host] table with its provenance."""
    timing = calibration.timing
    wakeup = ", ".join(f'"{value}us"' for value in timing.wakeup_us)
    lines = [
        f"# Written by `sudo tcpq lab calibrate` on {when}, kernel {calibration.kernel}.",
        "# Use: tcpq simulate FILE --host THIS_FILE (or copy the table into a scenario).",
        *(f"# note: {note}" for note in calibration.notes),
        "[host]",
        f"hz = {timing.hz}",
        f'connect_gap = "{timing.connect_gap_us}us"',
        f'packet_cost = "{timing.packet_us}us"',
        f'inline_packet_cost = "{timing.inline_packet_us}us"',
        f"wakeup = [{wakeup}]",
        f"behind_client = {timing.behind_client}",
        f'accept_cost = "{timing.accept_us}us"',
        "# not measured: the reference machine's values (docs/scenarios.md, [host])",
        f'slice = "{timing.slice_us}us"',
        f'warm_wakeup = "{timing.warm_wakeup_us}us"',
        f'cold_after = "{timing.cold_after_us}us"',
        "",
    ]
    return "\n".join(lines)
