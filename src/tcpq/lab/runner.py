"""Scenario → RunResult on the real kernel: the lab's side of `tcpq compare`."""

import json
import platform
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tcpq.errors import TcpqError
from tcpq.kernel.profiles import profile_for
from tcpq.kernel.resolve import resolve_sysctls
from tcpq.kernel.versions import format_version, parse_version
from tcpq.lab import link, sandbox
from tcpq.lab.attack import LabAttack
from tcpq.lab.sampler import ListenerSampler
from tcpq.model import mib
from tcpq.model.listener import inet_csk_listen_start
from tcpq.model.netns import Netns, Settings
from tcpq.observe.netns import resolve_netns
from tcpq.observe.procfs import read_counters
from tcpq.scenario import Scenario
from tcpq.sim.arrivals import arrival_times
from tcpq.sim.runner import percentiles, sample_interval
from tcpq.types import ClientSummary, KernelInfo, ListenerSummary, RunResult, Source, TimeSeries

US = 1_000_000
SETTLE_S = 0.5  # after the duration, for the client to report
Progress = Callable[[float], None]


def _unsupported(scenario: Scenario) -> list[str]:
    notes = []  # rtt and loss: the link's own sentences (link.LinkInfo.notes), added by run_lab
    if any(group.sources > 1 for group in scenario.clients):
        notes.append("clients.sources > 1 was NOT reproduced: the lab's clients use one source address")
    return notes


def _server_config(scenario: Scenario, address: str) -> dict[str, object]:
    server = scenario.server
    accept = server.accept if server.accept is not None else "immediate"
    mode = "workers" if server.workers is not None else ("rate" if isinstance(accept, float) else accept)
    service = server.service_time
    return {
        "address": address,
        "port": server.port,
        "backlog": server.backlog,
        "accept": mode,
        "rate": accept if isinstance(accept, float) else 0.0,
        "workers": server.workers or 0,
        "service_s": service.mean_us / US if service else 0.0,
        "service_exponential": bool(service and service.distribution.value == "exp"),
        "accept_after_s": server.accept_after / US,
        "request_mode": any(group.request for group in scenario.clients),
        "lifetime_s": scenario.duration / US + 30,
        "seed": scenario.seed,
        "close_delay_s": server.close_delay / US,
    }


def _client_config(scenario: Scenario, address: str, rng: np.random.Generator) -> dict[str, object]:
    groups = []
    for group in scenario.clients:
        times = arrival_times(group, scenario.duration, rng)
        groups.append(
            {
                "times_s": (times / US).tolist(),
                "connect_timeout_s": None if group.connect_timeout is None else group.connect_timeout / US,
                "request": group.request,
                "request_after_s": group.request_after / US,
                "close_after_s": None if group.close_after is None else group.close_after / US,
            }
        )
    return {
        "address": address,
        "port": scenario.server.port,
        "duration_s": scenario.duration / US,
        "groups": groups,
    }


def _apply_sysctls(ns: sandbox.Namespace, values: dict[str, int | tuple[int, int]]) -> None:
    for name, value in values.items():
        ns.sysctl(name, value)


def _filter_match(scenario: Scenario) -> list[str]:
    """The nft match for [network.filter], as in kernel-model §16's experiments."""
    rule = scenario.network.filter
    assert rule is not None
    port = ["tcp", "dport", str(scenario.server.port)]
    if rule.drop == "non_syn":
        return [*port, "tcp", "flags", "&", "syn", "==", "0"]
    # A bare ACK: no SYN, FIN or RST and no payload (20 B IP + at most 32 B TCP with timestamps).
    return [*port, "tcp", "flags", "&", "(syn|fin|rst)", "==", "0", "ip", "length", "<=", "52"]


def _filter_on(lab: sandbox.Lab, scenario: Scenario) -> None:
    lab.server.run("nft", "add", "table", "inet", "tcpqlab")
    lab.server.run("nft", "add", "chain", "inet", "tcpqlab", "in", "{ type filter hook input priority 0; }")
    lab.server.run("nft", "add", "rule", "inet", "tcpqlab", "in", *_filter_match(scenario), "drop")


def _filter_times(lab: sandbox.Lab, scenario: Scenario, t0: float, stop: threading.Event) -> None:
    """Switch the [network.filter] rule on and off at its times, inside the server namespace only."""
    rule = scenario.network.filter
    assert rule is not None
    if rule.from_ > 0:
        if stop.wait(max(0.0, t0 + rule.from_ / US - time.monotonic())):
            return
        _filter_on(lab, scenario)
    if rule.until is not None and not stop.wait(max(0.0, t0 + rule.until / US - time.monotonic())):
        lab.server.run("nft", "delete", "table", "inet", "tcpqlab")


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
    scenario: Scenario, *, origin: str = "scenario", on_progress: Progress | None = None
) -> RunResult:
    """Run a scenario in throwaway namespaces and measure it like the simulator reports it."""
    release = platform.release()
    version = parse_version(release)
    kernel = scenario.kernel
    server_values = resolve_sysctls(version, {**kernel.sysctl, **kernel.server_sysctl}, origin)
    client_values = resolve_sysctls(version, {**kernel.sysctl, **kernel.client_sysctl}, origin)
    notes = _unsupported(scenario)
    if kernel.version is not None and parse_version(kernel.version) != version:
        notes.append(f"the scenario names kernel {kernel.version}; the lab ran the real kernel {release}")
    profile = profile_for(version)
    listener_model = inet_csk_listen_start(
        Netns("server", Settings.from_sysctls(server_values, profile), profile),
        scenario.server.port,
        scenario.server.backlog,
    )
    interval = sample_interval(scenario.duration) / US
    with sandbox.lab() as lab:
        _apply_sysctls(lab.server, {**kernel.sysctl, **kernel.server_sysctl})
        _apply_sysctls(lab.client, {**kernel.sysctl, **kernel.client_sysctl})
        network = link.setup_link(
            lab,
            scenario.network.rtt,
            scenario.network.loss,
            scenario.seed,
            lifetime_s=scenario.duration / US + 60,
            offered_per_s=sum(group.rate or 0.0 for group in scenario.clients),
        )
        server = lab.server.python(
            "tcpq.lab.server", json.dumps(_server_config(scenario, lab.server.address))
        )
        _wait_ready(server, "server")
        rng = np.random.default_rng(scenario.seed)  # clients, then the attack: the simulator's draws
        client_config = _client_config(scenario, lab.server.address, rng)
        attacker = LabAttack.start(lab, scenario, rng) if scenario.attack is not None else None
        # The config goes on stdin: one argument holds at most 128 KiB (~13k arrival times).
        clients = lab.client.python("tcpq.lab.clients", "-", stdin=True)
        assert clients.stdin is not None
        clients.stdin.write(json.dumps(client_config).encode() + b"\n")
        clients.stdin.flush()
        _wait_ready(clients, "client generator")
        server_net, client_net = Path(f"/proc/{server.pid}/net"), Path(f"/proc/{clients.pid}/net")
        before_server, before_client = read_counters(server_net), read_counters(client_net)
        if scenario.network.filter is not None and scenario.network.filter.from_ == 0:
            _filter_on(lab, scenario)  # in place before the first SYN
        sampler = ListenerSampler(resolve_netns(lab.server.name), scenario.server.port, interval)
        stop = threading.Event()
        t0 = time.monotonic()
        sampler.start(t0)
        if scenario.network.filter is not None:
            threading.Thread(target=_filter_times, args=(lab, scenario, t0, stop), daemon=True).start()
        assert clients.stdin is not None
        clients.stdin.write(b"go\n")
        clients.stdin.flush()
        if attacker is not None:
            attacker.go()
        deadline = t0 + scenario.duration / US
        try:
            while time.monotonic() < deadline:
                if on_progress is not None:
                    on_progress(min(1.0, (time.monotonic() - t0) / (deadline - t0)))
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
            assert clients.stdout is not None
            report_line = clients.stdout.readline()
            if attacker is not None:
                attacker.finish()
        finally:
            stop.set()
            sampler.stop()
        after_server, after_client = read_counters(server_net), read_counters(client_net)
        notes.extend(network.notes())
    if not report_line:
        raise TcpqError("the lab's client generator reported nothing")
    report = json.loads(report_line)
    result = _result(
        scenario,
        release,
        profile.name,
        profile.summary,
        server_values,
        client_values,
        listener_model.synq_limit,
        sampler,
        report,
        _delta(after_server, before_server),
        _delta(after_client, before_client),
        notes,
        before_server.get("TcpExtListenDrops", 0),
    )
    return attacker.apply(result) if attacker is not None else result


def _result(
    scenario: Scenario,
    release: str,
    profile_name: str,
    profile_summary: str,
    server_values: dict[str, int | tuple[int, int]],
    client_values: dict[str, int | tuple[int, int]],
    synq_limit: int,
    sampler: ListenerSampler,
    report: dict[str, object],
    server_delta: Counter[str],
    client_delta: Counter[str],
    notes: list[str],
    drops_before: int,
) -> RunResult:
    outcomes = report["outcomes"]
    assert isinstance(outcomes, dict)
    attempted = int(str(report["attempted"]))
    connect_us = [round(float(s) * US) for s in report["connect_s"]]  # type: ignore[attr-defined]
    response_us = [round(float(s) * US) for s in report["response_s"]]  # type: ignore[attr-defined]
    connected_at = list(report["connected_at_s"])  # type: ignore[call-overload]
    request_mode = any(group.request for group in scenario.clients)
    limit = sampler.limit if sampler.limit is not None else -1
    series = TimeSeries(t_s=[], accept_queue=[], syn_queue=[], listen_drops=[], handshakes=[])
    previous_drops = drops_before
    for point in sampler.grid:
        series.t_s.append(point.t_s)
        series.accept_queue.append(point.accept_queue)
        series.syn_queue.append(point.syn_queue)
        series.listen_drops.append(
            point.listen_drops - previous_drops if series.listen_drops or previous_drops else 0
        )
        previous_drops = point.listen_drops
        series.handshakes.append(sum(1 for t in connected_at if t <= point.t_s))
    notes.append(f"sampler: {sampler.samples} listener samples over {scenario.duration / US:g} s")
    return RunResult(
        source=Source.LAB,
        scenario=scenario.name,
        kernel=KernelInfo(
            version=format_version(parse_version(release)),
            profile=profile_name,
            profile_summary=profile_summary,
            sysctl=server_values,
            client_sysctl=client_values,
        ),
        listener=ListenerSummary(
            port=scenario.server.port,
            backlog=scenario.server.backlog,
            accept_queue_limit=limit,
            accept_queue_peak=sampler.accept_peak,
            syn_queue_peak=sampler.syn_peak,
            syn_queue_limit=synq_limit,
            clamped_by_somaxconn=limit != scenario.server.backlog,
            sk_drops=sampler.drops or 0,
        ),
        clients=ClientSummary(
            attempted=attempted,
            connected=int(outcomes.get("connected", 0)),
            refused=int(outcomes.get("refused", 0)),
            reset=int(outcomes.get("reset", 0)),
            timed_out=int(outcomes.get("timed_out", 0)),
            no_port=int(outcomes.get("no_port", 0)),
            pending=int(outcomes.get("pending", 0)),
            connect_time_s=percentiles(connect_us),
            response_time_s=percentiles(response_us) if request_mode else None,
            cookie_connections=server_delta.get(mib.SYNCOOKIES_RECV, 0),
        ),
        counters=mib.reported(server_delta),
        client_counters=mib.reported(client_delta),
        timeseries=series,
        duration_s=scenario.duration / US,
        notes=notes,
    )
