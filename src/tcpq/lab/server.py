"""The lab's server program, run inside the server namespace: `python -m tcpq.lab.server CONFIG`.

listen() goes through libc so a negative or huge backlog reaches the kernel as a C program's
would (CPython's socket.listen() turns negatives into 0, kernel-model §1.1). Accept behaviour
mirrors the simulator's (sim/app.py): never, immediate, a rate, or N workers × service time,
starting at accept_after; in request mode every request gets a reply. The program exits by
itself after `lifetime_s`, whatever happens to tcpq.
"""

import contextlib
import ctypes
import random
import select
import socket
import sys
import threading
import time

from tcpq.lab.wire import ServerAccepts, ServerConfig, parse_go

REPLY = b"OK\n"


ACCEPTED: list[float] = []  # accept() return times, with log_accepts


def listen(config: ServerConfig) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.address, config.port))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.listen(sock.fileno(), ctypes.c_int(config.backlog)) != 0:
        raise OSError(ctypes.get_errno(), "listen() failed")
    return sock


class EventLoop:
    """One epoll loop over the listener and every accepted connection, as nginx runs one.

    `immediate`: whenever the listener is readable, accept() until EAGAIN. `rate`: at most one
    accept() per 1/rate seconds; the listener leaves the interest set while the application
    waits, so the loop sleeps instead of spinning. Connections: read, reply in request mode,
    close on EOF (after `close_delay_s`).
    """

    def __init__(self, listener: socket.socket, config: ServerConfig) -> None:
        self.listener = listener
        self.config = config
        self.epoll = select.epoll()
        self.conns: dict[int, socket.socket] = {}
        self.closing: list[tuple[float, socket.socket]] = []
        self.interval = 1.0 / config.rate if config.accept == "rate" else 0.0
        self.next_accept = 0.0
        self.listening = True
        listener.setblocking(False)
        self.epoll.register(listener.fileno(), select.EPOLLIN)

    def _accept_ready(self, now: float) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                return
            if self.config.log_accepts:
                ACCEPTED.append(time.monotonic())
            conn.setblocking(False)
            self.conns[conn.fileno()] = conn
            self.epoll.register(conn.fileno(), select.EPOLLIN)
            if self.interval:
                # An absolute schedule (one slot per 1/rate): epoll_wait()'s timeout is whole
                # milliseconds, rounded up, so slots counted from each late wake-up ran 13 %
                # slow at 500/s (436 accepts/s measured). After idling, a new schedule.
                on_time = 0.0 <= now - self.next_accept < self.interval
                self.next_accept = (self.next_accept if on_time else now) + self.interval
                self._listen(False)
                return

    def _listen(self, on: bool) -> None:
        if on != self.listening:
            self.listening = on
            self.epoll.modify(self.listener.fileno(), select.EPOLLIN if on else 0)

    def _readable(self, fd: int) -> None:
        conn = self.conns.get(fd)
        if conn is None:
            return
        try:
            data = conn.recv(4096)
        except BlockingIOError:
            return
        except ConnectionResetError:
            data = b""
        if not data:  # the client closed: close ours (read() returned 0), maybe a little later
            self.epoll.unregister(fd)
            del self.conns[fd]
            if self.config.close_delay_s > 0:
                self.closing.append((time.monotonic() + self.config.close_delay_s, conn))
            else:
                conn.close()
        elif self.config.request_mode:
            with contextlib.suppress(OSError):
                conn.send(REPLY)

    def _timeout(self, now: float, deadline: float) -> float:
        due = [deadline, now + 0.05]
        if self.closing:
            due.append(self.closing[0][0])
        if not self.listening:
            due.append(self.next_accept)
        return max(0.0, min(due) - now)

    def run(self, deadline: float) -> None:
        listener_fd = self.listener.fileno()
        while (now := time.monotonic()) < deadline:
            while self.closing and self.closing[0][0] <= now:
                self.closing.pop(0)[1].close()
            if not self.listening and now >= self.next_accept:
                self._listen(True)
            for fd, _ in self.epoll.poll(self._timeout(now, deadline)):
                if fd == listener_fd:
                    self._accept_ready(time.monotonic())
                else:
                    self._readable(fd)


def worker(
    sock: socket.socket, config: ServerConfig, deadline: float, rng: random.Random, lock: threading.Lock
) -> None:
    while time.monotonic() < deadline:
        try:
            conn, _ = sock.accept()
        except TimeoutError:
            continue
        with lock:
            service = (
                rng.expovariate(1.0 / config.service_s) if config.service_exponential else config.service_s
            )
        conn.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if config.request_mode:
                if conn.recv(4096):
                    time.sleep(service)
                    conn.send(REPLY)
                    conn.recv(4096)  # wait for the client's close
            else:
                time.sleep(service)
        except OSError:
            pass
        conn.close()


def main() -> None:
    config = ServerConfig.from_json(sys.argv[1])
    deadline = time.monotonic() + config.lifetime_s
    sock = listen(config)
    print("ready", flush=True)
    origin = time.monotonic()
    if config.wait_for_go:
        go, t0 = parse_go(sys.stdin.readline())
        if not go:
            return
        origin = t0 if t0 is not None else time.monotonic()
    start = origin + config.accept_after_s
    while time.monotonic() < min(start, deadline):
        time.sleep(0.001)
    if config.accept == "never":
        time.sleep(max(0.0, deadline - time.monotonic()))
    elif config.accept == "workers":
        sock.settimeout(0.05)
        rng = random.Random(config.seed)
        lock = threading.Lock()
        threads = [
            threading.Thread(target=worker, args=(sock, config, deadline, rng, lock), daemon=True)
            for _ in range(config.workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()) + 1)
    else:
        EventLoop(sock, config).run(deadline)
    if config.log_accepts:
        print(ServerAccepts(tuple(ACCEPTED)).to_json(), flush=True)


if __name__ == "__main__":
    main()
