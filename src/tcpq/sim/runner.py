"""Scenario → RunResult: build the namespaces and the world, feed arrivals, run, summarise."""

import gc
import math
import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from tcpq.errors import TcpqError
from tcpq.kernel.profiles import NEWEST, Profile, profile_for
from tcpq.kernel.resolve import sysctl_defaults
from tcpq.kernel.versions import KernelVersion, parse_version
from tcpq.model import mib
from tcpq.model.client import Outcome
from tcpq.model.constants import US_PER_S
from tcpq.model.listener import inet_csk_listen_start
from tcpq.model.netns import Netns, Settings
from tcpq.model.timing import HostTiming
from tcpq.run.arrivals import arrival_times
from tcpq.run.settings import NamespaceSysctls, effective_sysctls, requested_sysctls
from tcpq.run.summary import ClientRecord, RunCounters, RunKernel, run_result, sample_interval
from tcpq.scenario import ClientGroup, Scenario, expected_attempts
from tcpq.sim.app import (
    AppSetup,
    ImmediateApp,
    RateApp,
    ServerApp,
    ServerHost,
    WorkersApp,
    quantile_sampler,
    sleep_lateness,
)
from tcpq.sim.conn import GroupPlan
from tcpq.sim.engine import Engine
from tcpq.sim.program import ClientProgram, Feeder
from tcpq.sim.world import World
from tcpq.types import ListenerSummary, RunResult, Source, TimeSeries

Progress = Callable[[float], None]

# Memory a run grows by, measured with tracemalloc (peak traced, around simulate()) and ru_maxrss
# (peak RSS growth) on this VM: Python 3.11, numpy 2, kernel profile 6.18. The costliest kind of
# client is request/response with close (TIME_WAIT kept, reply timings kept):
#   python -c 'import sys, tracemalloc; from tcpq.scenario import scenario_from_dict as f;
#     from tcpq.sim.runner import simulate; n = int(sys.argv[1]); tracemalloc.start();
#     simulate(f({"name": "m", "duration": "12s", "kernel": {"version": "6.18"}, "clients":
#     {"rate": f"{n / 10}/s", "request": True, "sources": n // 20000 + 1}}));
#     print(tracemalloc.get_traced_memory()[1])' N
# 24,000 clients: 23.6 MB, 120,000: 115.2 MB (954 B a client); RSS growth at 120,000 and
# 480,000 clients: 121 MB and 467 MB (961 B). Clients that stay connected: 650 B; nobody
# accepts (retransmits, timeouts): 670 B. An attack SYN: 48 B (RSS, 120,000 to 1.2 million).
# The figures are rounded up; BASE_BYTES is the interpreter with tcpq loaded (50 MB RSS).
# Those are clients alive at the end (connected, or in TIME_WAIT for 60 s): what a run keeps of
# a client once it is gone is its history, 8 bytes a value (its arrival time, its connect time
# and, in request mode, its reply time; sim/stats.py). So a run holds the clients that can be
# alive at once, each ~1 KB, plus 8-24 bytes for every attempt.
BYTES_PER_CLIENT = 1024  # alive
HISTORY_BYTES = 8  # per value kept of every attempt
BYTES_PER_ATTACK_SYN = 64
BASE_BYTES = 64 * 1024**2
# How long a closing client stays alive besides its close_after: getting in (by its second SYN
# retransmission at the latest, 3 s: the expected case; clients that retry for longer than
# that hold more) and TIME_WAIT (60 s, TCP_TIMEWAIT_LEN), in which a namespace holds at most
# tcp_max_tw_buckets of them.
CONNECT_WINDOW_US = 3 * US_PER_S
TIME_WAIT_US = 60 * US_PER_S
TW_BUCKETS = "net.ipv4.tcp_max_tw_buckets"
MEMORY_FRACTION = 0.5  # of MemAvailable: leave the rest to the host (and its lab experiments)
MEMORY_CAP = 4 * 1024**3  # without --max-memory, a run this big must be asked for by name
_SIZE = re.compile(r"(?i)\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def choose_version(scenario: Scenario, running_release: str | None) -> KernelVersion:
    """The scenario's kernel.version, else the running kernel's, else the newest profile."""
    if scenario.kernel.version is not None:
        return parse_version(scenario.kernel.version)
    if running_release:
        return parse_version(running_release)
    return NEWEST.since


@dataclass(frozen=True)
class MemoryLimit:
    """How much a run may use, and where that figure came from (said in the refusal)."""

    bytes: int
    reason: str


def _size(value: float) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value / 1024:.1f} KiB"


def parse_size(text: str) -> int:
    """'512M', '4G', '1.5GiB', '100000' (bytes) → bytes; powers of 1024."""
    match = _SIZE.fullmatch(text)
    if match is None or float(match.group(1)) <= 0:
        raise TcpqError(f"--max-memory {text!r}: give a size such as 512M or 8G")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def memory_limit(max_memory: str | None, available: int | None) -> MemoryLimit:
    """`--max-memory` if given; else the smaller of a fraction of MemAvailable (the caller reads
    it: observe/procfs.read_mem_available) and a fixed cap."""
    if max_memory is not None:
        return MemoryLimit(parse_size(max_memory), f"--max-memory {max_memory}")
    cap = MemoryLimit(MEMORY_CAP, "tcpq's cap without --max-memory")
    if available is None:
        return cap
    share = int(available * MEMORY_FRACTION)
    if share >= cap.bytes:
        return cap
    return MemoryLimit(share, f"half of MemAvailable, {_size(available)}")


def _alive_at_once(group: ClientGroup, duration: int, tw_limit: int) -> float:
    """The most clients of a group alive at one time, expected: every client of a burst; of a
    rate, those that arrive within one client's life, at most `tw_limit` of them in TIME_WAIT.
    A client that never closes lives on."""
    attempts = expected_attempts(group, duration)
    if group.close_after is None or group.rate is None:
        return attempts
    connected = group.rate * (group.request_after + group.close_after + CONNECT_WINDOW_US) / US_PER_S
    waiting = min(group.rate * TIME_WAIT_US / US_PER_S, tw_limit)
    return min(attempts, connected + waiting)


def _tw_limit(scenario: Scenario) -> int:
    """TIME_WAIT entries both namespaces can hold: tcp_max_tw_buckets of each, as the scenario
    sets it or at its default (the scenario's kernel, else the newest profile's)."""
    version = choose_version(scenario, None)
    default = sysctl_defaults(version).get(TW_BUCKETS, 0)
    asked = requested_sysctls(scenario.kernel)
    limits = (asked.server.get(TW_BUCKETS, default), asked.client.get(TW_BUCKETS, default))
    return sum(limit if isinstance(limit, int) else limit[0] for limit in limits)


def alive_at_once(scenario: Scenario) -> float:
    """Clients the run is expected to hold alive at one time (what its memory is mostly)."""
    tw_limit = _tw_limit(scenario)
    return sum(_alive_at_once(group, scenario.duration, tw_limit) for group in scenario.clients)


def estimate_memory(scenario: Scenario) -> int:
    """Bytes the simulator will grow by, from the offered attempts (no arrival is drawn): the
    clients alive at once, and the history of every attempt."""
    duration = scenario.duration
    alive = alive_at_once(scenario)
    history = sum(
        expected_attempts(group, duration) * (3 if group.request else 2) for group in scenario.clients
    )
    syns = expected_attempts(scenario.attack, duration) if scenario.attack is not None else 0
    return BASE_BYTES + math.ceil(
        alive * BYTES_PER_CLIENT + history * HISTORY_BYTES + syns * BYTES_PER_ATTACK_SYN
    )


def check_memory(scenario: Scenario, limit: MemoryLimit, origin: str = "scenario") -> None:
    """Refuse, before allocating anything, a run whose estimate exceeds `limit`."""
    estimate = estimate_memory(scenario)
    if estimate <= limit.bytes:
        return
    alive = alive_at_once(scenario)
    gib = estimate / 1024**3
    ask = f"{math.ceil(gib)}G" if gib >= 1 else f"{math.ceil(estimate / 1024**2)}M"
    raise TcpqError(
        f"{origin}: the run needs about {_size(estimate)} ({alive:,.0f} clients alive at once at"
        f" about {_size(BYTES_PER_CLIENT)} each); the limit is {_size(limit.bytes)} ({limit.reason}):"
        f" shorten the scenario, or allow it with --max-memory {ask}"
    )


@dataclass
class _Namespaces:
    server: Netns
    client: Netns
    sysctls: NamespaceSysctls


def _namespaces(scenario: Scenario, version: KernelVersion, profile: Profile, origin: str) -> _Namespaces:
    sysctls = effective_sysctls(scenario.kernel, version, origin)
    return _Namespaces(
        server=Netns("server", Settings.from_sysctls(sysctls.server, profile), profile),
        client=Netns("client", Settings.from_sysctls(sysctls.client, profile), profile),
        sysctls=sysctls,
    )


def _make_app(
    scenario: Scenario,
    engine: Engine,
    host: ServerHost,
    timing: HostTiming,
    rng: random.Random,
    sleep_rng: random.Random,
) -> ServerApp:
    server = scenario.server
    request_mode = any(group.request for group in scenario.clients)
    late = sleep_lateness(timing, sleep_rng)
    setup = AppSetup(engine, host, server.accept_after, request_mode, timing, rng, late)
    if server.workers is not None and server.service_time is not None:
        return WorkersApp(setup, server.workers, server.service_time)
    accept = server.accept if server.accept is not None else "immediate"
    if accept == "never":
        return ServerApp(setup)
    if accept == "immediate":
        return ImmediateApp(setup)
    assert isinstance(accept, float)
    return RateApp(setup, accept)


class _Sampler:
    def __init__(self, engine: Engine, world: World, interval: int, until: int) -> None:
        self.engine = engine
        self.world = world
        self.interval = interval
        self.until = until
        self.series = TimeSeries(t_s=[], accept_queue=[], syn_queue=[], listen_drops=[], handshakes=[])
        self.last = {name: 0 for name in mib.SERIES}
        self.client_last = {name: 0 for name in mib.CLIENT_SERIES}
        engine.at(interval, self._sample)

    def _sample(self, _: object) -> None:
        now = self.engine.now
        world = self.world
        added = {name: world.server_ns.counters[name] - self.last[name] for name in mib.SERIES}
        self.last = {name: world.server_ns.counters[name] for name in mib.SERIES}
        client = world.client_ns.counters
        client_added = {name: client[name] - self.client_last[name] for name in mib.CLIENT_SERIES}
        self.client_last = {name: client[name] for name in mib.CLIENT_SERIES}
        series = self.series
        series.t_s.append(round(now / US_PER_S, 6))
        series.accept_queue.append(world.listener.acceptq_len)
        series.syn_queue.append(world.listener.qlen)
        series.listen_drops.append(added[mib.LISTEN_DROPS])
        series.cookies_sent.append(added[mib.SYNCOOKIES_SENT])
        series.synack_retrans.append(added[mib.SYN_RETRANS])
        series.handshakes.append(len(world.stats.connect_times))
        series.client_syn_retrans.append(client_added[mib.SYN_RETRANS])
        outcomes = world.stats.outcomes  # refused, reset and timed out are final: these only grow
        series.refused.append(outcomes[Outcome.REFUSED])
        series.reset.append(outcomes[Outcome.RESET])
        series.timed_out.append(outcomes[Outcome.TIMED_OUT])
        if now + self.interval <= self.until:
            self.engine.at(now + self.interval, self._sample)


def host_note(timing: HostTiming) -> str:
    """One line saying which host speed the model assumed (scenario [host])."""
    if timing.ideal:
        return "host: ideal (no timer tick, no processing time)"
    wake = timing.wakeup_us
    wake_text = f"{wake[0]} µs" if len(wake) == 1 else f"{min(wake)}–{max(wake)} µs"
    cold = f" (the first of a burst +{timing.cold_call_us} µs)" if timing.cold_call_us else ""
    return (
        f"host: HZ {timing.hz}, connect() every {timing.connect_gap_us} µs{cold}, {timing.packet_us} µs"
        f" a packet, wake-up {wake_text}, accept() {timing.accept_us} µs"
    )


def simulate(
    scenario: Scenario,
    *,
    running_release: str | None = None,
    origin: str = "scenario",
    on_progress: Progress | None = None,
    draw_seed: int | None = None,
    overrides: tuple[str, ...] = (),
    memory: MemoryLimit | None = None,
) -> RunResult:
    """Run one scenario through the model; deterministic for a given scenario and seed.

    `draw_seed` reseeds only the draws the lab cannot replay (service times, loss); arrivals
    still come from the scenario's seed. `tcpq compare` uses it to measure their variance.
    `overrides` (the `--set` texts) are recorded in the result; with `memory`, a run estimated
    to need more is refused before anything is drawn.
    """
    if memory is not None:
        check_memory(scenario, memory, origin)
    version = choose_version(scenario, running_release)
    profile = profile_for(version)
    spaces = _namespaces(scenario, version, profile, origin)
    engine = Engine()
    timing = scenario.host.timing()
    rng = random.Random(scenario.seed if draw_seed is None else f"{scenario.seed}:{draw_seed}")
    np_rng = np.random.default_rng(scenario.seed)
    listener = inet_csk_listen_start(spaces.server, scenario.server.port, scenario.server.backlog)
    world = World(
        engine,
        spaces.server,
        spaces.client,
        listener,
        network=scenario.network,
        rng=rng,
        host=timing,
    )
    # Streams of their own, so that scenarios without workers (without a connect timeout)
    # draw as before.
    draws = "" if draw_seed is None else f":{draw_seed}"
    sleep_rng = random.Random(f"{scenario.seed}:sleeps{draws}")
    world.server.app = _make_app(scenario, engine, world.server, timing, rng, sleep_rng)
    timer_rng = random.Random(f"{scenario.seed}:timers{draws}")
    world.client.timer_late = quantile_sampler(timing.timer_late_us, timer_rng)
    world.server.close_delay = scenario.server.close_delay
    program = ClientProgram(world, timing)
    attempted = 0
    for group in scenario.clients:
        times = arrival_times(group, scenario.duration, np_rng)
        attempted += len(times)
        plan = GroupPlan(
            request=group.request,
            request_after=group.request_after,
            close_after=group.close_after,
            connect_timeout=group.connect_timeout,
        )
        Feeder(engine, times, program.starter(plan, group.sources))
    attack_times = (
        arrival_times(scenario.attack, scenario.duration, np_rng)
        if scenario.attack is not None
        else np.zeros(0)
    )
    Feeder(engine, attack_times, lambda _index: world.server.attack_syn(None))
    sampler = _Sampler(engine, world, sample_interval(scenario.duration), scenario.duration)
    duration = scenario.duration
    progress = (lambda t: on_progress(t / duration)) if on_progress is not None else None
    with _rare_collections():
        engine.run(duration, progress, every=max(1, duration // 200))
    return run_result(
        Source.SIM,
        scenario,
        RunKernel(version, profile, spaces.sysctls),
        _listener(scenario, world),
        _clients(world, attempted),
        RunCounters(server=spaces.server.counters, client=spaces.client.counters),
        sampler.series,
        _notes(scenario, world),
        overrides,
        attack_syns=len(attack_times),
    )


# A run allocates a few small objects per event (the event, a packet, a timer) and keeps its
# connections to the end. CPython's collector looks for cycles every 700 allocations, walking
# the young objects and, every tenth time, the older ones: ~15 % of a heavy run's CPU (perf:
# gc_collect_main, visit_decref, visit_reachable), finding almost nothing, since the model's
# objects are freed by their reference counts. During a run it looks every million allocations
# (heavy.toml at 20 s: 9.3-11.5 s -> 7.1-7.8 s; docs/benchmarks.md). Nothing else changes: no
# result depends on when a cycle is collected.
RUN_YOUNG_THRESHOLD = 1_000_000


@contextmanager
def _rare_collections() -> Iterator[None]:
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, RUN_YOUNG_THRESHOLD), middle, old)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, old)


def _listener(scenario: Scenario, world: World) -> ListenerSummary:
    listener = world.listener
    return ListenerSummary(
        port=listener.port,
        backlog=scenario.server.backlog,
        accept_queue_limit=listener.backlog,
        accept_queue_peak=world.stats.accept_peak,
        syn_queue_peak=world.stats.syn_peak,
        syn_queue_limit=listener.synq_limit,
        clamped_by_somaxconn=listener.backlog != scenario.server.backlog,
        sk_drops=listener.sk_drops,
    )


def _clients(world: World, attempted: int) -> ClientRecord:
    """Each client's latest outcome; those with none yet were still trying when the run ended."""
    stats = world.stats
    outcomes = stats.outcomes
    return ClientRecord(
        attempted=attempted,
        ended=outcomes,
        pending=attempted - sum(outcomes.values()),
        connect_us=stats.connect_times,
        response_us=stats.response_times,
        cookie_connections=stats.cookie_connections,
    )


def _notes(scenario: Scenario, world: World) -> list[str]:
    listener = world.listener
    notes: list[str] = []
    if listener.backlog != scenario.server.backlog:
        notes.append(
            f"listen({scenario.server.backlog}) was clamped to net.core.somaxconn = {listener.backlog}"
        )
    if listener.flood_warning:
        notes.append(f"kernel log: {listener.flood_warning}")
    notes.append(host_note(scenario.host.timing()))
    return notes
