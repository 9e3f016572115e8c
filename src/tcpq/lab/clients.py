"""The lab's client load generator, run inside the client namespace.

`python -m tcpq.lab.clients CONFIG` (or `-`: the config is the first line on stdin) reads a
wire.ClientConfig (arrival times already drawn by tcpq with the scenario's seed, so lab and
simulation see the same arrivals), waits for "go T0" on stdin, then runs every attempt with
non-blocking sockets in one epoll loop and prints one wire.ClientReport with each attempt's
outcome and times. Bounded: it makes at most the given attempts and stops at the scenario's duration.

One clock for the whole lab: T0 is a CLOCK_MONOTONIC instant (system-wide, so the same in
every process) chosen by tcpq's runner a little in the future; each attempt starts at T0 + its
arrival time and the run ends at T0 + duration, as the sampler, the nft filter and the attacker
count from the same T0. `connected_at_s` and `ended_at_s` (by outcome, each attempt that did not
end connected) are relative to T0; `late_*_s` say how far behind schedule the starts were (the
machine's, not the kernel's, delay).

Built for rate (bench/lab_generators.py, docs/benchmarks.md): the starts are a sorted list
walked by an index, and every other timer (connect timeout, request, close) is a fixed delay of
its group, so each (group, action) is a FIFO lane rather than one heap; epoll is used directly
(fd → attempt); the garbage collector is off during the run (attempts make no cycles); the
descriptor limit is raised to the hard limit, and an attempt that still finds no descriptor
ends as `no_port` (no local socket could be had) instead of stopping the generator.
"""

import errno
import gc
import resource
import select
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass, field

from tcpq.lab.wire import ClientConfig, ClientGroup, ClientReport, parse_go

REQUEST = b"GET\n"
LINGER_S = 60.0
MAX_WAIT_S = 0.05  # longest epoll wait: the deadline is checked at least this often
OUTCOME_BY_ERRNO = {
    errno.ECONNREFUSED: "refused",
    errno.ETIMEDOUT: "timed_out",
    errno.ECONNRESET: "reset",
    errno.EADDRNOTAVAIL: "no_port",
    errno.EHOSTUNREACH: "refused",
    errno.EMFILE: "no_port",  # no descriptor for a socket: like no port, no local socket at all
    errno.ENFILE: "no_port",
}
CONNECT_TIMEOUT, SEND, CLOSE = 0, 1, 2  # timer lanes of a group
EPOLLIN, EPOLLOUT = select.EPOLLIN, select.EPOLLOUT
NONBLOCKING_STREAM = socket.SOCK_STREAM | socket.SOCK_NONBLOCK


@dataclass(slots=True)
class Attempt:
    group: int
    start: float
    sock: socket.socket | None = None
    state: str = "new"  # new → connecting → connected → (waiting) → done
    outcome: str | None = None
    connect_s: float | None = None
    response_s: float | None = None
    ended: float | None = None  # monotonic: when finish() gave it a final outcome


@dataclass
class Run:
    address: str
    port: int
    duration_s: float
    groups: list[ClientGroup]
    attempts: list[Attempt] = field(default_factory=list)
    # Per group, one FIFO lane per action: a group's delay is fixed, so each lane is in time order.
    lanes: list[deque[tuple[float, int]]] = field(default_factory=list)
    epoll: "select.epoll | None" = None
    watched: dict[int, int] = field(default_factory=dict)  # fd → attempt index
    t0: float = 0.0
    scheduled: list[float] = field(default_factory=list)  # each attempt's start, monotonic

    def at(self, when: float, group: int, action: int, index: int) -> None:
        self.lanes[3 * group + action].append((when, index))

    def finish(self, attempt: Attempt, outcome: str) -> None:
        attempt.outcome = outcome
        attempt.ended = time.monotonic()
        attempt.state = "done"
        self.close(attempt)

    def unwatch(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        if self.watched.pop(fd, None) is not None:
            assert self.epoll is not None
            self.epoll.unregister(fd)

    def close(self, attempt: Attempt) -> None:
        if attempt.sock is not None:
            self.unwatch(attempt.sock)
            attempt.sock.close()
            attempt.sock = None

    def start(self, index: int, now: float) -> None:
        attempt = self.attempts[index]
        group = self.groups[attempt.group]
        try:
            sock = socket.socket(socket.AF_INET, NONBLOCKING_STREAM)
        except OSError as exc:  # EMFILE / ENFILE even at the hard limit
            self.finish(attempt, OUTCOME_BY_ERRNO.get(exc.errno or 0, "no_port"))
            return
        attempt.sock = sock
        code = sock.connect_ex((self.address, self.port))
        if code not in (0, errno.EINPROGRESS):
            self.finish(attempt, OUTCOME_BY_ERRNO.get(code, "refused"))
            return
        attempt.state = "connecting"
        fd = sock.fileno()
        assert self.epoll is not None
        self.epoll.register(fd, EPOLLOUT)
        self.watched[fd] = index
        if group.connect_timeout_s is not None:
            self.at(now + group.connect_timeout_s, attempt.group, CONNECT_TIMEOUT, index)

    def on_event(self, index: int, now: float) -> None:
        attempt = self.attempts[index]
        sock = attempt.sock
        if sock is None:
            return
        group = self.groups[attempt.group]
        if attempt.state == "connecting":
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self.finish(attempt, OUTCOME_BY_ERRNO.get(code, "refused"))
                return
            attempt.state = "connected"
            attempt.connect_s = now - attempt.start
            assert self.epoll is not None
            self.epoll.modify(sock.fileno(), EPOLLIN)
            if group.request:
                self.at(now + group.request_after_s, attempt.group, SEND, index)
            else:
                attempt.outcome = "connected"
                if group.close_after_s is not None:
                    self.at(now + group.close_after_s, attempt.group, CLOSE, index)
            return
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError as exc:  # ECONNRESET: an overflowed handshake reset, or the request expired
            self.finish(attempt, OUTCOME_BY_ERRNO.get(exc.errno or 0, "reset"))
            return
        if not data:
            self.unwatch(sock)  # the server closed; keep ours until close_after
            return
        if group.request and attempt.response_s is None:
            attempt.response_s = now - attempt.start
            attempt.outcome = "connected"
            close_after = group.close_after_s
            if close_after is not None:
                self.at(now + close_after, attempt.group, CLOSE, index)

    def on_timer(self, action: int, index: int) -> None:
        attempt = self.attempts[index]
        if attempt.sock is None:
            return
        if action == CONNECT_TIMEOUT and attempt.state == "connecting":
            self.finish(attempt, "timed_out")
        elif action == SEND and attempt.state == "connected":
            try:
                attempt.sock.send(REQUEST)
            except OSError as exc:
                self.finish(attempt, OUTCOME_BY_ERRNO.get(exc.errno or 0, "reset"))
        elif action == CLOSE:
            outcome = attempt.outcome
            self.close(attempt)
            attempt.state = "done"
            attempt.outcome = outcome

    def _due_timers(self, now: float) -> float:
        """Run every lane timer due by `now`, oldest first; return when the next one is due."""
        lanes = self.lanes
        while True:
            first, when = -1, float("inf")
            for number, lane in enumerate(lanes):
                if lane and lane[0][0] < when:
                    first, when = number, lane[0][0]
            if when > now:
                return when
            _, index = lanes[first].popleft()
            self.on_timer(first % 3, index)

    def run(self, t0: float | None = None) -> None:
        """Start each attempt at t0 + its time (t0: a time.monotonic() instant; None: now)."""
        arrivals = sorted((t, gi) for gi, group in enumerate(self.groups) for t in group.times_s)
        self.attempts = [Attempt(group=gi, start=0.0) for _, gi in arrivals]
        self.lanes = [deque() for _ in range(3 * len(self.groups))]
        self.epoll = select.epoll()
        monotonic = time.monotonic
        attempts = self.attempts
        watched = self.watched
        poll = self.epoll.poll
        self.t0 = t0 = monotonic() if t0 is None else t0
        deadline = t0 + self.duration_s
        self.scheduled = starts = [t0 + t for t, _ in arrivals]
        total = len(starts)
        following = 0  # the next attempt to start
        gc.disable()  # a full collection over 10⁵ attempts stalls the loop for ~12 ms
        try:
            while True:
                now = monotonic()
                if now >= deadline:
                    break
                next_timer = self._due_timers(now)
                while following < total and starts[following] <= now:
                    started = monotonic()
                    attempts[following].start = started
                    self.start(following, started)
                    following += 1
                next_start = starts[following] if following < total else deadline
                wait = min(next_timer, next_start, deadline) - monotonic()
                for fd, _ in poll(max(0.0, min(wait, MAX_WAIT_S))):
                    index = watched.get(fd)
                    if index is not None:
                        self.on_event(index, monotonic())
        finally:
            gc.enable()

    def report(self) -> ClientReport:
        late = [a.start - due for a, due in zip(self.attempts, self.scheduled, strict=True) if a.start]
        counts: dict[str, int] = {}
        for attempt in self.attempts:
            outcome = attempt.outcome or "pending"
            if attempt.state != "done" and attempt.outcome is None:
                outcome = "pending"
            counts[outcome] = counts.get(outcome, 0) + 1
        connect = [(a.start, a.connect_s) for a in self.attempts if a.connect_s is not None]
        return ClientReport(
            attempted=len(self.attempts),
            outcomes=counts,
            connect_s=tuple([connect_s for _, connect_s in connect]),
            response_s=tuple([a.response_s for a in self.attempts if a.response_s is not None]),
            connected_at_s=tuple(sorted([start - self.t0 + connect_s for start, connect_s in connect])),
            # when each attempt that did not end connected ended, from T0, by its outcome
            ended_at_s=ended_at(self.attempts, self.t0),
            late_mean_s=sum(late) / len(late) if late else 0.0,
            late_max_s=max(late, default=0.0),
            # when each connect() was really called, from T0 (tcpq lab calibrate's connect gap)
            started_s=tuple([a.start - self.t0 for a in self.attempts if a.start]),
        )


def ended_at(attempts: list[Attempt], t0: float) -> dict[str, tuple[float, ...]]:
    """{outcome: sorted times from T0} of the attempts finish() ended (refused, reset, timed_out,
    no_port): the cumulative outcome series of the run's time series are binned from these."""
    times: dict[str, list[float]] = {}
    for attempt in attempts:
        if attempt.ended is not None and attempt.outcome is not None:
            times.setdefault(attempt.outcome, []).append(attempt.ended - t0)
    return {outcome: tuple(sorted(values)) for outcome, values in sorted(times.items())}


def raise_descriptor_limit() -> None:
    """Up to the hard limit: a flood of pending connects needs one descriptor each."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    # CONFIG, or "-": the config is the first line on stdin (one argument holds at most 128 KiB,
    # about 13k arrival times).
    config = ClientConfig.from_json(sys.stdin.readline() if sys.argv[1] == "-" else sys.argv[1])
    runner = Run(
        address=config.address, port=config.port, duration_s=config.duration_s, groups=list(config.groups)
    )
    raise_descriptor_limit()
    print("ready", flush=True)
    go, t0 = parse_go(sys.stdin.readline())
    if not go:
        return
    runner.run(t0)
    sys.stdout.write(runner.report().to_json() + "\n")
    sys.stdout.flush()
    # Keep every socket as it is until tcpq, having read the counters, ends this process:
    # closing here would add teardown to the run's counters. Bounded: tcpq kills us long before.
    time.sleep(LINGER_S)


if __name__ == "__main__":
    main()
