"""The lab's server program, run inside the server namespace: `python -m tcpq.lab.server CONFIG`.

listen() goes through libc so a negative or huge backlog reaches the kernel as a C program's
would (CPython's socket.listen() turns negatives into 0, kernel-model §1.1). Accept behaviour
mirrors the simulator's (sim/app.py): never, immediate, a rate, or N workers × service time,
starting at accept_after; in request mode every request gets a reply. The program exits by
itself after `lifetime_s`, whatever happens to tcpq.
"""

import contextlib
import ctypes
import json
import random
import selectors
import socket
import sys
import threading
import time
from dataclasses import dataclass

REPLY = b"OK\n"


@dataclass(frozen=True)
class ServerConfig:
    address: str
    port: int
    backlog: int
    accept: str  # "never" | "immediate" | "rate" | "workers"
    rate: float
    workers: int
    service_s: float
    service_exponential: bool
    accept_after_s: float
    request_mode: bool
    lifetime_s: float
    seed: int
    close_delay_s: float


def listen(config: ServerConfig) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.address, config.port))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.listen(sock.fileno(), ctypes.c_int(config.backlog)) != 0:
        raise OSError(ctypes.get_errno(), "listen() failed")
    return sock


class Connections:
    """Accepted connections served from one selector loop (immediate and rate modes)."""

    def __init__(self, request_mode: bool, close_delay_s: float) -> None:
        self.selector = selectors.DefaultSelector()
        self.request_mode = request_mode
        self.close_delay_s = close_delay_s
        self.closing: list[tuple[float, socket.socket]] = []

    def add(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        self.selector.register(conn, selectors.EVENT_READ)

    def poll(self, timeout: float) -> None:
        now = time.monotonic()
        while self.closing and self.closing[0][0] <= now:
            self.closing.pop(0)[1].close()
        for key, _ in self.selector.select(timeout):
            conn = key.fileobj
            assert isinstance(conn, socket.socket)
            try:
                data = conn.recv(4096)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                data = b""
            if not data:  # the client closed: close ours (read() returned 0), maybe a little later
                self.selector.unregister(conn)
                if self.close_delay_s > 0:
                    self.closing.append((time.monotonic() + self.close_delay_s, conn))
                else:
                    conn.close()
            elif self.request_mode:
                with contextlib.suppress(OSError):
                    conn.send(REPLY)


def serve_loop(sock: socket.socket, config: ServerConfig, deadline: float) -> None:
    conns = Connections(config.request_mode, config.close_delay_s)
    sock.setblocking(False)
    interval = 1.0 / config.rate if config.accept == "rate" else 0.0
    next_accept = time.monotonic()
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_accept:
            try:
                conn, _ = sock.accept()
            except BlockingIOError:
                conn = None
            if conn is not None:
                conns.add(conn)
                next_accept = now + interval
                if config.accept == "immediate":
                    continue
        conns.poll(0.001 if config.accept == "rate" else 0.0005)


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
    config = ServerConfig(**json.loads(sys.argv[1]))
    deadline = time.monotonic() + config.lifetime_s
    sock = listen(config)
    print("ready", flush=True)
    start = time.monotonic() + config.accept_after_s
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
        serve_loop(sock, config, deadline)


if __name__ == "__main__":
    main()
