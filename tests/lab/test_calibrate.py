"""`tcpq lab calibrate`'s wave probe (root; CI is root) and the arithmetic that reads it.

The model's softirq drain (sim/link.py, kernel-model §14.2) rests on two facts measured here on
the running kernel: a timer-driven wave of retransmitted SYNs is drained in order (every SYN of
the wave, then every SYN-ACK, then every final ACK), and a final ACK that a full accept queue
drops costs less than one that creates a child.
"""

import os
import statistics

import pytest

from tcpq.errors import TcpqError
from tcpq.lab import calibrate, placement, sandbox
from tcpq.lab.wave import SplitWave, Wave
from tcpq.model.timing import LONG_SLEEP_US

from .helpers import processes

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (CI runs as root)")

SYN, ACK = 0x02, 0x10


def synthetic_wave(
    syn_us: float, synack_us: float, ack_us: list[float], start: float = 1.0
) -> list[tuple[float, int]]:
    """Packets as the tap would see a FIFO drain: n SYNs, n SYN-ACKs (not seen), n ACKs."""
    n = len(ack_us)
    packets = [(0.05 + k * 1e-5, SYN) for k in range(n)]  # the first, dropped burst
    t = start
    for _ in range(n):
        packets.append((t, SYN))
        t += syn_us * 1e-6
    t += n * synack_us * 1e-6  # after the last SYN's own time, the n SYN-ACKs
    for cost in ack_us:
        packets.append((t, ACK))
        t += cost * 1e-6
    return packets


def test_wave_arithmetic_recovers_each_kind_of_cost() -> None:
    packets = synthetic_wave(3.0, 2.0, [4.0] * 9 + [1.5] * 191)
    wave = Wave.after(packets, 0.5, 100)
    assert len(wave.syns) == 200 and len(wave.acks) == 200
    assert wave.syn_us() == pytest.approx(3.0, rel=1e-3)
    # the gap before the first ACK holds the last SYN's own time and every SYN-ACK
    assert wave.synack_us() == pytest.approx(2.0, rel=1e-3)
    assert wave.ack_us(first=9, first_us=4.0) == pytest.approx(1.5, rel=1e-3)
    assert wave.ack_us() > 1.5  # without the children taken out, the drop cost reads high


def test_a_wave_the_tap_did_not_see_is_an_error() -> None:
    with pytest.raises(TcpqError, match="no retransmitted SYNs"):
        Wave.after([(0.1, SYN)] * 300, 0.5, 100)


def test_a_wave_split_by_a_timer_bucket_edge_is_refused() -> None:
    packets = synthetic_wave(3.0, 2.0, [4.0] * 200)
    # the last 30 clients' timers fell into the next 32 ms bucket
    later = [
        (t + 0.032, flags) if flags == SYN and t > 0.5 and k >= 370 else (t, flags)
        for k, (t, flags) in enumerate(packets)
    ]
    with pytest.raises(SplitWave, match=r"two parts \(170 SYNs, then more 32 ms later"):
        Wave.after(later, 0.5, 100)
    assert len(Wave.after(packets, 0.5, 100).syns) == 200  # the same wave in one bucket


@root_only
def test_kernel_drains_a_wave_in_order_and_drops_cost_less_than_children() -> None:
    pid = os.getpid()
    names = (f"tcpq-test-{pid}-wvs", f"tcpq-test-{pid}-wvc", f"tqw{pid}s"[:15], f"tqw{pid}c"[:15])
    with sandbox.lab(names) as lab:
        grown = calibrate._wave(lab, 5300, backlog=0, switch="relisten", new_backlog=4096)
        full = calibrate._wave(lab, 5301, backlog=8, switch="drain")
        # The costs as calibrate takes them, the median of REPEAT waves each: one wave's mean
        # grows by a pause of the vCPU inside it (a CI run measured a drop wave at 14.5 µs a
        # packet, against 1-2 µs in every other run).
        costs = calibrate.measure_packet_costs(lab)
        probes = [proc.pid for ns in lab.namespaces for proc in ns.processes]
    for wave in (grown, full):
        # every SYN of the wave is processed before the first final ACK arrives
        assert wave.acks[0] > wave.syns[-1]
        assert len(wave.syns) >= calibrate.WAVE * 0.9
    # the grown listener answered the whole wave: one final ACK per SYN, each a child
    assert len(grown.acks) == len(grown.syns)
    assert 0.2 < costs["drop"] < costs["child"] < 50, costs
    assert 0.2 < costs["syn"] < 50 and 0.2 < costs["synack"] < 50, costs
    assert not set(names[:2]) & set(sandbox.ip("netns", "list").stdout.split())
    assert not set(probes) & set(processes(lambda cmdline: b"tcpq.lab." in cmdline))


@root_only
def test_the_client_programs_timeouts_fire_late_never_early() -> None:
    """The timer probe: every connect whose SYN is dropped is given up by its own timeout,
    never before it is due (epoll_wait()'s millisecond timeout is rounded up), and most within
    a few milliseconds (a loop that kept missing its timers would read tens)."""
    pid = os.getpid()
    names = (f"tcpq-test-{pid}-tms", f"tcpq-test-{pid}-tmc", f"tqt{pid}s"[:15], f"tqt{pid}c"[:15])
    with sandbox.lab(names) as lab:
        lateness = calibrate.measure_timer_lateness(lab)
    assert len(lateness) == calibrate.TIMER_PROBES
    assert min(lateness) >= 0
    assert sorted(lateness)[len(lateness) // 2] < 0.005
    assert not set(names[:2]) & set(sandbox.ip("netns", "list").stdout.split())


@root_only
def test_the_first_connect_of_a_burst_is_slower_than_the_calls_after_it() -> None:
    """The burst probe: after the generator slept between bursts, the first gap of each burst
    (its first call) is several times the median gap (measured: 100-350 µs against 12-27 µs),
    which the model's `cold_call` stands for; every burst gives one such gap."""
    pid = os.getpid()
    names = (f"tcpq-test-{pid}-cbs", f"tcpq-test-{pid}-cbc", f"tqb{pid}s"[:15], f"tqb{pid}c"[:15])
    with sandbox.lab(names) as lab:
        _, gaps, cold_gaps = calibrate.measure_bursts(lab)
    assert len(cold_gaps) == calibrate.TRIALS * calibrate.ROUNDS
    assert len(gaps) == len(cold_gaps) * (calibrate.BURST - 1)
    median = sorted(gaps)[len(gaps) // 2]
    assert sorted(cold_gaps)[len(cold_gaps) // 2] > 2 * median, (cold_gaps, median)
    assert not set(names[:2]) & set(sandbox.ip("netns", "list").stdout.split())


def test_a_sleep_never_ends_early_and_a_longer_one_ends_later() -> None:
    """The sleep probe on the running kernel: time.sleep() returns after its time, by the
    hrtimer's slack and a wake-up (measured ~110 µs at 2 ms, ~180 µs at 20 ms), and the probe's
    two lengths straddle the model's LONG_SLEEP_US."""
    short, long = calibrate.measure_sleep_lateness(None)  # type: ignore[arg-type]  # no lab needed
    assert len(short) == len(long) == calibrate.SLEEP_PROBES
    assert min(short + long) >= 0
    assert statistics.median(short) < statistics.median(long) < 0.005
    assert calibrate.SHORT_SLEEP_S * 1e6 < LONG_SLEEP_US <= calibrate.LONG_SLEEP_S * 1e6


def test_placement_runs_are_told_apart_by_their_overflows() -> None:
    """The two placement probes' rules on runs measured on 2026-12-03: an event loop behind the
    client lets 47 of 50 clients overflow (one that ran, 5-15); 16 workers that waited out a
    burst of 60 let 57 overflow, workers that ran 44-51."""
    assert placement.placement_share([47, 46, 8, 15, 5]) == pytest.approx(0.4)
    measured = [46, 48, 56, 55, 44, 56, 51, 57]
    assert placement.workers_placement_share(measured) == pytest.approx(0.5)
    assert placement.workers_placement_share([]) == 0.0
