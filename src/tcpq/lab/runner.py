"""Scenario → RunResult on the real kernel: the lab's side of `tcpq compare`."""

import math
import platform
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tcpq.errors import TcpqError
from tcpq.kernel.profiles import profile_for
from tcpq.kernel.versions import parse_version
from tcpq.lab import bpffilter, link, sandbox
from tcpq.lab.attack import LabAttack
from tcpq.lab.bpffilter import KernelWindowFilter
from tcpq.lab.nftfilter import FilterSwitch
from tcpq.lab.sampler import (
    PERIOD_S,
    ListenerSampler,
    Peak,
    accept_queue_peak,
    syn_queue_peak,
)
from tcpq.lab.wire import ClientConfig, ClientGroup, ClientReport, ServerConfig, go_line
from tcpq.model import mib
from tcpq.model.client import Outcome
from tcpq.model.constants import US_PER_S as US
from tcpq.model.listener import inet_csk_listen_start
from tcpq.model.netns import Netns, Settings
from tcpq.observe.netns import resolve_netns
from tcpq.observe.procfs import read_counters
from tcpq.records import frozen
from tcpq.run.arrivals import arrival_times
from tcpq.run.settings import effective_sysctls, requested_sysctls
from tcpq.run.summary import ClientRecord, RunCounters, RunKernel, run_result, sample_interval
from tcpq.scenario import Scenario
from tcpq.types import ListenerSummary, RunResult, Source, TimeSeries

SETTLE_S = 0.5  # after the duration, for the client to report
# T0, the start every lab process counts from, is this far after the runner sends "go T0": room
# for each process to read it (and the sampler and filter threads to start) before the first SYN.
START_MARGIN_S = 0.05
LATE_NOTE_S = 0.01  # client starts this late on average are worth a note
COOKIES_ALWAYS = 2  # net.ipv4.tcp_syncookies = 2: a cookie for every SYN, no request socks (§2.1)
Progress = Callable[[float], None]


def _drop_filter(lab: sandbox.Lab, scenario: Scenario) -> KernelWindowFilter | FilterSwitch | None:
    """[network.filter]: decided in the kernel on the lab's clock where eBPF and tcx allow it
    (bpffilter.py: exact edges), else switched by `nft -i` (nftfilter.py: 1-6 ms late)."""
    if scenario.network.filter is None:
        return None
    if bpffilter.available():
        return KernelWindowFilter(resolve_netns(lab.server.name), scenario)
    return FilterSwitch(lab.server, scenario)


def _unsupported(scenario: Scenario) -> list[str]:
    notes = []  # rtt and loss: the link's own sentences (link.LinkInfo.notes), added by run_lab
    if any(group.sources > 1 for group in scenario.clients):
        notes.append("clients.sources > 1 was NOT reproduced: the lab's clients use one source address")
    return notes


def _accept_mode(scenario: Scenario) -> str:
    server = scenario.server
    accept = server.accept if server.accept is not None else "immediate"
    return "workers" if server.workers is not None else ("rate" if isinstance(accept, float) else accept)


def _server_config(scenario: Scenario, address: str) -> ServerConfig:
    server = scenario.server
    accept = server.accept if server.accept is not None else "immediate"
    mode = _accept_mode(scenario)
    service = server.service_time
    return ServerConfig(
        address=address,
        port=server.port,
        backlog=server.backlog,
        accept=mode,
        rate=accept if isinstance(accept, float) else 0.0,
        workers=server.workers or 0,
        service_s=service.mean_us / US if service else 0.0,
        service_exponential=bool(service and service.distribution.value == "exp"),
        accept_after_s=server.accept_after / US,
        wait_for_go=True,
        request_mode=any(group.request for group in scenario.clients),
        lifetime_s=scenario.duration / US + 30,
        seed=scenario.seed,
        close_delay_s=server.close_delay / US,
    )


def _client_config(scenario: Scenario, address: str, rng: np.random.Generator) -> ClientConfig:
    groups = []
    for group in scenario.clients:
        times = arrival_times(group, scenario.duration, rng)
        groups.append(
            ClientGroup(
                times_s=tuple((times / US).tolist()),
                connect_timeout_s=None if group.connect_timeout is None else group.connect_timeout / US,
                request=group.request,
                request_after_s=group.request_after / US,
                close_after_s=None if group.close_after is None else group.close_after / US,
            )
        )
    return ClientConfig(
        address=address,
        port=scenario.server.port,
        duration_s=scenario.duration / US,
        groups=tuple(groups),
    )


def _apply_sysctls(ns: sandbox.Namespace, values: dict[str, int | tuple[int, int]]) -> None:
    for name, value in values.items():
        ns.sysctl(name, value)


def _delta(after: dict[str, int], before: dict[str, int]) -> Counter[str]:
    """TCP counters that moved (Ip* and the like are left out: the simulator has none)."""
    moved = {
        name: value - before.get(name, 0) for name, value in after.items() if value != before.get(name, 0)
    }
    return Counter({name: delta for name, delta in moved.items() if name.startswith("Tcp")})


def _wait_ready(proc: "subprocess.Popen[bytes]", what: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().decode(errors="replace")
    if "ready" not in line:
        error = proc.stderr.read().decode(errors="replace").strip().splitlines() if proc.stderr else []
        raise TcpqError(
            f"the lab's {what} did not start: {error[-1] if error else line.strip() or 'no output'}"
        )


def run_lab(
    scenario: Scenario,
    *,
    origin: str = "scenario",
    on_progress: Progress | None = None,
    overrides: tuple[str, ...] = (),
) -> RunResult:
    """Run a scenario in throwaway namespaces and measure it like the simulator reports it.

    Every process counts from one start T0 on CLOCK_MONOTONIC (system-wide): the runner picks
    T0 = now + START_MARGIN_S and sends "go T0" to the client generator and the attacker; the
    sampler's grid and the filter's switches count from the same T0, and so do the reported times.
    """
    release = platform.release()
    version = parse_version(release)
    kernel = scenario.kernel
    sysctls = effective_sysctls(kernel, version, origin)
    notes = _unsupported(scenario)
    if kernel.version is not None and parse_version(kernel.version) != version:
        notes.append(f"the scenario names kernel {kernel.version}; the lab ran the real kernel {release}")
    profile = profile_for(version)
    listener_model = inet_csk_listen_start(
        Netns("server", Settings.from_sysctls(sysctls.server, profile), profile),
        scenario.server.port,
        scenario.server.backlog,
    )
    interval = sample_interval(scenario.duration) / US
    duration_s = scenario.duration / US
    with sandbox.lab() as lab:
        requested = requested_sysctls(kernel)  # as the scenario names them; the kernel fills in the rest
        _apply_sysctls(lab.server, requested.server)
        _apply_sysctls(lab.client, requested.client)
        syncookies = int(lab.server.run("sysctl", "-n", "net.ipv4.tcp_syncookies").stdout.split()[0])
        network = link.setup_link(
            lab,
            scenario.network.rtt,
            scenario.network.loss,
            scenario.seed,
            lifetime_s=duration_s + 60,
            offered_per_s=sum(group.rate or 0.0 for group in scenario.clients),
        )
        server = lab.server.python(
            "tcpq.lab.server", _server_config(scenario, lab.server.address).to_json(), stdin=True
        )
        _wait_ready(server, "server")
        rng = np.random.default_rng(scenario.seed)  # clients, then the attack: the simulator's draws
        client_config = _client_config(scenario, lab.server.address, rng)
        attacker = LabAttack.start(lab, scenario, rng) if scenario.attack is not None else None
        # The config goes on stdin: one argument holds at most 128 KiB (~13k arrival times).
        clients = lab.client.python("tcpq.lab.clients", "-", stdin=True)
        assert clients.stdin is not None
        clients.stdin.write(client_config.to_json().encode() + b"\n")
        clients.stdin.flush()
        _wait_ready(clients, "client generator")
        drop_filter = _drop_filter(lab, scenario)
        if drop_filter is not None:
            drop_filter.prepare()  # a rule from 0 is in place before the first SYN
        server_net, client_net = Path(f"/proc/{server.pid}/net"), Path(f"/proc/{clients.pid}/net")
        before_server, before_client = read_counters(server_net), read_counters(client_net)
        sampler = ListenerSampler(
            resolve_netns(lab.server.name), scenario.server.port, interval, client_net=client_net
        )
        t0 = time.monotonic() + START_MARGIN_S
        sampler.start(t0, duration_s)
        if drop_filter is not None:
            drop_filter.start(t0)
        for program in (server, clients):  # accept_after and every arrival count from T0
            assert program.stdin is not None
            program.stdin.write(go_line(t0))
            program.stdin.flush()
        if attacker is not None:
            attacker.go(t0)
        deadline = t0 + duration_s
        try:
            while time.monotonic() < deadline:
                if on_progress is not None:
                    on_progress(min(1.0, max(0.0, time.monotonic() - t0) / duration_s))
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
            assert clients.stdout is not None
            report_line = clients.stdout.readline()
            if attacker is not None:
                attacker.finish()
        finally:
            if drop_filter is not None:
                drop_filter.stop()
            sampler.stop()
        after_server, after_client = read_counters(server_net), read_counters(client_net)
        notes.extend(network.notes())
    if not report_line:
        raise TcpqError("the lab's client generator reported nothing")
    report = ClientReport.from_json(report_line)
    if drop_filter is not None:
        notes.extend(drop_filter.notes())
    notes.extend(_timing_notes(report))
    evidence = PeakEvidence(
        delta=_delta(sampler.end_counters or after_server, before_server),
        syncookies=syncookies,
        only_grows=_accept_mode(scenario) == "never",
    )
    result = _result(
        scenario,
        RunKernel(version, profile, sysctls),
        listener_model.synq_limit,
        sampler,
        report,
        # Counted over the run's duration, as the simulator does: a retransmission wave due at
        # 1.004-1.032 s (the timer wheel) falls after a 1 s run even if teardown takes longer.
        _delta(sampler.end_counters or after_server, before_server),
        _delta(sampler.end_client_counters or after_client, before_client),
        notes,
        (before_server, before_client),
        evidence,
        overrides,
    )
    return attacker.apply(result) if attacker is not None else result


def _timing_notes(report: ClientReport) -> list[str]:
    """What the machine's own timing did to the schedule, when it is worth saying."""
    notes = []
    if report.late_mean_s > LATE_NOTE_S:
        notes.append(
            f"clients: connect() calls started {report.late_mean_s * 1000:.1f} ms late on average "
            f"(max {report.late_max_s * 1000:.0f} ms) after T0 + their arrival times"
        )
    return notes


@frozen
class PeakEvidence:
    """What proves a queue peak: server-namespace counters moved between "go" and T0 + duration."""

    delta: Counter[str]
    syncookies: int  # the server namespace's net.ipv4.tcp_syncookies
    only_grows: bool  # nobody accepts: the accept queue never shrinks

    def peaks(self, sampler: ListenerSampler, accept_limit: int, syn_limit: int) -> tuple[Peak, Peak]:
        delta = self.delta
        accept = accept_queue_peak(
            sampler.accept_peak,  # with only_grows, the last sample (at T0 + duration) is the peak
            accept_limit,
            overflowed=delta.get(mib.LISTEN_OVERFLOWS, 0) > 0,
            only_grows=self.only_grows,
            children=delta.get(mib.PASSIVE_OPENS, 0),
        )
        syn_full = delta.get(mib.REQQ_FULL_DO_COOKIES, 0) + delta.get(mib.REQQ_FULL_DROP, 0) > 0
        syn = syn_queue_peak(
            sampler.syn_peak,
            syn_limit,
            full=syn_full and self.syncookies != COOKIES_ALWAYS,
            cookies_always=self.syncookies == COOKIES_ALWAYS,
        )
        return accept, syn


def _result(
    scenario: Scenario,
    kernel: RunKernel,
    synq_limit: int,
    sampler: ListenerSampler,
    report: ClientReport,
    server_delta: Counter[str],
    client_delta: Counter[str],
    notes: list[str],
    series_before: tuple[dict[str, int], dict[str, int]],  # the server's and the client's counters
    evidence: PeakEvidence,
    overrides: tuple[str, ...],
) -> RunResult:
    outcomes = report.outcomes
    attempted = report.attempted
    connect_us = [round(s * US) for s in report.connect_s]
    response_us = [round(s * US) for s in report.response_s]
    connected_at = report.connected_at_s
    limit = sampler.limit if sampler.limit is not None else -1
    accept_peak, syn_peak = evidence.peaks(sampler, limit, synq_limit)
    ended_at = report.ended_at_s
    duration_s = scenario.duration / US
    series = TimeSeries(t_s=[], accept_queue=[], syn_queue=[], listen_drops=[], handshakes=[])
    previous = {name: series_before[0].get(name, 0) for name in mib.SERIES}
    client_previous = {name: series_before[1].get(name, 0) for name in mib.CLIENT_SERIES}
    for point in sampler.grid:
        series.t_s.append(point.t_s)
        series.accept_queue.append(point.accept_queue)
        series.syn_queue.append(min(point.syn_queue, synq_limit))  # the cookie-child quirk
        added = {name: max(0, point.counters[name] - previous[name]) for name in mib.SERIES}
        series.listen_drops.append(added[mib.LISTEN_DROPS])
        series.cookies_sent.append(added[mib.SYNCOOKIES_SENT])
        series.synack_retrans.append(added[mib.SYN_RETRANS])
        previous = point.counters
        # The generator's loop stops at T0 + duration, but its last poll may end an attempt a few
        # µs after: the report counts it, so the sample at the run's end counts every time.
        until = math.inf if point.t_s >= duration_s - 1e-6 else point.t_s
        series.handshakes.append(sum(1 for t in connected_at if t <= until))
        for outcome, values in (
            ("refused", series.refused),
            ("reset", series.reset),
            ("timed_out", series.timed_out),
        ):
            values.append(sum(1 for t in ended_at.get(outcome, ()) if t <= until))
        if point.client_counters:
            client_added = {
                name: max(0, point.client_counters[name] - client_previous[name])
                for name in mib.CLIENT_SERIES
            }
            series.client_syn_retrans.append(client_added[mib.SYN_RETRANS])
            client_previous = point.client_counters
    late = sampler.end_late_s
    read = "" if late is None else f"; end counters read {late * 1000:.1f} ms after it"
    notes.append(f"sampler: {sampler.samples} listener samples over {scenario.duration / US:g} s{read}")
    for name, peak in (("accept_queue_peak", accept_peak), ("syn_queue_peak", syn_peak)):
        if not peak.exact:
            notes.append(
                f"listener.{name} ≥ {peak.value}: a lower bound (no counter proves the queue full, "
                f"and samples every {PERIOD_S * 1000:g} ms or more can miss a short peak)"
            )
    listener = ListenerSummary(
        port=scenario.server.port,
        backlog=scenario.server.backlog,
        accept_queue_limit=limit,
        accept_queue_peak=accept_peak.value,
        syn_queue_peak=syn_peak.value,
        syn_queue_limit=synq_limit,
        clamped_by_somaxconn=limit != scenario.server.backlog,
        sk_drops=sampler.drops or 0,
        accept_queue_peak_exact=accept_peak.exact,
        syn_queue_peak_exact=syn_peak.exact,
    )
    clients = ClientRecord(
        attempted=attempted,
        ended={Outcome(name): count for name, count in outcomes.items()},  # names checked by wire
        pending=outcomes.get(Outcome.PENDING, 0),
        connect_us=connect_us,
        response_us=response_us,
        cookie_connections=server_delta.get(mib.SYNCOOKIES_RECV, 0),
    )
    counters = RunCounters(server=server_delta, client=client_delta)
    return run_result(Source.LAB, scenario, kernel, listener, clients, counters, series, notes, overrides)
