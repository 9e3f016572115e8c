"""The reader side of `tcpq top`: Scans on a schedule, delivered from a thread of their own so
the terminal never waits for /proc or netlink. The app only sees Scans (or the error that
ended the reading)."""

import threading
from collections.abc import Callable, Iterator
from typing import Protocol

from tcpq.app import host_session as session
from tcpq.app.host_session import Scan, Targets


class ScanSource(Protocol):
    """Anything that yields Scans, one per refresh, blocking between them (tests feed their own)."""

    def scans(self) -> Iterator[Scan]: ...


class Watch:
    """The host: `session.watch`, the same sweep as `tcpq status --watch` (rates over the last
    interval, a vanished namespace named in every later frame)."""

    def __init__(self, target: Targets, interval_s: float, count: int | None = None) -> None:
        self.target = target
        self.interval_s = session.check_interval(interval_s)
        self.count = count

    def scans(self) -> Iterator[Scan]:
        return session.watch(self.target, self.interval_s, self.count)


class Feed:
    """Runs a source in a daemon thread and hands each Scan to `deliver`.

    Daemon, because the sweep sleeps a whole interval between samples and cannot be woken: on
    quit the app must not wait for it, and the thread dies with the process (it holds nothing
    to clean up: it only reads). After `stop()` nothing more is delivered."""

    def __init__(
        self,
        source: ScanSource,
        deliver: Callable[[Scan], object],
        failed: Callable[[BaseException], object],
        ended: Callable[[], object],
    ) -> None:
        self._source = source
        self._deliver = deliver
        self._failed = failed
        self._ended = ended
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tcpq-top-reader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def _run(self) -> None:
        try:
            for scan in self._source.scans():
                if self._stopped.is_set():
                    return
                self._deliver(scan)
        except Exception as exc:  # any reader failure ends the view with its message, not a hang
            if not self._stopped.is_set():
                self._failed(exc)
            return
        if not self._stopped.is_set():
            self._ended()
