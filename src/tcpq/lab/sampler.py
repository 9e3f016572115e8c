"""Samples the server's listener through inet_diag (≥ 100 Hz) from inside the server namespace.

It keeps the accept-queue and SYN-queue peaks between samples of the simulator's time grid, the
listener's limit and sk_drops, and ListenDrops at each grid point. The grid counts from the
lab's shared start T0 (a time.monotonic() instant, runner.py) and ends at T0 + duration, where
one last sample is taken together with the namespace's counters (`end_counters`, and the
client namespace's `end_client_counters`: the run's counters are those of its duration, as
the simulator's, not of the teardown after it, when a 1 s timer-wheel tick may still fire). With
`client_net` (/proc/PID/net of a process in the client namespace: readable from here without
entering that namespace) each grid point also holds the client namespace's mib.CLIENT_SERIES,
read right after the server's.

A sampled peak misses what happens between two samples: a SYN-queue peak of 5 that lasts 1 ms
reads as 0. `accept_queue_peak()` and `syn_queue_peak()` turn the samples and the counters into
a peak that is exact where the kernel proves it and is otherwise marked as a lower bound.
"""

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tcpq.kernel.states import TcpState
from tcpq.model import mib
from tcpq.observe.inet_diag import dump_tcp
from tcpq.observe.netns import NetnsRef, run_in_netns
from tcpq.observe.procfs import read_counters
from tcpq.records import frozen

STATES = frozenset({TcpState.LISTEN, TcpState.SYN_RECV})
# 20 Hz. Faster sampling disturbs what it measures: a 200 Hz inet_diag loop keeps one of this
# machine's two CPUs a fifth busy, so the woken server often waits for a CPU and a 20-client
# burst overflowed 31 times in 3 runs of 5 instead of ~2 (tcpq lab on backlog 2, docs/fidelity.md).
# Peaks come from the counters where the kernel proves them (accept_queue_peak, syn_queue_peak).
PERIOD_S = 0.05
THREAD_NET = Path("/proc/thread-self/net")


@frozen
class Peak:
    value: int
    exact: bool  # False: `value` is a lower bound (the samples may have missed the peak)


def accept_queue_peak(
    sampled: int, limit: int, *, overflowed: bool, only_grows: bool, children: int | None = None
) -> Peak:
    """The accept queue's peak over the run, from the samples and what the kernel proves.

    - ListenOverflows moved (`overflowed`): sk_acceptq_is_full() was true at some instant, so the
      queue held limit + 1 children (kernel-model §1.3, §12): the peak is limit + 1.
    - The queue only grows (nobody accepts, `only_grows`): the last sample is the peak.
    - The samples reached limit + 1, or as many children as were ever made (`children`,
      TcpPassiveOpens: every child was counted there before it was queued): nothing can be higher.
    Otherwise the sampled peak is a lower bound.
    """
    full = limit + 1
    if overflowed:
        return Peak(max(sampled, full), True)
    exact = only_grows or sampled >= full or (children is not None and sampled >= children)
    return Peak(sampled, exact)


def syn_queue_peak(sampled: int, limit: int, *, full: bool, cookies_always: bool = False) -> Peak:
    """The SYN queue's peak (request socks) over the run, from the samples and the counters.

    `full`: TCPReqQFullDoCookies or TCPReqQFullDrop moved while tcp_syncookies != 2, so some SYN
    found qlen at the limit (inet_csk_reqsk_queue_is_full(), kernel-model §2.1, §2.2): the peak is
    the limit. The sampler counts every SYN_RECV socket, and a cookie's child is one for an
    instant before it is ESTABLISHED, so a sample above the limit is capped by it. Otherwise the
    sampled peak is a lower bound, exact when it reached the limit — except with
    tcp_syncookies = 2 (`cookies_always`), where every SYN_RECV socket sampled may be such a
    child (the kernel then keeps no request socks, §2.1), so the samples prove nothing.
    """
    if cookies_always:
        return Peak(min(sampled, limit), False)
    if full or sampled >= limit:
        return Peak(limit, True)
    return Peak(sampled, False)


@dataclass
class GridPoint:
    t_s: float
    accept_queue: int
    syn_queue: int
    counters: dict[str, int]  # mib.SERIES as the namespace had them then (cumulative)
    client_counters: dict[str, int] = field(default_factory=dict)  # mib.CLIENT_SERIES, likewise


@dataclass
class ListenerSampler:
    ref: NetnsRef
    port: int
    interval_s: float
    t0: float = 0.0
    until_s: float = float("inf")  # the run's duration: the last sample is taken at t0 + until_s
    client_net: Path | None = None
    accept_peak: int = 0
    syn_peak: int = 0
    last_accept_queue: int = 0
    limit: int | None = None
    drops: int | None = None
    samples: int = 0
    end_counters: dict[str, int] = field(default_factory=dict)
    end_client_counters: dict[str, int] = field(default_factory=dict)  # with client_net
    end_late_s: float | None = None  # how long after t0 + until_s the end counters were read
    grid: list[GridPoint] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self, t0: float, until_s: float) -> None:
        """Sample from now until t0 + until_s (both on the time.monotonic() clock)."""
        self.t0, self.until_s = t0, until_s
        self._thread = threading.Thread(target=run_in_netns, args=(self.ref, self._loop), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _read(self) -> tuple[int, int]:
        accept_queue = syn_queue = 0
        for record in dump_tcp(states=STATES):
            if record.local_port != self.port:
                continue
            if record.state == TcpState.LISTEN:
                accept_queue = record.recv_q
                self.limit = record.send_q
                self.drops = record.drops
            else:
                syn_queue += 1
        return accept_queue, syn_queue

    def _sample(self) -> tuple[int, int]:
        accept_queue, syn_queue = self._read()
        self.samples += 1
        self.accept_peak = max(self.accept_peak, accept_queue)
        self.syn_peak = max(self.syn_peak, syn_queue)
        self.last_accept_queue = accept_queue
        return accept_queue, syn_queue

    def _loop(self) -> None:
        end = self.t0 + self.until_s
        next_grid = self.t0 + self.interval_s
        while True:
            now = time.monotonic()
            final = now >= end
            if self._stop.is_set() and not final:
                return  # stopped before the end: the run failed or was interrupted
            due = final or now >= next_grid
            # The counters first, the moment the point falls due: the listener dump before them
            # took 1-3 ms, in which a timer-wheel bucket of retransmissions due just after the
            # end could fire and be counted in the run (fuzz-5-2: 6 SYN-ACK retransmissions
            # the kernel made after T0 + duration in one run of three).
            counters = read_counters(THREAD_NET) if due else {}
            client = read_counters(self.client_net) if due and self.client_net is not None else {}
            if final:
                self.end_late_s = time.monotonic() - end
            accept_queue, syn_queue = self._sample()
            while next_grid <= min(now, end) + 1e-9:
                series = {name: counters.get(name, 0) for name in mib.SERIES}
                client_series = {name: client.get(name, 0) for name in mib.CLIENT_SERIES}
                self.grid.append(
                    GridPoint(round(next_grid - self.t0, 6), accept_queue, syn_queue, series, client_series)
                )
                next_grid += self.interval_s
            if final:
                self.end_counters, self.end_client_counters = counters, client
                return
            # wake at the next grid point too, so its counters are read when it falls due, not up
            # to PERIOD_S later (a SYN retransmitted at 1.004 s belongs to the interval ending at 1.1)
            wake = min(now + PERIOD_S, end, next_grid)
            self._stop.wait(max(0.0, wake - time.monotonic()))  # from now: this pass took time
