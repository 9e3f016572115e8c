"""Throwaway network namespaces for root-only tests: created here, always removed."""

import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PREFIX = f"tcpq-test-{os.getpid()}-"
_counter = [0]


def require_root_netns() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces (CI runs as root)")
    if shutil.which("ip") is None:
        pytest.skip("needs iproute2's `ip`")


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=check, capture_output=True, text=True, timeout=30)


class Namespace:
    def __init__(self, name: str) -> None:
        self.name = name
        self.processes: list[subprocess.Popen[str]] = []

    def sh(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", self.name, *args, check=check)

    def sysctl(self, name: str, value: str) -> None:
        self.sh("sysctl", "-q", "-w", f"{name}={value}")

    def python(self, code: str, wait_for: str | None = "ready") -> subprocess.Popen[str]:
        """Start a bounded Python program inside the namespace; wait for its first line."""
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.name, sys.executable, "-c", textwrap.dedent(code)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(proc)
        if wait_for is not None:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert wait_for in line, (
                f"helper did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
            )
        return proc

    def drop_final_acks(self, port: int) -> None:
        """An nft rule inside this namespace only: segments to `port` without SYN are dropped."""
        self.sh("nft", "add", "table", "inet", "tcpqtest")
        self.sh("nft", "add", "chain", "inet", "tcpqtest", "c", "{ type filter hook input priority 0; }")
        self.sh(
            "nft",
            "add",
            "rule",
            "inet",
            "tcpqtest",
            "c",
            "tcp",
            "dport",
            str(port),
            "tcp",
            "flags",
            "&",
            "syn",
            "==",
            "0",
            "drop",
        )

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


@contextmanager
def namespace() -> Iterator[Namespace]:
    require_root_netns()
    _counter[0] += 1
    name = f"{PREFIX}{_counter[0]}"
    run("ip", "netns", "add", name)
    ns = Namespace(name)
    try:
        ns.sh("ip", "link", "set", "lo", "up")
        yield ns
    finally:
        ns.stop()
        run("ip", "netns", "del", name, check=False)


def leftover_namespaces() -> list[str]:
    if shutil.which("ip") is None:
        return []
    names = run("ip", "netns", "list", check=False).stdout.split("\n")
    return [line.split()[0] for line in names if line.startswith(PREFIX)]


LISTENER = """
import ctypes, socket, sys, time
libc = ctypes.CDLL(None, use_errno=True)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", {port}))
assert libc.listen(s.fileno(), {backlog}) == 0  # libc: a negative backlog reaches the kernel as is
print("ready", flush=True)
mode = "{mode}"
deadline = time.time() + {lifetime}
held = []
while time.time() < deadline:
    if mode == "never":
        time.sleep(0.1)
        continue
    s.settimeout(0.1)
    try:
        conn, _ = s.accept()
    except socket.timeout:
        continue
    if mode == "hold":          # accept and never close: CLOSE_WAIT once the peer closes
        held.append(conn)
    elif mode == "eof":         # close once the peer has closed: the peer keeps TIME_WAIT
        conn.settimeout(2)
        try:
            conn.recv(1)
        except OSError:
            pass
        conn.close()
    else:                       # accept and close at once
        conn.close()
"""

CLIENTS = """
import socket, time
print("ready", flush=True)
socks = []
deadline = time.time() + {lifetime}
made = 0
while made < {count} and time.time() < deadline:
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(("127.0.0.1", {port}))
    except BlockingIOError:
        pass
    if {close}:
        time.sleep(0.01)
        c.close()
    else:
        socks.append(c)
    made += 1
    time.sleep({gap})
time.sleep(max(0.0, deadline - time.time()))
"""


def listener(
    ns: Namespace, port: int, backlog: int, mode: str, lifetime: float = 30
) -> subprocess.Popen[str]:
    return ns.python(LISTENER.format(port=port, backlog=backlog, mode=mode, lifetime=lifetime))


def clients(
    ns: Namespace, port: int, count: int, gap: float, close: bool = False, lifetime: float = 20
) -> subprocess.Popen[str]:
    return ns.python(CLIENTS.format(port=port, count=count, gap=gap, close=close, lifetime=lifetime))


def settle(seconds: float = 0.3) -> None:
    time.sleep(seconds)
