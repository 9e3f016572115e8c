"""Network namespaces: find every one on the host, name it, and read it without moving the caller.

A namespace is identified by the inode of its nsfs file (`ip netns identify`, `lsns` do the
same). It is found through /proc/PID/ns/net (one per process; the lowest pid labels it) and
through the bind mounts `ip netns add` leaves in /run/netns. Reading another namespace either
goes through /proc/PID/net of a process in it (counters and /proc/net/tcp, no privilege needed)
or enters it in a short-lived helper thread: network namespaces are per thread, so the caller's
own threads never move.
"""

import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from tcpq.errors import PermissionDenied, TcpqError
from tcpq.records import frozen

T = TypeVar("T")

CLONE_NEWNET = 0x40000000  # include/uapi/linux/sched.h (os.CLONE_NEWNET from Python 3.12)
CONTAINER_ID_LEN = 12  # as `docker ps` shortens ids
UNKNOWN_INODE = 0  # a process's namespace we may not identify (another user's, when unprivileged)


class NetnsGone(TcpqError):
    """The namespace was deleted (or its last process exited) between being listed and being read:
    a sweep of every namespace reports it as not seen and goes on."""


@frozen(slots=True)
class NetnsRef:
    """A network namespace and how to reach and label it.

    `inode` is UNKNOWN_INODE only for a namespace named by a pid we may not inspect: it can then be
    read through /proc/PID/net (`proc_net_for`) but not entered.
    """

    inode: int
    path: str
    name: str | None
    pid: int | None
    comm: str | None
    container: str | None
    is_self: bool


_RUNTIMES = (  # cgroup path component → runtime label, for systemd and cgroupfs drivers
    (re.compile(r"^docker-([0-9a-f]{12,})\.scope$"), "docker"),
    (re.compile(r"^cri-containerd-([0-9a-f]{12,})\.scope$"), "containerd"),
    (re.compile(r"^crio-([0-9a-f]{12,})\.scope$"), "cri-o"),
    (re.compile(r"^libpod-([0-9a-f]{12,})\.scope$"), "podman"),
)
_POD = re.compile(r"^kubepods.*-pod([0-9a-f_]+)\.slice$|^pod([0-9a-f-]+)$")
_BARE_ID = re.compile(r"[0-9a-f]{64}")  # cgroupfs driver: the container id is the directory name


def _runtime(component: str, parent: str | None) -> str | None:
    for pattern, label in _RUNTIMES:
        match = pattern.match(component)
        if match:
            return f"{label}:{match.group(1)[:CONTAINER_ID_LEN]}"
    if _BARE_ID.fullmatch(component):
        return f"{'docker' if parent == 'docker' else 'container'}:{component[:CONTAINER_ID_LEN]}"
    if parent == "lxc" or component.startswith("lxc.payload."):
        return f"lxc:{component.removeprefix('lxc.payload.')}"
    return None


def cgroup_label(path: str) -> str | None:
    """A cgroup path → "docker:0123456789ab", "kubepods:pod<uid>/containerd:…", "systemd:nginx.service",
    or "cgroup:<path>" for anything else that is not the root."""
    parts = [part for part in path.split("/") if part]
    if parts in ([], ["init.scope"]):  # the root, or systemd's own scope (pid 1): the host itself
        return None
    pod = next((m.group(1) or m.group(2) for p in parts if (m := _POD.match(p))), None)
    runtime = next(
        (label for i, p in enumerate(parts) if (label := _runtime(p, parts[i - 1] if i else None))), None
    )
    if pod is not None:
        return f"kubepods:pod{pod.replace('_', '-')}" + (f"/{runtime}" if runtime else "")
    if runtime is not None:
        return runtime
    unit = next((p for p in reversed(parts) if p.endswith((".service", ".scope"))), None)
    if unit is not None:
        return f"systemd:{unit}"
    return f"cgroup:/{'/'.join(parts)}"


def parse_cgroup(text: str) -> str | None:
    """/proc/PID/cgroup → a label from the first non-root path: the unified (v2, "0::") line, then
    name=systemd, then any v1 controller."""
    paths: list[tuple[int, str]] = []
    for line in text.splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        hierarchy, controllers, path = fields
        rank = 0 if hierarchy == "0" and not controllers else 1 if controllers == "name=systemd" else 2
        paths.append((rank, path.strip()))
    for _, path in sorted(paths, key=lambda item: item[0]):
        label = cgroup_label(path)
        if label is not None:
            return label
    return None


def _read_small(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        # The process exited meanwhile: the label is simply unknown.
        return None
    except PermissionError:
        # Hidden from us (hidepid mount option): the label is unknown, the namespace still listed.
        return None


def _labelled(ref: NetnsRef, proc_root: Path) -> NetnsRef:
    if ref.pid is None:
        return ref
    comm = _read_small(proc_root / str(ref.pid) / "comm")
    cgroup = _read_small(proc_root / str(ref.pid) / "cgroup")
    return replace(
        ref,
        comm=comm.removesuffix("\n") if comm is not None else None,
        container=parse_cgroup(cgroup) if cgroup is not None else None,
    )


def _self_ns(proc_root: Path) -> tuple[int, int]:
    """(st_dev, st_ino) of the calling thread's namespace: thread-self, since this may run inside
    `run_in_netns`, where the thread and the process differ."""
    st = os.stat(proc_root / "thread-self" / "ns" / "net")
    return st.st_dev, st.st_ino


def _named(run_netns: Path, nsfs_dev: int) -> tuple[dict[int, str], int]:
    """inode → first name (sorted) under /run/netns, and how many could not be read."""
    try:
        names = sorted(os.listdir(run_netns))
    except FileNotFoundError:
        # No `ip netns add` since boot.
        return {}, 0
    found: dict[int, str] = {}
    unreadable = 0
    for name in names:
        try:
            st = os.stat(run_netns / name)
        except FileNotFoundError:
            # Removed by `ip netns del` meanwhile.
            continue
        except PermissionError:
            # Not ours to look at when unprivileged.
            unreadable += 1
            continue
        # A name whose bind mount failed or was undone is a plain file on /run: not a namespace.
        if st.st_dev == nsfs_dev:
            found.setdefault(st.st_ino, name)
    return found, unreadable


def _by_process(proc_root: Path) -> tuple[dict[int, int], int]:
    """inode → lowest pid in it, and how many processes' namespaces could not be read."""
    found: dict[int, int] = {}
    unreadable = 0
    pids = sorted(int(name) for name in os.listdir(proc_root) if name.isdigit())
    for pid in pids:
        try:
            inode = os.stat(proc_root / str(pid) / "ns" / "net").st_ino
        except (FileNotFoundError, ProcessLookupError):
            # Exited meanwhile, or a zombie (it has no namespaces left).
            continue
        except PermissionError:
            # Another user's process when unprivileged (ptrace read access is required).
            unreadable += 1
            continue
        found.setdefault(inode, pid)
    return found, unreadable


def _sort_key(ref: NetnsRef) -> tuple[bool, bool, str, int]:
    return (not ref.is_self, ref.name is None, ref.name or "", ref.pid if ref.pid is not None else -1)


def list_netns_report(
    proc_root: Path = Path("/proc"), run_netns: Path = Path("/run/netns")
) -> tuple[list[NetnsRef], int]:
    """Every namespace reachable through /proc/*/ns/net and /run/netns, the caller's first, then
    named ones by name, then by pid; and how many processes or names could not be read (without
    root: other users' processes, whose namespaces may be missing from the list)."""
    nsfs_dev, self_inode = _self_ns(proc_root)
    names, unreadable_names = _named(run_netns, nsfs_dev)
    pids, unreadable_pids = _by_process(proc_root)
    refs = []
    for inode in names.keys() | pids.keys() | {self_inode}:
        name, pid = names.get(inode), pids.get(inode)
        if name is not None:
            path = str(run_netns / name)
        elif pid is not None:
            path = str(proc_root / str(pid) / "ns" / "net")
        else:  # our own, found neither way (this thread entered a namespace no process is in)
            path = str(proc_root / "thread-self" / "ns" / "net")
        ref = NetnsRef(inode, path, name, pid, None, None, inode == self_inode)
        refs.append(_labelled(ref, proc_root))
    return sorted(refs, key=_sort_key), unreadable_names + unreadable_pids


def list_netns(proc_root: Path = Path("/proc"), run_netns: Path = Path("/run/netns")) -> list[NetnsRef]:
    """`list_netns_report` without the count of what could not be read."""
    return list_netns_report(proc_root, run_netns)[0]


def current_netns(proc_root: Path = Path("/proc"), run_netns: Path = Path("/run/netns")) -> NetnsRef:
    """The calling thread's namespace, labelled like the others."""
    refs, _ = list_netns_report(proc_root, run_netns)
    return next(ref for ref in refs if ref.is_self)


def resolve_netns(
    spec: str, proc_root: Path = Path("/proc"), run_netns: Path = Path("/run/netns")
) -> NetnsRef:
    """Resolve "self", a pid or an `ip netns` name to its namespace."""
    if spec == "self":
        return current_netns(proc_root, run_netns)
    if spec.isdigit():
        path = proc_root / spec / "ns" / "net"
        what = f"process {spec}"
    elif spec and "/" not in spec and spec not in (".", ".."):
        path = run_netns / spec
        what = f"network namespace {spec!r}"
    else:
        raise TcpqError(f"--netns {spec!r}: give a name from `ip netns list`, a pid, 'self' or 'all'")
    try:
        inode = os.stat(path).st_ino
    except (FileNotFoundError, ProcessLookupError):
        raise TcpqError(f"{what} not found (see `ip netns list` or `tcpq status --netns all`)") from None
    except PermissionError:
        if not spec.isdigit():
            raise PermissionDenied(f"cannot see the network namespace of {what}: run as root") from None
        # Another user's process: its namespace cannot be identified, but /proc/PID/net is readable.
        ref = NetnsRef(UNKNOWN_INODE, str(path), None, int(spec), None, None, is_self=False)
        return _labelled(ref, proc_root)
    refs, _ = list_netns_report(proc_root, run_netns)
    match = next((ref for ref in refs if ref.inode == inode), None)
    if match is None:  # gone between the two looks
        raise NetnsGone(f"{what} disappeared while being looked up")
    return match


def proc_net_for(ref: NetnsRef, proc_root: Path = Path("/proc")) -> Path | None:
    """/proc/PID/net of a process in the namespace (no privilege or setns needed), or None.

    The pid is checked to still be in the namespace; a caller getting None (no process in it,
    or the process gone) enters it with `run_in_netns` and reads /proc/thread-self/net.
    """
    if ref.pid is None:
        return None
    try:
        inode = os.stat(proc_root / str(ref.pid) / "ns" / "net").st_ino
    except (FileNotFoundError, ProcessLookupError):
        # The process exited: its pid may be reused by a process of another namespace.
        return None
    except PermissionError:
        # Unprivileged and not our process: /proc/PID/net is still readable, but whether the pid
        # still belongs to the namespace cannot be checked; a pid reused meanwhile is unlikely.
        return proc_root / str(ref.pid) / "net"
    return proc_root / str(ref.pid) / "net" if inode == ref.inode else None


def _setns(fd: int) -> None:
    if sys.version_info >= (3, 12):
        os.setns(fd, os.CLONE_NEWNET)
        return
    import ctypes  # only here: 1-2 ms of import, paid only when entering another namespace

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))  # OSError picks PermissionError for EPERM


def _enter(ref: NetnsRef) -> None:
    """setns() the calling thread into `ref`, checking the file still opens that namespace."""
    if ref.inode == UNKNOWN_INODE:
        raise PermissionDenied(f"cannot identify the network namespace {_describe(ref)}: run as root")
    try:
        fd = os.open(ref.path, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, ProcessLookupError):
        raise NetnsGone(f"network namespace {_describe(ref)} no longer exists") from None
    except PermissionError:
        raise PermissionDenied(f"cannot open network namespace {_describe(ref)}: run as root") from None
    try:
        if os.fstat(fd).st_ino != ref.inode:  # a pid reused, or a name re-created meanwhile
            raise NetnsGone(f"network namespace {_describe(ref)} no longer exists")
        try:
            _setns(fd)
        except PermissionError:
            raise PermissionDenied(
                f"entering network namespace {_describe(ref)} needs CAP_SYS_ADMIN: run as root"
            ) from None
    finally:
        os.close(fd)


def _describe(ref: NetnsRef) -> str:
    if ref.name is not None:
        return repr(ref.name)
    if ref.pid is not None:
        return f"of process {ref.pid}"
    return f"net:[{ref.inode}]"


def run_in_netns(ref: NetnsRef, fn: Callable[[], T]) -> T:
    """fn() in a fresh thread that entered `ref`: files it opens under /proc/thread-self/net and
    /proc/sys/net, and sockets it creates, belong to that namespace. The thread ends with fn, so
    no thread of the caller ever changes namespace. fn's exceptions propagate as they are."""
    result: list[T] = []
    error: list[BaseException] = []

    def body() -> None:
        try:
            _enter(ref)
            result.append(fn())
        except BaseException as exc:  # handed to the caller's thread, re-raised there
            error.append(exc)

    thread = threading.Thread(target=body, name=f"tcpq-netns-{ref.inode}", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
