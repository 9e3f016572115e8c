"""The lab's network between client and server: `[network] rtt` and `loss` on the real kernel.

Where the kernel has netem, each veth end gets `tc qdisc … netem delay rtt/2 loss p` inside its
namespace. Where it has not (this project's own VM), tcpq builds a user-space link: one TUN
device in each namespace, a /32 route in each namespace sending the peer's lab address through
that TUN instead of the veth, and a relay process (`python -m tcpq.lab.link CONFIG`) that reads
every packet from one TUN, drops it with probability `loss` (seeded), and writes it to the other
TUN rtt/2 later, in order. The lab's addresses do not change, so the server binds and the clients
connect exactly as on a plain veth.

Nothing here touches the host namespace: each TUN is opened by a short-lived thread that has
entered the lab namespace (setns affects only that thread), routes and sysctls are set through
`ip netns exec`. The TUN devices are persistent inside their namespace, so if the relay dies
the traffic is dropped rather than silently taking the undelayed veth; they vanish with the
namespace. The relay dies with tcpq (parent-death signal), when its stdin closes, when its
parent changes, and after a lifetime limit; it is registered in the server namespace's process
list, so the lab's cleanup kills it.
"""

import contextlib
import ctypes
import fcntl
import json
import os
import random
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from tcpq.errors import TcpqError
from tcpq.lab import sandbox

Method = Literal["auto", "netem", "user-space"]
NETEM = "netem"
USER_SPACE = "user-space link"
NONE = "none"

TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
CLOCK_MONOTONIC = 1
TFD_NONBLOCK = os.O_NONBLOCK
TFD_CLOEXEC = os.O_CLOEXEC
TFD_TIMER_ABSTIME = 1
PR_SET_TIMERSLACK = 29

MTU = 1500
READ_SIZE = 2048  # > MTU: a TUN without offloads hands over one IP packet of at most MTU bytes
TUN_QUEUE = 10_000  # the TUN's own packet queue (txqueuelen), default 500
BATCH = 64  # packets read from one TUN before looking at the other and the timer
QUEUE_BYTES = 64 << 20  # in flight per direction; beyond it packets are dropped and counted
SPIN_US = 100  # wake this long before a packet is due, then poll without sleeping (VM wake-up ~50 µs)
RELAY_NICE = -10  # this process only; without CAP_SYS_NICE it keeps the default
POLL_S = 0.5  # the longest the relay sleeps without checking its parent and lifetime
LATE_BINS_US = 10  # lateness histogram: 10 µs bins up to 100 ms
LATE_BINS = 10_000

# What the relay adds by itself per direction (read wake-up, Python, write), measured by
# bench/lab_link.py; below a few times this an RTT is reproduced with a visible relative error.
RELAY_OVERHEAD_US = 60
# Packets per second (both directions together) the relay forwards on this 2-core VM while
# keeping the delay exact (bench/lab_link.py); a scenario offering more is said to exceed it.
RELAY_CAPACITY_PPS = 40_000
PACKETS_PER_CONNECTION = 8  # SYN, SYN-ACK, ACK, FIN, ACK, FIN, ACK, and a request or two
READY_TIMEOUT_S = 10.0


@dataclass
class LinkInfo:
    """Which link the lab used and what it could not do, as plain sentences for the report."""

    kind: str  # "netem" | "user-space link" | "none"
    rtt_us: int
    loss: float
    limits: list[str] = field(default_factory=list)
    relay: "subprocess.Popen[bytes] | None" = None
    devices: tuple[str, str] | None = None
    why: str = ""  # why the user-space link: "this kernel has no netem" or "asked for"

    def stats(self) -> dict[str, object] | None:
        """The relay's counters so far (None without a relay or when it does not answer)."""
        relay = self.relay
        if relay is None or relay.poll() is not None or relay.stdin is None or relay.stdout is None:
            return None
        try:
            relay.stdin.write(b"stats\n")
            relay.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        ready, _, _ = select.select([relay.stdout], [], [], READY_TIMEOUT_S)
        line = relay.stdout.readline() if ready else b""
        try:
            data = json.loads(line)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def notes(self) -> list[str]:
        """What the report says about the network: which link, what it did, what it could not."""
        if self.kind == NONE:
            return []
        wanted = " and ".join(
            ([f"rtt {_ms(self.rtt_us)}"] if self.rtt_us else [])
            + ([f"loss {self.loss:g}"] if self.loss else [])
        )
        each_way = [f"{_ms(self.rtt_us // 2)} of delay each way"] if self.rtt_us else []
        each_way += [f"each packet lost with probability {self.loss:g}"] if self.loss else []
        if self.kind == NETEM:
            sentences = [f"{wanted}: reproduced with tc netem on the lab's veth ({', '.join(each_way)})"]
        else:
            sentences = [
                f"{wanted}: reproduced with tcpq's user-space link ({self.why}): a TUN device in each "
                f"namespace and a relay process between them ({', '.join(each_way)}, seeded)"
            ]
            stats = self.stats()
            if stats is None:
                sentences.append("the user-space link's relay did not report: it may have died in the run")
            else:
                sentences.append(_describe(stats))
        return sentences + self.limits


def _ms(us: int) -> str:
    return f"{us / 1000:g} ms"


def _describe(stats: dict[str, object]) -> str:
    def num(key: str) -> float:
        value = stats.get(key, 0)
        return float(value) if isinstance(value, int | float) else 0.0

    text = (
        f"the link relayed {num('forwarded'):.0f} packets and dropped {num('lost'):.0f} as loss; "
        f"it sent packets {num('late_p50_us'):.0f} µs late at the median and {num('late_max_us'):.0f} µs "
        "at most (on top of the requested delay)"
    )
    overflow = num("overflow") + num("write_errors")
    if overflow:
        text += f"; {overflow:.0f} more packets were dropped because the link could not keep up"
    return text


# -- netem -------------------------------------------------------------------------------------------


def netem_available(ns: sandbox.Namespace) -> bool:
    """Whether this kernel has netem: add a netem qdisc on the namespace's loopback, remove it."""
    result = ns.run("tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms", check=False)
    if result.returncode != 0:
        return False
    ns.run("tc", "qdisc", "del", "dev", "lo", "root", check=False)
    return True


def netem_command(dev: str, one_way_us: int, loss: float) -> list[str]:
    command = ["tc", "qdisc", "add", "dev", dev, "root", "netem", "limit", "100000"]
    if one_way_us:
        command += ["delay", f"{one_way_us}us"]
    if loss:
        command += ["loss", f"{loss * 100:g}%"]
    return command


def _setup_netem(lab: sandbox.Lab, rtt_us: int, loss: float) -> LinkInfo:
    _, _, veth_server, veth_client = sandbox.lab_names()
    for ns, dev in ((lab.server, veth_server), (lab.client, veth_client)):
        ns.run(*netem_command(dev, rtt_us // 2, loss))
    limits = ["netem's loss is not seeded: which packets are lost differs from run to run"] if loss else []
    return LinkInfo(NETEM, rtt_us, loss, limits)


# -- TUN devices ---------------------------------------------------------------------------------------


def tun_names(pid: int | None = None) -> tuple[str, str]:
    owner = os.getpid() if pid is None else pid
    return f"tqt{owner}s"[:15], f"tqt{owner}c"[:15]


def open_tun(netns: str, name: str) -> int:
    """Create a persistent TUN device `name` inside namespace `netns`; return its fd (blocking off).

    The device is created in the network namespace of whoever opens /dev/net/tun, so a thread
    enters the namespace (setns changes only the calling thread's namespace), opens and
    configures the device, and ends; the fd works from any namespace afterwards.
    """
    outcome: list[int | BaseException] = []

    def in_namespace() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/run/netns/{netns}", "rb") as handle:
                if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns into {netns}: {os.strerror(err)}")
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                request = struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI)
                fcntl.ioctl(fd, TUNSETIFF, request)
                fcntl.ioctl(fd, TUNSETPERSIST, 1)
            except BaseException:
                os.close(fd)
                raise
            outcome.append(fd)
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    thread = threading.Thread(target=in_namespace, name=f"tun-{netns}")
    thread.start()
    thread.join()
    result = outcome[0] if outcome else TcpqError("the TUN thread ended without a result")
    if isinstance(result, BaseException):
        raise TcpqError(f"could not create TUN device {name} in {netns}: {result}") from result
    return result


def _route_through(ns: sandbox.Namespace, dev: str, peer: str) -> None:
    """The peer's lab address through the TUN (a /32 beats the veth's connected /30)."""
    ns.run("sysctl", "-q", "-w", f"net.ipv6.conf.{dev}.disable_ipv6=1", check=False)  # no RS/DAD noise
    ns.run("ip", "link", "set", "dev", dev, "mtu", str(MTU), "txqueuelen", str(TUN_QUEUE))
    ns.run("ip", "link", "set", "dev", dev, "up")
    ns.run("ip", "route", "replace", f"{peer}/32", "dev", dev, "src", ns.address)


def _setup_user_space(lab: sandbox.Lab, rtt_us: int, loss: float, seed: int, lifetime_s: float) -> LinkInfo:
    dev_server, dev_client = tun_names()
    fds: list[int] = []
    try:
        fds.append(open_tun(lab.server.name, dev_server))
        fds.append(open_tun(lab.client.name, dev_client))
        config = {
            "fds": fds,
            "one_way_us": rtt_us // 2,
            "loss": loss,
            "seed": seed,
            "lifetime_s": lifetime_s,
            "parent_pid": os.getpid(),
            "spin_us": SPIN_US,
            "nice": RELAY_NICE,
        }
        argv = [sys.executable, "-m", "tcpq.lab.link", json.dumps(config)]
        relay = subprocess.Popen(
            ["ip", "netns", "exec", lab.server.name, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=fds,
            preexec_fn=sandbox._set_parent_death_signal,
        )
        lab.server.processes.append(relay)  # the lab's cleanup kills it
    finally:
        for fd in fds:
            os.close(fd)  # the relay holds them now; tcpq's copies would keep the namespace alive
    assert relay.stdout is not None
    ready, _, _ = select.select([relay.stdout], [], [], READY_TIMEOUT_S)
    line = relay.stdout.readline() if ready else b""
    if b"ready" not in line:
        error = b""
        if relay.poll() is not None and relay.stderr is not None:
            error = relay.stderr.read()
        lines = error.decode(errors="replace").strip().splitlines()
        raise TcpqError(f"the lab's user-space link did not start: {lines[-1] if lines else 'no output'}")
    _route_through(lab.server, dev_server, lab.client.address)
    _route_through(lab.client, dev_client, lab.server.address)
    return LinkInfo(USER_SPACE, rtt_us, loss, [], relay, (dev_server, dev_client))


def _limits(rtt_us: int, offered_per_s: float) -> list[str]:
    limits = []
    if 0 < rtt_us < 20 * RELAY_OVERHEAD_US:
        limits.append(
            f"the requested rtt {_ms(rtt_us)} is close to what the user-space link adds by itself "
            f"(~{RELAY_OVERHEAD_US} µs each way): measured RTTs are ~{_ms(2 * RELAY_OVERHEAD_US)} longer"
        )
    if offered_per_s * PACKETS_PER_CONNECTION > RELAY_CAPACITY_PPS:
        limits.append(
            f"the scenario offers ~{offered_per_s:,.0f} connections/s, about "
            f"{offered_per_s * PACKETS_PER_CONNECTION:,.0f} packets/s, more than the user-space link relays "
            f"without queueing (~{RELAY_CAPACITY_PPS:,} packets/s): expect extra delay and drops"
        )
    return limits


def setup_link(
    lab: sandbox.Lab,
    rtt_us: int,
    loss: float,
    seed: int,
    *,
    lifetime_s: float = 3600.0,
    offered_per_s: float = 0.0,
    method: Method = "auto",
) -> LinkInfo:
    """Give the lab's client↔server path `rtt_us` of round trip and `loss` per packet.

    netem where the kernel has it, else tcpq's user-space link (`method` forces one). Call it
    before the server and clients start. Teardown is the lab's: the relay is in the server
    namespace's process list and the TUN devices and qdiscs vanish with the namespaces.
    """
    if rtt_us <= 0 and loss <= 0:
        return LinkInfo(NONE, 0, 0.0)
    if method == "netem" or (method == "auto" and netem_available(lab.server)):
        return _setup_netem(lab, rtt_us, loss)
    info = _setup_user_space(lab, rtt_us, loss, seed, lifetime_s)
    info.why = "this kernel has no netem" if method == "auto" else "asked for instead of netem"
    info.limits.extend(_limits(rtt_us, offered_per_s))
    return info


# -- the relay process -------------------------------------------------------------------------------


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

    def stats(self) -> dict[str, object]:
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
        return {
            "read": sum(d.read for d in directions),
            "lost": sum(d.lost for d in directions),
            "forwarded": sum(d.forwarded for d in directions),
            "overflow": sum(d.overflow for d in directions),
            "write_errors": sum(d.write_errors for d in directions),
            "per_direction": [{"read": d.read, "lost": d.lost, "forwarded": d.forwarded} for d in directions],
            "late_p50_us": percentile(0.5),
            "late_p99_us": percentile(0.99),
            "late_max_us": self.late_max_ns / 1000,
            "batch_max": self.batch_max,
            "uptime_s": time.monotonic() - self.started,
        }


def relay_main(config: dict[str, object]) -> int:
    """Relay packets between two TUN fds until stdin closes, the parent goes, or the lifetime ends."""
    fds_value = config["fds"]
    assert isinstance(fds_value, list) and len(fds_value) == 2
    fds = [int(fd) for fd in fds_value]
    parent = int(str(config["parent_pid"]))
    deadline_ns = time.monotonic_ns() + round(float(str(config["lifetime_s"])) * 1e9)
    spin_ns = int(str(config.get("spin_us", SPIN_US))) * 1000
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)  # this process's own timers: wake within 1 ns, not 50 µs
    with contextlib.suppress(OSError):  # ahead of the lab's busy clients on a small machine, if allowed
        os.setpriority(os.PRIO_PROCESS, 0, int(str(config.get("nice", RELAY_NICE))))
    for fd in fds:
        os.set_blocking(fd, False)
    relay = Relay(fds, int(str(config["one_way_us"])), float(str(config["loss"])), int(str(config["seed"])))
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
                    out.write(json.dumps(relay.stats()) + "\n")
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
    out.write(json.dumps(relay.stats()) + "\n")
    out.flush()
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tcpq.lab.link CONFIG_JSON", file=sys.stderr)
        return 2
    config = json.loads(argv[0])
    if not isinstance(config, dict):
        print("the config must be a JSON object", file=sys.stderr)
        return 2
    return relay_main(config)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
