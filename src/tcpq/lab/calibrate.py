"""`tcpq lab calibrate`: measure the host's speed (model/timing.py) with the lab's own programs.

Nine probes, in throwaway namespaces where they need a network, independent of any scenario
(nothing is fitted to a scenario being compared):

- wake-up: ten times a fresh lab server (an epoll loop, as `accept = "immediate"` runs) and a
  fresh run of the lab's client generator, five bursts of 50 clients each: the time from a
  burst's first call to the server's first accept(), counted from the burst's end when the
  server waited for the client program to sleep (kept as deciles: on a virtual machine the
  latency is bimodal).
- cold call: in the same bursts, the first gap (the program slept 40 ms before it) against the
  median gap (`cold_call`).
- placement (`behind_client`): ten runs of `tcpq lab` itself, 50 clients at once against a
  backlog of 2; the share whose server waited for the client's burst (47 overflows, against
  5-15 when it got a CPU). The placement lasts a run and depends on how the lab starts its
  processes, so it is measured through the lab's own runner. The same for worker threads
  (`workers_behind_client`): ten runs, 60 clients at once against 16 workers of 50 ms.
- preemption: bursts of 400 clients; how long a server behind the client waits while the
  burst goes on (`slice`).
- accept cost: 200 children wait in the queue of a server that starts accepting at 0.4 s; the
  median time between two accept() returns of that drain.
- connect gap: the lab's client generator starts a burst of 300 clients at a port whose SYNs
  an nft rule drops (as most SYNs of an overflowing burst are, so no handshake is processed
  inside a call); the mean time between two calls.
- packet costs: waves of 200 retransmitted SYNs timed where the server's interface receives
  them (lab/wave.py): per SYN, SYN-ACK, final ACK that creates a child, and final ACK that a
  full accept queue drops.
- timer lateness: 100 of the generator's connects, 3 ms apart, at that port, each given up by
  a 0.3 s connect timeout: how late the program's own timer fired (`timer_late`).
- sleep lateness: 50 sleeps of 2 ms and 50 of 20 ms; how late each returned (`sleep_late`,
  `long_sleep_late`: a worker's service time).

The timer tick is the kernel's CONFIG_HZ, read from /proc/config.gz or /boot/config-*, else
250 (the reference machine's) with a note.
"""

import contextlib
import gzip
import itertools
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from tcpq.errors import TcpqError
from tcpq.lab import sandbox
from tcpq.lab.placement import (
    PLACEMENT_TRIALS,
    WORKERS_SCENARIO,
    measure_placement,
    placement_share,
    workers_placement_share,
)
from tcpq.lab.sampler import ListenerSampler
from tcpq.lab.wave import SplitWave, Wave
from tcpq.lab.wire import (
    ClientConfig,
    ClientGroup,
    ClientReport,
    Message,
    ProbeConfig,
    ProbeResult,
    ServerAccepts,
    ServerConfig,
    WaveConfig,
    WavePackets,
    go_line,
)
from tcpq.model.timing import REFERENCE_HOST, HostTiming
from tcpq.observe.netns import resolve_netns
from tcpq.types import Calibration

Progress = Callable[[float], None]
TRIALS = 10  # fresh server and client program pairs for the wake-up probe
ROUNDS = 5  # bursts in each, for the wake-up and connect-gap probe
BURST = 50  # clients in each: a burst long (~1 ms) against a wake-up (~0.1-0.3 ms), so a
# server that waited for the client program is told apart from one that woke late
ROUND_S = 0.04
LONG_ROUNDS = 8  # bursts for the preemption probe
LONG_BURST = 400  # clients in each: ~6-10 ms, longer than a scheduler slice
LONG_ROUND_S = 0.06
QUEUED = 200
GAP_BURST = 300  # the generator's burst for its connect gap
TIMER_PROBES = 100  # connects the timer probe gives up by their timeout
TIMER_SPACING_S = 0.003
TIMER_TIMEOUT_S = 0.3
SLEEP_PROBES = 50  # sleeps of each length for the sleep-lateness probe
SHORT_SLEEP_S = 0.002  # a sleep below model/timing.py's LONG_SLEEP_US ...
LONG_SLEEP_S = 0.02  # ... and one above it
WAVE = 200  # clients in each wave of the packet-cost probe
WAVE_TRIES = 4  # a split wave (lab/wave.py) is probed again; 4 tries all split at ~0.4 % when busy
WAVE_PORT_STRIDE = 100  # a retry's port: clear of the ports the other waves use
SWITCH_S = 0.5  # when the wave probe's listener changes (the wave comes ~1 s after the burst)
REPEAT = 3
PORTS = {"accept": 5102, "long": 5104, "dropped": 5105, "wave": 5110, "burst": 5120}
M = TypeVar("M", bound=Message)


def _server(
    lab: sandbox.Lab, port: int, *, accept: str, accept_after_s: float, lifetime_s: float
) -> "subprocess.Popen[bytes]":
    config = ServerConfig(
        address=lab.server.address,
        port=port,
        backlog=4096,
        accept=accept,
        rate=0.0,
        workers=0,
        service_s=0.0,
        service_exponential=False,
        accept_after_s=accept_after_s,
        request_mode=False,
        lifetime_s=lifetime_s,
        seed=1,
        close_delay_s=0.0,
        log_accepts=True,
    )
    proc = lab.server.python("tcpq.lab.server", config.to_json())
    _ready(proc, "server")
    return proc


def _ready(proc: "subprocess.Popen[bytes]", what: str) -> None:
    assert proc.stdout is not None
    if b"ready" not in proc.stdout.readline():
        raise TcpqError(f"calibrate: the {what} did not start")


def _last_message(proc: "subprocess.Popen[bytes]", kind: type[M], timeout_s: float) -> M:
    """The message a probe program prints when it is done (its last JSON line)."""
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise TcpqError("calibrate: a probe did not finish in time") from None
    for line in reversed(out.decode(errors="replace").splitlines()):
        if line.startswith("{"):
            return kind.from_json(line)
    raise TcpqError("calibrate: a probe printed no result")


def _probe(lab: sandbox.Lab, config: ProbeConfig) -> "subprocess.Popen[bytes]":
    proc = lab.client.python("tcpq.lab.probe", config.to_json(), stdin=True)
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
    config = ProbeConfig("spaced", lab.server.address, PORTS["accept"], QUEUED, lifetime_s=1.2, spacing_s=0.0)
    _last_message(_probe(lab, config), ProbeResult, 10)
    accepted = _last_message(server, ServerAccepts, 10).accepted
    return [later - earlier for earlier, later in itertools.pairwise(accepted)]


def _generator_report(
    lab: sandbox.Lab, port: int, times: list[float], duration_s: float, connect_timeout_s: float | None = None
) -> tuple[float, ClientReport]:
    """Run the lab's client generator on `times`: its start T0 (monotonic) and its report.

    The lab's own sampler runs meanwhile: it takes CPU time from the server as in every lab run."""
    group = ClientGroup(
        tuple(times), connect_timeout_s, request=False, request_after_s=0.0, close_after_s=None
    )
    config = ClientConfig(lab.server.address, port, duration_s, (group,))
    clients = lab.client.python("tcpq.lab.clients", "-", stdin=True)
    assert clients.stdin is not None and clients.stdout is not None
    clients.stdin.write(config.to_json().encode() + b"\n")
    clients.stdin.flush()
    _ready(clients, "client generator")
    sampler = ListenerSampler(resolve_netns(lab.server.name), port, 0.1)
    t0 = time.monotonic() + 0.05
    sampler.start(t0, duration_s)
    clients.stdin.write(go_line(t0))
    clients.stdin.flush()
    try:
        report = ClientReport.from_json(clients.stdout.readline())
    finally:
        sampler.stop()
        clients.kill()
    return t0, report


def _generator_starts(lab: sandbox.Lab, port: int, times: list[float], duration_s: float) -> list[float]:
    """When each connect() call of the generator was made (monotonic)."""
    t0, report = _generator_report(lab, port, times, duration_s)
    return sorted(t0 + t for t in report.started_s)


def measure_bursts(lab: sandbox.Lab) -> tuple[list[tuple[float, float]], list[float], list[float]]:
    """Wake-ups and connect gaps: TRIALS times, a fresh event-loop server and a fresh run of the
    lab's client generator with ROUNDS bursts of BURST clients, ROUND_S apart.

    Per burst: (first accept(), start of the last connect() call), both from the burst's
    first call (its handshake completes inside that call on the lab link); the gaps between
    calls; and apart, the first of them: the program slept ROUND_S before it. Fresh processes
    each trial, as in every lab run: where the scheduler puts a new server relative to the
    client program lasts for the whole run, so the latencies are taken over both placements.
    """
    firsts: list[tuple[float, float]] = []
    gaps: list[float] = []
    cold_gaps: list[float] = []
    for trial in range(TRIALS):
        port = PORTS["burst"] + trial
        lifetime_s = ROUNDS * ROUND_S + 0.5
        server = _server(lab, port, accept="immediate", accept_after_s=0.0, lifetime_s=lifetime_s)
        times = [round(r * ROUND_S, 6) for r in range(ROUNDS) for _ in range(BURST)]
        starts = _generator_starts(lab, port, times, ROUNDS * ROUND_S)
        accepted = _last_message(server, ServerAccepts, 10).accepted
        for r in range(ROUNDS):
            burst = starts[r * BURST : (r + 1) * BURST]
            if len(burst) < BURST:
                break
            gaps += [later - earlier for earlier, later in itertools.pairwise(burst)]
            cold_gaps.append(burst[1] - burst[0])
            after = [a for a in accepted if burst[0] <= a < burst[0] + ROUND_S]
            if after:
                firsts.append((min(after) - burst[0], burst[-1] - burst[0]))
    return firsts, gaps, cold_gaps


def measure_preemption(lab: sandbox.Lab) -> list[float]:
    """How long a server behind the client waits when the client program never sleeps: the
    lab's generator starts LONG_ROUNDS bursts of LONG_BURST clients; for each burst whose
    server did not run at once (first accept() 1 ms or more after the first call) and that
    was still going on when the server ran, the time from the first call to that accept()
    (the scheduler preempted the client: at a tick, once its slice was used up)."""
    lifetime_s = LONG_ROUNDS * LONG_ROUND_S + 0.5
    server = _server(lab, PORTS["long"], accept="immediate", accept_after_s=0.0, lifetime_s=lifetime_s)
    times = [round(r * LONG_ROUND_S, 6) for r in range(LONG_ROUNDS) for _ in range(LONG_BURST)]
    starts = _generator_starts(lab, PORTS["long"], times, LONG_ROUNDS * LONG_ROUND_S)
    accepted = _last_message(server, ServerAccepts, 10).accepted
    return preemption_waits(starts, list(accepted), LONG_BURST, LONG_ROUND_S)


def preemption_waits(starts: list[float], accepted: list[float], burst: int, round_s: float) -> list[float]:
    """Per burst of `burst` calls (`starts`), the first accept() when the server waited for
    a CPU and the client program was still issuing calls then (see measure_preemption)."""
    waits = []
    for r in range(len(starts) // burst):
        calls = starts[r * burst : (r + 1) * burst]
        after = [a for a in accepted if calls[0] <= a < calls[0] + round_s]
        if after and min(after) - calls[0] >= 1e-3 and min(after) < calls[-1]:
            waits.append(min(after) - calls[0])
    return waits


@contextlib.contextmanager
def _syns_dropped(lab: sandbox.Lab) -> Iterator[int]:
    """A port of the server namespace whose SYNs an nft rule there drops (yielded)."""
    table = "tcpqcal"
    lab.server.run("nft", "add", "table", "inet", table)
    lab.server.run("nft", "add", "chain", "inet", table, "in", "{ type filter hook input priority 0; }")
    lab.server.run("nft", "add", "rule", "inet", table, "in", "tcp", "dport", str(PORTS["dropped"]), "drop")
    try:
        yield PORTS["dropped"]
    finally:
        lab.server.run("nft", "delete", "table", "inet", table, check=False)


def measure_connect_gaps(lab: sandbox.Lab) -> list[float]:
    """The generator's own pace: a burst at a port whose SYNs are dropped, so no handshake is
    processed inside its connect() calls (as for most calls of an overflowing burst)."""
    with _syns_dropped(lab) as port:
        starts = _generator_starts(lab, port, [0.0] * GAP_BURST, 0.5)
    return [later - earlier for earlier, later in itertools.pairwise(starts)]


def measure_timer_lateness(lab: sandbox.Lab) -> list[float]:
    """How late the client program's own timers fire: connects whose SYNs are dropped, each
    given up by its connect timeout (TIMER_TIMEOUT_S, below the 1 s SYN RTO); the lateness is
    when the generator ended it minus when it was due. A user-space timer in an event loop
    waits in epoll_wait(), whose timeout is whole milliseconds rounded up, plus a wake-up: it
    decides whether a client gives up before or after a SYN retransmission due at the same
    second (the timer wheel fires that one 0-32 ms late)."""
    times = [k * TIMER_SPACING_S for k in range(TIMER_PROBES)]
    duration_s = times[-1] + TIMER_TIMEOUT_S + 0.2
    with _syns_dropped(lab) as port:
        _, report = _generator_report(lab, port, times, duration_s, connect_timeout_s=TIMER_TIMEOUT_S)
    started, timed_out = report.started_s, report.ended_at_s.get("timed_out", ())
    if len(timed_out) != len(started):
        raise TcpqError("calibrate: the timer probe's connects did not all time out")
    # One timeout for all, so the order of the ends is the order of the starts.
    return [end - (start + TIMER_TIMEOUT_S) for start, end in zip(sorted(started), timed_out, strict=True)]


def measure_sleep_lateness(_: sandbox.Lab) -> tuple[list[float], list[float]]:
    """How late time.sleep() returns, as a worker's service time does in the lab's server:
    SLEEP_PROBES sleeps of SHORT_SLEEP_S, then of LONG_SLEEP_S, in this process (a sleep does
    not depend on the namespace; the lab's processes are idle meanwhile, as a worker's CPU is
    between the connections it serves)."""

    def overshoots(length_s: float) -> list[float]:
        late = []
        for _ in range(SLEEP_PROBES):
            start = time.monotonic()
            time.sleep(length_s)
            late.append(time.monotonic() - start - length_s)
        return late

    return overshoots(SHORT_SLEEP_S), overshoots(LONG_SLEEP_S)


def _wave(lab: sandbox.Lab, port: int, backlog: int, switch: str, new_backlog: int = 0) -> Wave:
    """Clients dropped at a listener retransmit together about 1 s later; time that wave.
    A wave split by a timer-wheel bucket edge is probed again, on the next port, up to
    WAVE_TRIES times (each try splits with a chance of the connects' span over 32 ms)."""
    for attempt in range(WAVE_TRIES):
        config = WaveConfig(
            address=lab.server.address,
            port=port + WAVE_PORT_STRIDE * attempt,
            switch_s=SWITCH_S,
            lifetime_s=SWITCH_S + 1.4,
            backlog=backlog,
            switch=switch,
            new_backlog=new_backlog,
        )
        try:
            return _wave_once(lab, config)
        except SplitWave:
            if attempt == WAVE_TRIES - 1:
                raise
    raise AssertionError("unreachable")


def _wave_once(lab: sandbox.Lab, config: WaveConfig) -> Wave:
    probe = lab.server.python("tcpq.lab.wave", config.to_json(), stdin=True)
    _ready(probe, "wave probe")
    assert probe.stdin is not None
    probe.stdin.write(b"go\n")
    probe.stdin.flush()
    _generator_starts(lab, config.port, [0.0] * WAVE, SWITCH_S + 1.2)
    packets = _last_message(probe, WavePackets, 10).packets
    return Wave.after(list(packets), SWITCH_S, WAVE // 2)


def measure_packet_costs(lab: sandbox.Lab) -> dict[str, float]:
    """The softirq's time per kind of packet, from waves of WAVE retransmitted SYNs (the
    median of REPEAT waves each):

    - a listener with backlog 0 overflows on the first child, so the other clients' SYNs are
      dropped; it then takes backlog 4096, and their retransmitted wave is answered and every
      final ACK creates a child: `syn`, `synack`, `child`;
    - a listener with backlog 8 keeps 9 children and drops the other SYNs; it accepts its 9
      once and never again, so the wave's SYNs are answered (8 request socks, then cookies)
      and after 9 children the full accept queue drops the other final ACKs: `drop`.
    """
    grown = [
        _wave(lab, PORTS["wave"] + r, backlog=0, switch="relisten", new_backlog=4096) for r in range(REPEAT)
    ]
    syn = statistics.median(wave.syn_us() for wave in grown)
    synack = statistics.median(wave.synack_us() for wave in grown)
    child = statistics.median(wave.ack_us() for wave in grown)
    full = [_wave(lab, PORTS["wave"] + REPEAT + r, backlog=8, switch="drain") for r in range(REPEAT)]
    drop = statistics.median(wave.ack_us(first=9, first_us=child) for wave in full)
    return {"syn": syn, "synack": synack, "child": child, "drop": max(0.0, drop)}


def wake_components(firsts: list[tuple[float, float]], gap_s: float) -> list[float]:
    """Burst wake-up latencies. Per burst: (first accept, start of the last connect() call),
    both from the burst's first call. A first accept after the last call ended (start + one
    gap) waited for the client program to sleep; its latency counts from then, the others'
    from the first call."""
    latencies = []
    for first_accept, last_call in firsts:
        client_done = last_call + gap_s
        latencies.append(first_accept - client_done if first_accept > client_done else first_accept)
    return latencies


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
    """Run the probes; every process and namespace is gone when this returns."""
    release = platform.release()
    notes = []
    hz = kernel_hz(release)
    if hz is None:
        hz = REFERENCE_HOST.hz
        notes.append(f"CONFIG_HZ not readable (no /proc/config.gz or /boot/config-{release}): assumed {hz}")
    steps: list[Callable[[sandbox.Lab], object]] = [
        measure_bursts,
        measure_preemption,
        measure_accept_cost,
        measure_connect_gaps,
        measure_packet_costs,
        measure_timer_lateness,
        measure_sleep_lateness,
    ]
    results: list[object] = []
    total = len(steps) + 2 * PLACEMENT_TRIALS
    done = 0

    def advance() -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(done / total)

    with sandbox.lab() as lab:
        for step in steps:
            results.append(step(lab))
            advance()
    placements = measure_placement(advance)
    worker_placements = measure_placement(advance, WORKERS_SCENARIO)
    bursts, waits, accept_gaps, connect_gaps, costs, timer_lateness, sleeps = results
    assert isinstance(bursts, tuple) and isinstance(accept_gaps, list) and isinstance(waits, list)
    assert isinstance(connect_gaps, list) and isinstance(costs, dict) and isinstance(timer_lateness, list)
    firsts, burst_gaps, cold_gaps = bursts
    assert isinstance(sleeps, tuple)
    short_sleeps, long_sleeps = sleeps
    if len(firsts) < TRIALS * ROUNDS // 2 or len(accept_gaps) < QUEUED // 2:
        raise TcpqError("calibrate: too few samples (the probes fell behind); try again on a quieter machine")
    # Medians: a burst's first calls after the program slept are slower, and a preempted
    # call can take milliseconds.
    gap = statistics.median(connect_gaps)
    answered_gap = statistics.median(burst_gaps)
    latencies = wake_components(firsts, answered_gap)
    if waits:
        slice_us = round(statistics.median(waits) * 1e6)
    else:
        slice_us = REFERENCE_HOST.slice_us
        notes.append("slice not measured (no server waited behind a long burst): the reference machine's")
    timing = HostTiming(
        hz=hz,
        connect_gap_us=round(gap * 1e6),
        # The first call of a burst, after the program slept, against the calls after it.
        cold_call_us=round(max(0.0, statistics.median(cold_gaps) - answered_gap) * 1e6),
        # Other packets (data, FIN, RST): a handshake packet's mean cost.
        packet_us=round((costs["syn"] + costs["synack"] + costs["child"]) / 3),
        syn_ns=round(costs["syn"] * 1000),
        synack_ns=round(costs["synack"] * 1000),
        child_ns=round(costs["child"] * 1000),
        drop_ns=round(costs["drop"] * 1000),
        # A connect() whose handshake completes inside it, against one whose SYN is dropped.
        inline_packet_us=round(max(0.0, answered_gap - gap) * 1e6 / 3),
        wakeup_us=_deciles(latencies),
        accept_us=round(statistics.median(accept_gaps) * 1e6),
        behind_client=round(placement_share(placements), 2),
        workers_behind_client=round(workers_placement_share(worker_placements), 2),
        slice_us=slice_us,
        # Not measured here: the reference machine's (docs/scenarios.md, [host]).
        warm_wakeup_us=REFERENCE_HOST.warm_wakeup_us,
        cold_after_us=REFERENCE_HOST.cold_after_us,
        timer_late_us=_deciles(timer_lateness),
        sleep_late_us=_deciles(short_sleeps),
        long_sleep_late_us=_deciles(long_sleeps),
    )
    samples = {
        "wakeup": len(firsts),
        "placement": len(placements),
        "worker_placement": len(worker_placements),
        "slice": len(waits),
        "accept": len(accept_gaps) + 1,
        "connect": len(connect_gaps) + 1,
        "cold": len(cold_gaps),
        "packet": 2 * REPEAT,  # waves of WAVE clients
        "timer": len(timer_lateness),
        "sleep": len(short_sleeps) + len(long_sleeps),
    }
    return Calibration(kernel=release, timing=timing, samples=samples, notes=notes)
