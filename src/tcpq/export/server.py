"""The exporter's moving parts: one scan per scrape, shared by scrapes that come together, and the
HTTP server that serves the families of `metrics.build_families`.

A namespace or a process vanishing during a scan never fails a scrape: with `--netns all` the
namespace is in Scan.not_seen (tcpq_netns_up 0); any other failure of a scan is counted in
tcpq_scrape_errors_total and the scrape still answers 200 with what it has.
"""

import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from prometheus_client.exposition import start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import CollectorRegistry

from tcpq.app import host_session as session
from tcpq.errors import TcpqError, Terminated
from tcpq.export.metrics import ScrapeStats, build_families
from tcpq.records import frozen
from tcpq.types import Snapshot
from tcpq.units import parse_duration

DEFAULT_LISTEN = "127.0.0.1:9841"
DEFAULT_MIN_INTERVAL = "1s"
MAX_MIN_INTERVAL_S = 3600.0
IDLE_S = 3600.0  # the main thread only waits for a signal

ScanFunction = Callable[[session.Targets, float | None], session.Scan]


@frozen
class ExportConfig:
    host: str
    port: int
    netns: str | None
    min_interval_s: float
    all_ports: bool = False


@dataclass
class _Cached:
    snapshots: list[Snapshot] = field(default_factory=list)
    down: list[str] = field(default_factory=list)
    taken_s: float | None = None  # monotonic time of the scan; None: never scanned
    duration_s: float = 0.0
    generation: int = 0


class ScanCache:
    """The last scan, reused by scrapes closer together than `min_interval_s`. The lock makes
    concurrent scrapes wait for one scan instead of each starting its own."""

    def __init__(
        self,
        netns: str | None,
        min_interval_s: float,
        scan: ScanFunction | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._netns = netns
        self._min_interval_s = min_interval_s
        self._scan: ScanFunction = scan or session.scan
        self._clock = clock
        self._lock = threading.Lock()
        self._cached = _Cached()
        self.errors_total = 0

    def current(self) -> tuple[list[Snapshot], list[str], ScrapeStats]:
        """The snapshots, the namespaces not read, and the exporter's own figures."""
        waiting_since = self._cached.generation
        with self._lock:
            now = self._clock()
            cached = self._cached
            # A scan that finished while this scrape waited for the lock is fresh enough.
            if cached.generation == waiting_since and not self._fresh(now):
                cached = self._refresh()
            age = max(0.0, self._clock() - (cached.taken_s or 0.0))
            stats = ScrapeStats(cached.duration_s, self.errors_total, age)
            return list(cached.snapshots), list(cached.down), stats

    def _fresh(self, now: float) -> bool:
        taken = self._cached.taken_s
        return taken is not None and now - taken < self._min_interval_s

    def _down_after_error(self) -> list[str]:
        if self._netns != "all":
            return [self._netns or "self"]
        return [snapshot.netns for snapshot in self._cached.snapshots]

    def _refresh(self) -> _Cached:
        start = self._clock()
        try:
            result = self._scan(session.targets(self._netns), None)
            snapshots = [item.after for item in result.samples]
            down = [item.netns for item in result.not_seen]
        except (TcpqError, OSError):
            # A named namespace gone, permission lost, /proc unreadable: the scrape still
            # answers; the namespace asked for shows as down and the error is counted.
            self.errors_total += 1
            snapshots, down = [], self._down_after_error()
        end = self._clock()
        self._cached = _Cached(snapshots, down, end, end - start, self._cached.generation + 1)
        return self._cached


class TcpqCollector:
    """A prometheus_client collector (the Collector protocol: `collect`), one scan per scrape."""

    def __init__(self, cache: ScanCache, all_ports: bool) -> None:
        self._cache = cache
        self._all_ports = all_ports

    def collect(self) -> Iterable[Metric]:
        snapshots, down, stats = self._cache.current()
        return build_families(snapshots, down, stats, self._all_ports)


def parse_listen(text: str) -> tuple[str, int]:
    """HOST:PORT, [IPv6]:PORT or :PORT (127.0.0.1)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise TcpqError(f"--listen {text!r}: give HOST:PORT, e.g. {DEFAULT_LISTEN}")
    return host.strip("[]") or "127.0.0.1", int(port_text)


def parse_min_interval(text: str) -> float:
    """'1s', '200ms', or a number of seconds."""
    try:
        seconds = float(text) if text.replace(".", "", 1).isdigit() else parse_duration(text) / 1e6
    except ValueError as exc:
        raise TcpqError(f"--min-interval: {exc}") from None
    if not 0 <= seconds <= MAX_MIN_INTERVAL_S:
        raise TcpqError(f"--min-interval {text}: give 0 to {MAX_MIN_INTERVAL_S:g} seconds")
    return seconds


@frozen
class Serving:
    url: str
    cache: ScanCache


@contextmanager
def serving(config: ExportConfig, scan: ScanFunction | None = None) -> Iterator[Serving]:
    """The exporter's HTTP server on its own threads until the block ends; then its socket is
    closed. The namespaces are checked first, so a bad --netns is an error before serving."""
    session.targets(config.netns)
    cache = ScanCache(config.netns, config.min_interval_s, scan)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TcpqCollector(cache, config.all_ports))
    try:
        server, thread = start_http_server(config.port, config.host, registry)
    except (OSError, socket.gaierror) as exc:
        reason = exc.strerror or str(exc)
        raise TcpqError(f"cannot listen on {config.host}:{config.port}: {reason}") from None
    # socketserver listens with a backlog of 5: 20 scrapes at once overflowed its accept queue
    # (17-22 ListenOverflows per run of tests/export's concurrency test), and each dropped SYN
    # came back 1 s later. listen() again on a listening socket only sets its backlog
    # (inet_listen()); the kernel caps it at net.core.somaxconn.
    server.socket.listen(socket.SOMAXCONN)
    try:
        host, port = server.socket.getsockname()[:2]  # the real port when asked for port 0
        shown = f"[{host}]" if ":" in host else host
        yield Serving(f"http://{shown}:{port}/metrics", cache)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


def run(config: ExportConfig) -> None:
    """Serve until Ctrl-C or SIGTERM; both unwind through `serving`, which closes the socket,
    and the CLI exits 130 or 143 with one line."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        with serving(config) as exporter:
            print(f"tcpq export: serving {exporter.url}", file=sys.stderr, flush=True)
            while True:
                time.sleep(IDLE_S)
    finally:
        signal.signal(signal.SIGTERM, previous)
