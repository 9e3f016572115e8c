"""The server application: when it calls accept(), and what it does with a connection.

Behaviours of the scenario's [server] section: never, immediate, a rate, or N workers with a
service time; all start at `accept_after`. In request mode a connection is answered once it is
accepted and its request has arrived; otherwise immediate/rate servers hold connections open
and worker servers close them after their service time.

Time on the host (model/timing.py): an application asleep in epoll_wait() or accept() runs
only a wake-up latency after its listener becomes readable, and each accept() takes
`accept_us`. An event loop (immediate) then accepts until EAGAIN and goes back to sleep; a
worker blocked in accept() is woken for one connection (exclusive wait-queue entries wake one
waiter per connection); a worker done with a connection calls accept() again without sleeping
when the queue is not empty.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tcpq.model.timing import LONG_SLEEP_US, HostTiming
from tcpq.sim.conn import Conn
from tcpq.sim.engine import Engine
from tcpq.sim.lifecycle import ServerState
from tcpq.units import Distribution, ServiceTime


class ServerHost(Protocol):
    """What the application needs from the simulated server namespace."""

    def accept(self) -> Conn | None: ...
    def queued(self) -> int: ...
    def client_busy_until(self) -> int: ...
    def reply(self, conn: Conn) -> None: ...
    def close(self, conn: Conn) -> None: ...


@dataclass(frozen=True)
class AppSetup:
    """What every behaviour is built from, one per run: the engine, the server namespace it
    calls, when it starts accepting, whether clients send requests, the host's timing and the
    run's random draws."""

    engine: Engine
    host: ServerHost
    accept_after: int
    request_mode: bool
    timing: HostTiming
    rng: random.Random
    sleep_late: Callable[[int], int]  # how late a sleep of so many µs ends (`sleep_lateness`)


class ServerApp:
    """Base: never accepts (`accept = "never"`). Subclasses override `_readable` (the listener
    became readable while running) and `_start` (accept_after has come)."""

    def placement_share(self, timing: HostTiming) -> float:
        """The chance this kind of server waits behind the client program's burst: an event
        loop's (`host.behind_client`, measured by calibrate with one). Worker threads have a
        share of their own (WorkersApp): on 2026-12-03 morning examples/backend-3s-late-*.toml's
        4 workers took 4 connections during a burst of 20 in 3 of 3 lab runs while 90 % of
        event-loop runs waited; that evening they waited in 8 of 9 runs."""
        return timing.behind_client

    def __init__(self, setup: AppSetup) -> None:
        engine, timing, rng, accept_after = setup.engine, setup.timing, setup.rng, setup.accept_after
        self.engine = engine
        self.host = setup.host
        self.request_mode = setup.request_mode
        self.accept_us = timing.accept_us
        self.latency = quantile_sampler(timing.wakeup_us, rng)
        self.behind_client = self.placement_share(timing)
        # Where the scheduler puts the woken server, drawn once per run: measured, the server
        # stays on the client program's CPU (or off it) for tens of bursts in a row — a
        # sync wake-up from the client's softirq prefers the waker's CPU and a task keeps its
        # previous CPU — so one lab run shows one placement, not a mix.
        self.placement_behind = self.behind_client > 0 and rng.random() < self.behind_client
        self.placement_ends = 0
        self.placement_starts = 0
        self.slice_us = timing.slice_us
        self.warm_us = timing.warm_wakeup_us
        self.cold_after = timing.cold_after_us
        self.asleep_since = -timing.cold_after_us  # asleep since the start: a cold wake-up
        self.started = accept_after <= 0
        if not self.started:
            engine.at(accept_after, self._start)

    def _start(self, _: object) -> None:
        self.started = True

    def on_child(self) -> None:
        """A child was appended to the accept queue (the listener is readable)."""
        if self.started:
            self._readable()

    def _readable(self) -> None:
        """A never-accepting application ignores it."""

    def wake_at(self) -> int:
        """When a process woken now runs: a latency after now or, when it finds no free CPU,
        after the client program's burst of connect() calls (model/timing.py): a server
        placed behind the client (drawn once per run) waits until the client program sleeps,
        or for at most a scheduler slice of a burst."""
        now = self.engine.now
        busy_until = self.host.client_busy_until()
        if busy_until > now and self.behind_client:
            if self.placement_ends <= now:
                self.placement_starts = now  # a new burst of the client program
            self.placement_ends = busy_until  # the same burst goes on: the same placement
            if self.placement_behind:
                now = min(busy_until, self.placement_starts + self.slice_us)
        cold = self.engine.now - self.asleep_since >= self.cold_after
        return now + (self.latency() if cold else self.warm_us)

    def wake(self, when: int, handler: Callable[[object], None]) -> None:
        """Run `handler` at `when` (from wake_at), or later if the server is placed behind the
        client and the client program is still busy then (its burst took longer than it
        looked: calls whose handshake completes inside them are slower)."""
        self.engine.at(max(when, self.engine.now), self._when_free, handler)  # slice over before now: now

    def _when_free(self, handler: Callable[[object], None]) -> None:
        now = self.engine.now
        if self.placement_behind and self.placement_ends > self.placement_starts:
            busy_until = self.host.client_busy_until()
            limit = self.placement_starts + self.slice_us
            if busy_until > now and now < limit:
                self.placement_ends = busy_until
                self.engine.at(min(busy_until, limit), self._when_free, handler)
                return
        handler(None)

    def on_data(self, conn: Conn) -> None:
        """The request of an accepted connection arrived."""

    def on_eof(self, conn: Conn) -> None:
        """The client closed an accepted connection: close ours too (read() returned 0)."""
        if conn.srv == ServerState.ACCEPTED and not conn.waiting_worker:
            self.host.close(conn)

    def _took(self, conn: Conn) -> None:
        """A connection just accepted by a non-worker server."""
        if self.request_mode:
            if conn.data_at_server:
                self.host.reply(conn)
        elif conn.client_fin_at_server:
            self.host.close(conn)


class ImmediateApp(ServerApp):
    """An event loop: woken when the listener is readable, accept() until EAGAIN, sleep again."""

    awake = False  # running its accept loop (or woken and about to)

    def _readable(self) -> None:
        if not self.awake:
            self.awake = True
            self.wake(self.wake_at(), self._loop)

    def _start(self, _: object) -> None:
        self.started = True
        self.awake = True
        self._loop(None)

    def _loop(self, _: object) -> None:
        conn = self.host.accept()
        if conn is None:
            self.awake = False  # EAGAIN: back to epoll_wait()
            self.asleep_since = self.engine.now
            return
        self._took(conn)
        if self.accept_us:
            self.engine.after(self.accept_us, self._loop)
        else:
            self._loop(None)

    def on_data(self, conn: Conn) -> None:
        self.host.reply(conn)


class RateApp(ServerApp):
    """One accept() every 1/rate seconds at most; asleep in between."""

    def __init__(self, setup: AppSetup, rate: float) -> None:
        self.interval = max(1, round(1_000_000 / rate))
        self.next_accept = 0
        self.wake_armed = False
        super().__init__(setup)

    def _readable(self) -> None:
        if not self.wake_armed:
            self.wake_armed = True
            self.wake(max(self.next_accept, self.wake_at()), self._wake)

    def _start(self, _: object) -> None:
        self.started = True
        self.next_accept = self.engine.now
        self._accept_one()

    def _wake(self, _: object) -> None:
        self.wake_armed = False
        self._accept_one()

    def _accept_one(self) -> None:
        conn = self.host.accept()
        if conn is None:
            self.asleep_since = self.engine.now
            return
        now = self.engine.now
        self.next_accept = now + max(self.interval, self.accept_us)
        self._took(conn)
        if self.host.queued():
            self.wake_armed = True
            self.engine.at(self.next_accept, self._wake)  # its timer: no wake-up from epoll
        else:
            self.asleep_since = now

    def on_data(self, conn: Conn) -> None:
        self.host.reply(conn)


class WorkersApp(ServerApp):
    """N workers: each accepts, serves for the service time, then takes the next connection.

    In request mode a worker is a thread per connection (the lab's, Tomcat's blocking
    connector, Apache prefork): it reads the request, replies, and reads again until the
    client closes; only then does it close and take the next connection. A client that closes
    before sending its request frees its worker at once."""

    def placement_share(self, timing: HostTiming) -> float:
        """Worker threads blocked in accept(): `host.workers_behind_client` (calibrate
        measures it with 16 workers, see ServerApp)."""
        return timing.workers_behind_client

    def __init__(self, setup: AppSetup, workers: int, service: ServiceTime) -> None:
        self.idle = workers  # blocked in accept()
        self.waking = 0  # woken, not yet running
        self.service_time = _sampler(service, setup.rng)
        self.sleep_late = setup.sleep_late
        super().__init__(setup)

    def _readable(self) -> None:
        # One exclusive waiter woken per connection queued and not yet claimed.
        while self.idle > 0 and self.waking < self.host.queued():
            self.idle -= 1
            self.waking += 1
            self.wake(self.wake_at(), self._woken)

    def _start(self, _: object) -> None:
        self.started = True
        while self.idle > 0 and self.host.queued() > 0:
            self.idle -= 1
            self._take()

    def _woken(self, _: object) -> None:
        self.waking -= 1
        self._take()

    def _take(self) -> None:
        """A running worker calls accept(); it blocks again (idle) when the queue is empty."""
        conn = self.host.accept()
        if conn is None:
            self.idle += 1
            self.asleep_since = self.engine.now
            return
        conn.waiting_worker = True
        if not self.request_mode or conn.data_at_server:
            self._serve(conn)

    def on_data(self, conn: Conn) -> None:
        if conn.waiting_worker:
            self._serve(conn)

    def _serve(self, conn: Conn) -> None:
        service = self.service_time()
        done = self.engine.now + self.accept_us + service + self.sleep_late(service)
        self.engine.at(done, self._done, conn)

    def _done(self, conn: Conn) -> None:
        conn.waiting_worker = False
        if self.request_mode:
            self.host.reply(conn)
            if not conn.client_fin_at_server:
                conn.worker_holds = True  # blocked in read() until on_eof
                return
        self.host.close(conn)
        self._take()

    def on_eof(self, conn: Conn) -> None:
        """read() returned 0: a worker that replied, or one still waiting for the request,
        closes and takes the next connection; one serving the request finishes first."""
        if conn.srv != ServerState.ACCEPTED:
            return
        if conn.worker_holds or (conn.waiting_worker and not conn.data_at_server):
            conn.worker_holds = conn.waiting_worker = False
            self.host.close(conn)
            self._take()


def _sampler(service: ServiceTime, rng: random.Random) -> Callable[[], int]:
    mean = service.mean_us
    if service.distribution is Distribution.FIXED:
        return lambda: mean
    return lambda: round(rng.expovariate(1.0 / mean)) if mean > 0 else 0


def sleep_lateness(timing: HostTiming, rng: random.Random) -> Callable[[int], int]:
    """How late a sleep of `length` µs ends (model/timing.py): a draw from the deciles for
    its length; no sleep, no lateness."""
    short = quantile_sampler(timing.sleep_late_us, rng)
    long = quantile_sampler(timing.long_sleep_late_us, rng)

    def late(length: int) -> int:
        if length <= 0:
            return 0
        return long() if length >= LONG_SLEEP_US else short()

    return late


def quantile_sampler(quantiles: tuple[int, ...], rng: random.Random) -> Callable[[], int]:
    """Draw a latency from its measured quantiles (uniformly; one value: fixed)."""
    if len(quantiles) == 1:
        value = quantiles[0]
        return lambda: value
    values = list(quantiles)
    return lambda: rng.choice(values)
