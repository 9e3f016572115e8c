"""The server application: when it calls accept(), and what it does with a connection.

Behaviours of the scenario's [server] section: never, immediate, a rate, or N workers with a
service time; all start at `accept_after`. In request mode a connection is answered once it is
accepted and its request has arrived; otherwise immediate/rate servers hold connections open
and worker servers close them after their service time.
"""

import random
from collections.abc import Callable
from typing import Protocol

from tcpq.sim.conn import Conn, ServerState
from tcpq.sim.engine import Engine
from tcpq.units import Distribution, ServiceTime


class ServerHost(Protocol):
    """What the application needs from the simulated server namespace."""

    def accept(self) -> Conn | None: ...
    def reply(self, conn: Conn) -> None: ...
    def close(self, conn: Conn) -> None: ...


class ServerApp:
    """Base: never accepts. Subclasses override `_drain`."""

    def __init__(self, engine: Engine, host: ServerHost, accept_after: int, request_mode: bool) -> None:
        self.engine = engine
        self.host = host
        self.request_mode = request_mode
        self.started = accept_after <= 0
        if not self.started:
            engine.at(accept_after, self._start)

    def _start(self, _: object) -> None:
        self.started = True
        self._drain()

    def on_child(self) -> None:
        """A child was appended to the accept queue (the listener is readable)."""
        if self.started:
            self._drain()

    def on_data(self, conn: Conn) -> None:
        """The request of an accepted connection arrived."""

    def on_eof(self, conn: Conn) -> None:
        """The client closed an accepted connection: close ours too (read() returned 0)."""
        if conn.srv == ServerState.ACCEPTED and not conn.waiting_worker:
            self.host.close(conn)

    def _drain(self) -> None:
        """Accept what the policy allows now."""

    def _took(self, conn: Conn) -> None:
        """A connection just accepted by a non-worker server."""
        if self.request_mode:
            if conn.data_at_server:
                self.host.reply(conn)
        elif conn.client_fin_at_server:
            self.host.close(conn)


class ImmediateApp(ServerApp):
    def _drain(self) -> None:
        while (conn := self.host.accept()) is not None:
            self._took(conn)

    def on_data(self, conn: Conn) -> None:
        self.host.reply(conn)


class RateApp(ServerApp):
    """One accept() every 1/rate seconds at most."""

    def __init__(self, engine: Engine, host: ServerHost, accept_after: int, request_mode: bool, rate: float):
        self.interval = max(1, round(1_000_000 / rate))
        self.next_accept = accept_after
        self.wake_armed = False
        super().__init__(engine, host, accept_after, request_mode)

    def _wake(self, _: object) -> None:
        self.wake_armed = False
        self._drain()

    def _drain(self) -> None:
        now = self.engine.now
        if now < self.next_accept:
            if not self.wake_armed:
                self.wake_armed = True
                self.engine.at(self.next_accept, self._wake)
            return
        conn = self.host.accept()
        if conn is None:
            return
        self.next_accept = now + self.interval
        self._took(conn)
        self._drain()

    def on_data(self, conn: Conn) -> None:
        self.host.reply(conn)


class WorkersApp(ServerApp):
    """N workers: each accepts, serves for the service time, then takes the next connection."""

    def __init__(
        self,
        engine: Engine,
        host: ServerHost,
        accept_after: int,
        request_mode: bool,
        workers: int,
        service: ServiceTime,
        rng: random.Random,
    ):
        self.idle = workers
        self.service_time = _sampler(service, rng)
        super().__init__(engine, host, accept_after, request_mode)

    def _drain(self) -> None:
        while self.idle > 0 and (conn := self.host.accept()) is not None:
            self.idle -= 1
            conn.waiting_worker = True
            if not self.request_mode or conn.data_at_server:
                self._serve(conn)

    def on_data(self, conn: Conn) -> None:
        if conn.waiting_worker:
            self._serve(conn)

    def _serve(self, conn: Conn) -> None:
        self.engine.at(self.engine.now + self.service_time(), self._done, conn)

    def _done(self, conn: Conn) -> None:
        conn.waiting_worker = False
        if self.request_mode:
            self.host.reply(conn)
            if conn.client_fin_at_server:
                self.host.close(conn)
        else:
            self.host.close(conn)
        self.idle += 1
        self._drain()


def _sampler(service: ServiceTime, rng: random.Random) -> Callable[[], int]:
    mean = service.mean_us
    if service.distribution is Distribution.FIXED:
        return lambda: mean
    return lambda: round(rng.expovariate(1.0 / mean)) if mean > 0 else 0
