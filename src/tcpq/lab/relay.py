"""The user-space link's relay: `python -m tcpq.lab.link CONFIG` runs `main` here.

It reads packets from the two TUN devices that `tcpq.lab.link` created in the lab's
namespaces, drops each with probability `loss` (seeded), and writes it to the other TUN after
the one-way delay, in order per direction. It exits with its parent, on stdin EOF and after its
lifetime; it never touches the host namespace. CONFIG is a wire.LinkConfig; each line on stdin
("stats", "reset") is answered with a wire.RelayStats line, and a last one is printed at exit.
"""

import contextlib
import ctypes
import os
import random
import select
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field

from tcpq.errors import ParseError
from tcpq.lab.wire import DirectionStats, LinkConfig, RelayStats

CLOCK_MONOTONIC = 1
TFD_NONBLOCK = os.O_NONBLOCK
TFD_CLOEXEC = os.O_CLOEXEC
TFD_TIMER_ABSTIME = 1
PR_SET_TIMERSLACK = 29
MTU = 1500
READ_SIZE = 2048  # > MTU: a TUN without offloads hands over one IP packet of at most MTU bytes
BATCH = 64  # packets read from one TUN before looking at the other and the timer
QUEUE_BYTES = 64 << 20  # in flight per direction; beyond it packets are dropped and counted
POLL_S = 0.5  # the longest the relay sleeps without checking its parent and lifetime
LATE_BINS_US = 10  # lateness histogram: 10 µs bins up to 100 ms
LATE_BINS = 10_000


class _Itimerspec(ctypes.Structure):
    _fields_ = [
        ("interval_sec", ctypes.c_long),
        ("interval_nsec", ctypes.c_long),
        ("value_sec", ctypes.c_long),
        ("value_nsec", ctypes.c_long),
    ]


class Timer:
    """A CLOCK_MONOTONIC timerfd armed at absolute nanoseconds (epoll alone rounds to 1 ms)."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create")
        self.armed_ns = 0

    def arm(self, at_ns: int) -> None:
        if at_ns == self.armed_ns:
            return
        spec = _Itimerspec(0, 0, at_ns // 1_000_000_000, at_ns % 1_000_000_000)
        if self.libc.timerfd_settime(self.fd, TFD_TIMER_ABSTIME, ctypes.byref(spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime")
        self.armed_ns = at_ns

    def clear(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, 8)
        self.armed_ns = 0


@dataclass
class Direction:
    """One way through the link: packets read from `src`, written to `dst` when due."""

    src: int
    dst: int
    queue: deque[tuple[int, bytes]] = field(default_factory=deque)
    queued_bytes: int = 0
    read: int = 0
    lost: int = 0
    forwarded: int = 0
    overflow: int = 0
    write_errors: int = 0


class Relay:
    def __init__(self, fds: list[int], one_way_us: int, loss: float, seed: int) -> None:
        a, b = fds
        self.directions = {a: Direction(a, b), b: Direction(b, a)}
        self.delay_ns = one_way_us * 1000
        self.loss = loss
        self.random = random.Random(seed).random
        self.late = [0] * (LATE_BINS + 1)
        self.late_max_ns = 0
        self.batch_max = 0
        self.started = time.monotonic()

    def receive(self, direction: Direction) -> None:
        """Read up to BATCH packets from one TUN; queue each (or drop it as loss)."""
        read, src, loss, chance = os.read, direction.src, self.loss, self.random
        due = time.monotonic_ns() + self.delay_ns
        count = 0
        while count < BATCH:
            try:
                packet = read(src, READ_SIZE)
            except BlockingIOError:
                break
            count += 1
            if loss and chance() < loss:
                direction.lost += 1
            elif direction.queued_bytes + len(packet) > QUEUE_BYTES:
                direction.overflow += 1
            else:
                direction.queue.append((due, packet))
                direction.queued_bytes += len(packet)
        direction.read += count
        self.batch_max = max(self.batch_max, count)

    def send_due(self, direction: Direction, now_ns: int) -> None:
        queue, dst, write = direction.queue, direction.dst, os.write
        while queue and queue[0][0] <= now_ns:
            due, packet = queue.popleft()
            direction.queued_bytes -= len(packet)
            try:
                write(dst, packet)
                direction.forwarded += 1
            except OSError:
                direction.write_errors += 1
            late = now_ns - due
            self.late[min(late // (LATE_BINS_US * 1000), LATE_BINS)] += 1
            if late > self.late_max_ns:
                self.late_max_ns = late

    def reset_lateness(self) -> None:
        self.late = [0] * (LATE_BINS + 1)
        self.late_max_ns = 0

    def next_due(self) -> int:
        heads = [d.queue[0][0] for d in self.directions.values() if d.queue]
        return min(heads) if heads else 0

    def stats(self) -> RelayStats:
        total = sum(self.late)

        def percentile(q: float) -> float:
            if not total:
                return 0.0
            rank, seen = q * total, 0
            for index, count in enumerate(self.late):
                seen += count
                if seen >= rank:
                    return float(index * LATE_BINS_US + LATE_BINS_US / 2)
            return float(LATE_BINS * LATE_BINS_US)

        directions = list(self.directions.values())
        return RelayStats(
            read=sum(d.read for d in directions),
            lost=sum(d.lost for d in directions),
            forwarded=sum(d.forwarded for d in directions),
            overflow=sum(d.overflow for d in directions),
            write_errors=sum(d.write_errors for d in directions),
            per_direction=tuple(DirectionStats(d.read, d.lost, d.forwarded) for d in directions),
            late_p50_us=percentile(0.5),
            late_p99_us=percentile(0.99),
            late_max_us=self.late_max_ns / 1000,
            batch_max=self.batch_max,
            uptime_s=time.monotonic() - self.started,
        )


def relay_main(config: LinkConfig) -> int:
    """Relay packets between two TUN fds until stdin closes, the parent goes, or the lifetime ends."""
    fds, parent = list(config.fds), config.parent_pid
    deadline_ns = time.monotonic_ns() + round(config.lifetime_s * 1e9)
    spin_ns = config.spin_us * 1000
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)  # this process's own timers: wake within 1 ns, not 50 µs
    with contextlib.suppress(OSError):  # ahead of the lab's busy clients on a small machine, if allowed
        os.setpriority(os.PRIO_PROCESS, 0, config.nice)
    for fd in fds:
        os.set_blocking(fd, False)
    relay = Relay(fds, config.one_way_us, config.loss, config.seed)
    timer = Timer()
    stdin = sys.stdin.buffer.fileno()
    poller = select.epoll()
    for fd in (*fds, timer.fd, stdin):
        poller.register(fd, select.EPOLLIN)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    pending = b""
    running = True
    while running:
        now_ns = time.monotonic_ns()
        if now_ns >= deadline_ns or os.getppid() != parent:
            break
        timeout = min(POLL_S, (deadline_ns - now_ns) / 1e9)
        next_due = relay.next_due()
        if next_due:
            if next_due - now_ns <= spin_ns:
                timeout = 0  # due within the timer's wake-up latency: poll without sleeping
            else:
                timer.arm(next_due - spin_ns)
        for fd, _ in poller.poll(timeout):
            if fd == stdin:
                chunk = os.read(stdin, 4096)
                if not chunk:
                    running = False
                pending += chunk
                while b"\n" in pending:
                    command, pending = pending.split(b"\n", 1)
                    out.write(relay.stats().to_json() + "\n")
                    out.flush()
                    if command.strip() == b"reset":  # the bench: lateness per measurement
                        relay.reset_lateness()
            elif fd == timer.fd:
                timer.clear()
            else:
                relay.receive(relay.directions[fd])
        now_ns = time.monotonic_ns()
        for direction in relay.directions.values():
            relay.send_due(direction, now_ns)
    out.write(relay.stats().to_json() + "\n")
    out.flush()
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tcpq.lab.link CONFIG_JSON", file=sys.stderr)
        return 2
    try:
        config = LinkConfig.from_json(argv[0])
    except ParseError as exc:  # the link reports our last line of stderr
        print(exc, file=sys.stderr)
        return 2
    return relay_main(config)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
