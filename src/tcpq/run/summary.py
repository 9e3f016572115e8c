"""A run summarised as a RunResult, one way for the simulator and the lab: the sample grid, the
client times as percentiles and histograms, the reported counters, and what the run was told
(seed, overrides) with the sysctls that differ from the kernel's defaults. Each face measures
its own way; from here on a RunResult of either is built alike, so `tcpq compare` diffs them."""

from collections.abc import Mapping, Sequence

import numpy as np

from tcpq.histogram import histogram
from tcpq.kernel.profiles import Profile
from tcpq.kernel.versions import KernelVersion, format_version
from tcpq.model import mib
from tcpq.model.client import Outcome
from tcpq.model.constants import US_PER_S
from tcpq.records import frozen
from tcpq.run.settings import NamespaceSysctls, differences
from tcpq.scenario import Scenario
from tcpq.types import (
    ClientSummary,
    KernelInfo,
    ListenerSummary,
    Percentiles,
    RunResult,
    Source,
    TimeSeries,
)

MAX_SAMPLES = 40  # rows of the terminal picture; JSON carries the same samples
_ROUND_STEPS_US = (100_000, 250_000, 500_000, *(n * US_PER_S for n in (1, 5, 10, 30, 60)))


def sample_interval(duration_us: int) -> int:
    """A round interval giving at most MAX_SAMPLES points (100 ms, 1 s, 5 s ...)."""
    for step in _ROUND_STEPS_US:
        if duration_us / step <= MAX_SAMPLES:
            return step
    return -(-duration_us // MAX_SAMPLES)


def percentiles(samples_us: Sequence[int]) -> Percentiles:
    if not len(samples_us):
        return Percentiles(None, None, None, None)
    # In µs, as integers: no float copy of a run's millions of samples (the simulator's array
    # is read in place). inverted_cdf: every percentile is a time some client really saw (no
    # interpolation), so it is a sample, and a sample in seconds is the same either way.
    values = np.asarray(samples_us, dtype=np.int64)
    picked = np.percentile(values, [50, 90, 99], method="inverted_cdf")
    p50, p90, p99 = (int(value) / US_PER_S for value in picked)
    return Percentiles(round(p50, 6), round(p90, 6), round(p99, 6), round(int(values.max()) / US_PER_S, 6))


@frozen
class RunKernel:
    """The kernel a run used: the model's version and profile, or the running kernel's."""

    version: KernelVersion
    profile: Profile
    sysctls: NamespaceSysctls  # effective, per namespace (run/settings.py)


@frozen
class ClientRecord:
    """What the run's clients did, however it was counted (the simulated connections, the lab
    generator's report): how each attempt ended, and the times in µs before any summary."""

    attempted: int
    ended: Mapping[Outcome, int]  # attempts by final outcome; one never seen counts 0
    pending: int  # still trying when the run stopped
    connect_us: Sequence[int]  # a list (the lab) or an array of int64 (the simulator)
    response_us: Sequence[int]
    cookie_connections: int


def client_summary(record: ClientRecord, request_mode: bool) -> ClientSummary:
    """The clients' outcome counts and time distributions; reply times only in request mode."""
    ended = record.ended
    return ClientSummary(
        attempted=record.attempted,
        connected=ended.get(Outcome.CONNECTED, 0),
        refused=ended.get(Outcome.REFUSED, 0),
        reset=ended.get(Outcome.RESET, 0),
        timed_out=ended.get(Outcome.TIMED_OUT, 0),
        no_port=ended.get(Outcome.NO_PORT, 0),
        pending=record.pending,
        connect_time_s=percentiles(record.connect_us),
        response_time_s=percentiles(record.response_us) if request_mode else None,
        connect_time_hist=histogram(record.connect_us),
        response_time_hist=histogram(record.response_us) if request_mode else None,
        cookie_connections=record.cookie_connections,
    )


@frozen
class RunCounters:
    """The nstat counters each namespace added over the run's duration."""

    server: mib.Counters
    client: mib.Counters


def run_result(
    source: Source,
    scenario: Scenario,
    kernel: RunKernel,
    listener: ListenerSummary,
    clients: ClientRecord,
    counters: RunCounters,
    timeseries: TimeSeries,
    notes: list[str],
    overrides: tuple[str, ...] = (),
    attack_syns: int = 0,
) -> RunResult:
    """The RunResult of one run of `scenario`; `overrides` are the `--set` texts as given."""
    request_mode = any(group.request for group in scenario.clients)
    differ = differences(kernel.sysctls, kernel.version)
    return RunResult(
        source=source,
        scenario=scenario.name,
        kernel=KernelInfo(
            version=format_version(kernel.version),
            profile=kernel.profile.name,
            profile_summary=kernel.profile.summary,
            sysctl=kernel.sysctls.server,
            client_sysctl=kernel.sysctls.client,
        ),
        listener=listener,
        clients=client_summary(clients, request_mode),
        counters=mib.reported(counters.server),
        client_counters=mib.reported(counters.client),
        timeseries=timeseries,
        duration_s=scenario.duration / US_PER_S,
        notes=notes,
        attack_syns=attack_syns,
        seed=scenario.seed,
        overrides=list(overrides),
        sysctl_defaults=differ.defaults,
        sysctl_differs=differ.server,
        client_sysctl_differs=differ.client,
    )
