"""Root helpers for the live trace tests: `tcpq trace --json` as a child, test traffic, and
counters read independently of tcpq (the namespace's /proc/net/netstat through `ip netns exec`)."""

import json
import os
import random
import select
import subprocess
import sys
import time
from typing import Any

from tcpq.observe.procfs import parse_snmp_pairs
from tcpq.trace import instance

from ..observe.nslab import Namespace

START_TIMEOUT_S = 20


def free_port() -> int:
    return random.randint(20000, 32000)  # below the ephemeral range: no client takes it


class Trace:
    """`python -m tcpq trace --json ARGS` running; `start()` returns once events are recorded."""

    def __init__(self, *args: str, new_session: bool = False) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tcpq", "trace", "--json", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=new_session,
        )
        self.lines: list[dict[str, Any]] = []
        self._buffer = b""

    def start(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                self._buffer += chunk
                while b"\n" in self._buffer:
                    line, self._buffer = self._buffer.split(b"\n", 1)
                    record = json.loads(line)
                    self.lines.append(record)
                    if record["type"] == "start":
                        return record
        self.proc.kill()
        raise AssertionError(f"tcpq trace did not start: {self.proc.communicate(timeout=10)}")

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        out, err = self.proc.communicate(timeout=timeout)
        for line in (self._buffer + out).decode().splitlines():
            if line.strip():
                self.lines.append(json.loads(line))
        return self.proc.returncode, err.decode()

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["type"] == kind]

    @property
    def summary(self) -> dict[str, Any]:
        (summary,) = self.of_type("summary")
        return summary

    def namespace_row(self, name: str) -> dict[str, Any]:
        (row,) = [row for row in self.summary["namespaces"] if row["netns"] == name]
        return row

    def listener_row(self, name: str, port: int) -> dict[str, Any]:
        (row,) = [r for r in self.summary["listeners"] if r["netns"] == name and r["port"] == port]
        return row


def netstat(ns: Namespace) -> dict[str, int]:
    text = ns.sh("cat", "/proc/net/netstat").stdout
    return parse_snmp_pairs(text)


def delta(before: dict[str, int], after: dict[str, int], name: str) -> int:
    return after[f"TcpExt{name}"] - before[f"TcpExt{name}"]


def instances_now() -> list[str]:
    """tcpq-* instances, looked at through tcpq's own private-mount helper (never a host mount)."""
    with instance.open_tracefs() as tracefs:
        return instance.list_instances(tracefs)


def tracefs_mounted_here() -> bool:
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        return any(line.split()[2] == "tracefs" for line in mounts if len(line.split()) > 2)


# Final-ACK overflow without a single SYN-time drop (tracefs-notes: TCP_DEFER_ACCEPT holds the
# final ACKs). Requests wait in the SYN queue (it holds backlog + 1); each time one sends data
# and becomes a child, one more client connects, so when the accept queue is full (backlog + 1
# children) `backlog` requests are still waiting and no SYN ever meets a full accept queue.
# Their data then overflows at the final ACK. After `hold` seconds every socket is reset
# (SO_LINGER 0), so nothing arrives after the trace's last counter reading.
DEFER_LISTENER = """
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 30)
s.bind(("127.0.0.1", {port}))
s.listen({backlog})
print("ready", flush=True)
time.sleep({lifetime})
"""

DEFER_CLIENTS = """
import socket, struct, time
print("ready", flush=True)
def connect():
    c = socket.socket()
    c.settimeout(5)
    c.connect(("127.0.0.1", {port}))
    return c
waiting = [connect() for _ in range({backlog} + 1)]
sent = []
for i in range({backlog} + 1):
    c = waiting.pop(0)
    c.send(b"x")
    sent.append(c)
    time.sleep(0.05)
    if i < {backlog}:
        waiting.append(connect())
        time.sleep(0.05)
for c in waiting:
    c.send(b"x")
time.sleep({hold})
for c in sent + waiting:
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
time.sleep(0.5)
"""
