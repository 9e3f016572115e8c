"""Samples the server's listener through inet_diag (≥ 100 Hz) from inside the server namespace.

It keeps the accept-queue and SYN-queue peaks between samples of the simulator's time grid, the
listener's limit and sk_drops, and ListenDrops at each grid point.
"""

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tcpq.kernel.states import TcpState
from tcpq.observe.inet_diag import dump_tcp
from tcpq.observe.netns import NetnsRef, run_in_netns
from tcpq.observe.procfs import read_counters

STATES = frozenset({TcpState.LISTEN, TcpState.SYN_RECV})
PERIOD_S = 0.005  # 200 Hz: queue changes on loopback are fast
THREAD_NET = Path("/proc/thread-self/net")


@dataclass
class GridPoint:
    t_s: float
    accept_queue: int
    syn_queue: int
    listen_drops: int


@dataclass
class ListenerSampler:
    ref: NetnsRef
    port: int
    interval_s: float
    t0: float = 0.0
    accept_peak: int = 0
    syn_peak: int = 0
    limit: int | None = None
    drops: int | None = None
    samples: int = 0
    grid: list[GridPoint] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self, t0: float) -> None:
        self.t0 = t0
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

    def _loop(self) -> None:
        next_grid = self.t0 + self.interval_s
        while not self._stop.is_set():
            accept_queue, syn_queue = self._read()
            self.samples += 1
            self.accept_peak = max(self.accept_peak, accept_queue)
            self.syn_peak = max(self.syn_peak, syn_queue)
            now = time.monotonic()
            if now >= next_grid:
                drops = read_counters(THREAD_NET).get("TcpExtListenDrops", 0)
                self.grid.append(GridPoint(round(next_grid - self.t0, 6), accept_queue, syn_queue, drops))
                next_grid += self.interval_s
            self._stop.wait(PERIOD_S)
