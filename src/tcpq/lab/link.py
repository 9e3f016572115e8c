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

import ctypes
import fcntl
import os
import select
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Literal

from tcpq.errors import TcpqError
from tcpq.lab import sandbox
from tcpq.lab.wire import RELAY_NICE, LinkConfig, RelayStats

Method = Literal["auto", "netem", "user-space"]
NETEM = "netem"
USER_SPACE = "user-space link"
NONE = "none"

TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000

MTU = 1500
TUN_QUEUE = 10_000  # the TUN's own packet queue (txqueuelen), default 500
# How long before a packet is due the relay wakes and polls without sleeping. 0: a spinning
# relay is 5-55 µs late instead of 25-100, but it takes its CPU from the server under test:
# fuzz-3-37 (1141 clients/s, rtt 10 ms, backlog 2) overflowed 404 and 106 times with 100 µs of
# spin, 31-70 times without (15-16 with no link at all; the model 22).
SPIN_US = 0

# What the relay adds by itself per direction (TUN read wake-up, Python, write): ~0.2 ms at the
# median on this 2-core VM (bench/lab_link.py: +0.43–0.50 ms per round trip against +0.05 ms on
# the plain veth); below ~20 times this an RTT is reproduced with a visible relative error.
RELAY_OVERHEAD_US = 200
# Packets per second (both directions together) the relay forwards on this 2-core VM with its
# lateness at a few µs at the median and no loss (bench/lab_link.py: 60k alone; the lab's own
# client and server processes share the two cores, so 40k is what a run can count on; unpaced it
# relays ~160k/s and the TUN queue overflows).
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

    def stats(self) -> RelayStats | None:
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
        return RelayStats.from_json(line) if line.strip() else None

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


def _describe(stats: RelayStats) -> str:
    text = (
        f"the link relayed {stats.forwarded} packets and dropped {stats.lost} as loss; "
        f"it sent packets {stats.late_p50_us:.0f} µs late at the median and {stats.late_max_us:.0f} µs "
        "at most (on top of the requested delay)"
    )
    overflow = stats.overflow + stats.write_errors
    if overflow:
        text += f"; {overflow} more packets were dropped because the link could not keep up"
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
        config = LinkConfig(
            fds=(fds[0], fds[1]),
            one_way_us=rtt_us // 2,
            loss=loss,
            seed=seed,
            lifetime_s=lifetime_s,
            parent_pid=os.getpid(),
            spin_us=SPIN_US,
            nice=RELAY_NICE,
        )
        argv = [sys.executable, "-m", "tcpq.lab.link", config.to_json()]
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
            f"(~{_ms(RELAY_OVERHEAD_US)} each way): measured RTTs are ~{_ms(2 * RELAY_OVERHEAD_US)} longer"
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


if __name__ == "__main__":
    from tcpq.lab.relay import main

    raise SystemExit(main(sys.argv[1:]))
