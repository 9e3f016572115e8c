"""Throwaway network namespaces for the lab: create, configure, and always remove.

Names carry the tcpq process id (`tcpq-<pid>-srv`), so `clean_stale()` can remove what a
killed tcpq left behind: a namespace whose pid is no longer a running tcpq. Nothing here touches
the host namespace: sysctls are written and nft rules added only through `ip netns exec` into a
namespace created here. Addresses come from 198.18.0.0/15, the range RFC 2544 reserves for
benchmarking, on a veth pair that exists only between the lab's namespaces.
"""

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tcpq.errors import PermissionDenied, TcpqError, Terminated

PREFIX = "tcpq-"
NAME_RE = re.compile(r"^tcpq-(\d+)-(srv|cli|atk)$")
SERVER_ADDR = "198.18.0.1"
CLIENT_ADDR = "198.18.0.2"
PREFIX_LEN = 30
ATTACKER_GATEWAY = "198.18.0.5"  # the server namespace's end of the attacker's veth
ATTACKER_ADDR = "198.18.0.6"
PR_SET_PDEATHSIG = 1
COMMAND_TIMEOUT_S = 20


def _set_parent_death_signal() -> None:
    """In a child before exec: die with SIGKILL when tcpq dies, even if tcpq is SIGKILLed."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["ip", *args], check=check, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
        )
    except subprocess.CalledProcessError as exc:
        message = (exc.stderr or exc.stdout or "").strip().splitlines()
        detail = message[-1] if message else f"exit {exc.returncode}"
        if "Operation not permitted" in detail or "Permission denied" in detail:
            raise PermissionDenied(f"`ip {' '.join(args)}`: {detail} (the lab needs root)") from None
        raise TcpqError(f"`ip {' '.join(args)}` failed: {detail}") from None
    except FileNotFoundError:
        raise TcpqError("the lab needs iproute2's `ip` command") from None


@dataclass
class Namespace:
    name: str
    address: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return ip("netns", "exec", self.name, *command, check=check)

    def sysctl(self, name: str, value: int | tuple[int, int]) -> None:
        text = f"{value[0]} {value[1]}" if isinstance(value, tuple) else str(value)
        self.run("sysctl", "-q", "-w", f"{name}={text}")

    def spawn(self, argv: Sequence[str], stdin: bool = False) -> subprocess.Popen[bytes]:
        """Start a program inside this namespace; it dies with tcpq (parent-death signal)."""
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.name, *argv],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_set_parent_death_signal,
        )
        self.processes.append(proc)
        return proc

    def python(self, module: str, *args: str, stdin: bool = False) -> subprocess.Popen[bytes]:
        return self.spawn([sys.executable, "-m", module, *args], stdin=stdin)

    def stop_processes(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
        for proc in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self.processes.clear()


@dataclass
class Lab:
    server: Namespace
    client: Namespace
    attacker: Namespace | None = None  # only for a scenario with [attack]: `add_attacker()`

    @property
    def namespaces(self) -> list[Namespace]:
        return [self.server, self.client] + ([self.attacker] if self.attacker is not None else [])


def lab_names(pid: int | None = None) -> tuple[str, str, str, str]:
    owner = os.getpid() if pid is None else pid
    return f"{PREFIX}{owner}-srv", f"{PREFIX}{owner}-cli", f"tq{owner}s"[:15], f"tq{owner}c"[:15]


def attacker_names(pid: int | None = None) -> tuple[str, str, str]:
    """The attacker namespace, and its veth's ends in the server and attacker namespaces."""
    owner = os.getpid() if pid is None else pid
    return f"{PREFIX}{owner}-atk", f"tq{owner}a"[:15], f"tq{owner}x"[:15]


def add_attacker(created: Lab, names: tuple[str, str, str] | None = None) -> Namespace:
    """A third namespace joined to the server's by its own veth (198.18.0.4/30), for [attack].

    The server namespace accepts 127.0.0.0/8 sources on that veth only (`route_localnet`, no
    reverse-path filter there), so spoofed SYNs from 127.1.0.0/16 reach the listener; the
    attacker namespace announces its own address in ARP (not the spoofed source). Removed with
    the lab like the other two. `names` (namespace, server-side and attacker-side veth) default
    to `attacker_names()`; benchmarks pass their own `tcpq-test-` ones.
    """
    name, veth_server, veth_attacker = attacker_names() if names is None else names
    ip("netns", "add", name)
    attacker = Namespace(name, ATTACKER_ADDR)
    created.attacker = attacker
    ip(
        "link",
        "add",
        veth_server,
        "netns",
        created.server.name,
        "type",
        "veth",
        "peer",
        "name",
        veth_attacker,
        "netns",
        name,
    )
    server = created.server
    server.run("ip", "addr", "add", f"{ATTACKER_GATEWAY}/{PREFIX_LEN}", "dev", veth_server)
    server.sysctl(f"net.ipv4.conf.{veth_server}.route_localnet", 1)
    server.sysctl(f"net.ipv4.conf.{veth_server}.rp_filter", 0)
    server.sysctl("net.ipv4.conf.all.rp_filter", 0)  # the effective value is max(all, device)
    server.run("ip", "link", "set", veth_server, "up")
    attacker.run("ip", "link", "set", "lo", "up")
    attacker.run("ip", "addr", "add", f"{ATTACKER_ADDR}/{PREFIX_LEN}", "dev", veth_attacker)
    attacker.sysctl(f"net.ipv4.conf.{veth_attacker}.arp_announce", 2)
    attacker.run("ip", "link", "set", veth_attacker, "up")
    attacker.run("ip", "route", "add", f"{server.address}/32", "via", ATTACKER_GATEWAY)
    return attacker


def _create(server_name: str, client_name: str, veth_server: str, veth_client: str) -> Lab:
    ip("netns", "add", server_name)
    ip("netns", "add", client_name)
    ip(
        "link",
        "add",
        veth_server,
        "netns",
        server_name,
        "type",
        "veth",
        "peer",
        "name",
        veth_client,
        "netns",
        client_name,
    )
    server = Namespace(server_name, SERVER_ADDR)
    client = Namespace(client_name, CLIENT_ADDR)
    for ns, dev in ((server, veth_server), (client, veth_client)):
        ns.run("ip", "link", "set", "lo", "up")
        ns.run("ip", "addr", "add", f"{ns.address}/{PREFIX_LEN}", "dev", dev)
        ns.run("ip", "link", "set", dev, "up")
    return Lab(server, client)


def _remove(names: Sequence[str]) -> None:
    for name in names:
        ip("netns", "del", name, check=False)  # deleting a namespace removes its veth end too


@contextlib.contextmanager
def lab(names: tuple[str, str, str, str] | None = None) -> Iterator[Lab]:
    """Create the lab's namespaces; remove them and every process on exit, error or signal.

    `names` (server and client namespace, their veth ends) default to `lab_names()`; tests
    pass their own `tcpq-test-` ones."""
    _require_root("tcpq lab needs root: it creates network namespaces")
    _remove_stale()  # one that cannot be removed is no reason to refuse this run
    server_name, client_name, veth_server, veth_client = names or lab_names()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}

    def as_interrupt(signum: int, frame: object) -> None:
        raise Terminated(signum)

    for sig in previous:
        signal.signal(sig, as_interrupt)
    created: Lab | None = None
    try:
        created = _create(server_name, client_name, veth_server, veth_client)
        yield created
    finally:
        with _signals_blocked():
            if created is not None:
                for ns in created.namespaces:
                    ns.stop_processes()
            _remove([server_name, client_name, attacker_names()[0]])
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Cleanup must finish even if the user presses Ctrl-C again."""
    blocked = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _tcpq_alive(pid: int) -> bool:
    """Whether the owner may still be running. Any live process with that pid counts: a test
    runner or a benchmark creating lab namespaces has no "tcpq" in its command line, and
    deleting a live run's namespaces is worse than keeping a stale one until its pid is free."""
    return Path(f"/proc/{pid}").exists()


def _require_root(message: str) -> None:
    if os.geteuid() != 0:
        raise PermissionDenied(message)


def _listed_namespaces() -> list[str]:
    listing = ip("netns", "list", check=False).stdout.splitlines()
    return [line.split()[0] for line in listing if line.strip()]


def stale_namespaces() -> list[str]:
    stale = []
    for name in _listed_namespaces():
        match = NAME_RE.match(name)
        if match and int(match.group(1)) != os.getpid() and not _tcpq_alive(int(match.group(1))):
            stale.append(name)
    return stale


def _remove_stale() -> tuple[list[str], list[str]]:
    """Remove the stale namespaces: (those this call removed, those still there after trying).

    One that fails and is gone was removed by another tcpq between the listing and the
    deletion: it is in neither list, since it is not ours to report."""
    attempts = {name: ip("netns", "del", name, check=False).returncode == 0 for name in stale_namespaces()}
    listed = set(_listed_namespaces())
    removed = sorted(name for name, ok in attempts.items() if ok)
    left = sorted(name for name, ok in attempts.items() if not ok and name in listed)
    return removed, left


def clean_stale() -> list[str]:
    """Remove namespaces left by tcpq processes that no longer run (`tcpq lab clean`).

    Returns exactly the namespaces this call removed. Without root nothing can be removed
    (`ip netns del` fails), so that is an error rather than a count of what was only tried."""
    _require_root("tcpq lab clean needs root: it removes network namespaces")
    removed, left = _remove_stale()
    if left:
        done = f"; removed {', '.join(removed)}" if removed else ""
        raise TcpqError(f"`ip netns del` could not remove {', '.join(left)}{done}")
    return removed
