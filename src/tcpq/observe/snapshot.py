"""Assemble a Snapshot of one network namespace from the readers, and rates between two.

Privileged: the namespace is entered in a helper thread (netlink inet_diag with per-listener
drops, counters, sysctls). Unprivileged, another namespace is read through /proc/PID/net of a
process inside it (sockets from /proc/net/tcp*, counters; no drops, no sysctls), and the
snapshot says so in `notes`.

Naming the processes behind sockets costs a readlink per fd of every process on the host,
more than reading the sockets themselves, so a snapshot attributes only what its view shows
(`Attribution`): every socket, the listeners, or none.

`take_snapshot` is a thin shell: `read_tree` reads the /proc trees it is given, the clock is
passed in, and `assemble` is a pure function of the readings, so tests build snapshots through
the same code from canned trees or records.
"""

import os
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

from tcpq.errors import PermissionDenied, TcpqError
from tcpq.kernel.sysctls import SYSCTLS
from tcpq.observe import aggregate
from tcpq.observe.holder_search import HolderSearch, holder_search
from tcpq.observe.inet_diag import dump_tcp
from tcpq.observe.netns import NetnsRef, proc_net_for, run_in_netns
from tcpq.observe.processes import ProcessMap, ProcessRef, holders, unreadable_processes
from tcpq.observe.procfs import read_counters, read_sysctls
from tcpq.observe.sockets import ParseStats, read_proc_net_tcp
from tcpq.types import Listener, Rates, Snapshot, Source

THREAD_NET = Path("/proc/thread-self/net")
PROC_SYS = Path("/proc/sys")  # shows the namespace of the thread that opens a file under it


class Attribution(StrEnum):
    """Which sockets a snapshot names the processes of; each one named has all its holders."""

    ALL = "all"  # every socket: states --by process, doctor (CLOSE_WAIT piles, queued sockets)
    LISTENERS = "listeners"  # the listeners alone: status, whose other sockets show no owner
    NONE = "none"  # no process is read: views that show no owner (states --by state, counters)


class Instant(NamedTuple):
    """When a sample was taken: monotonic seconds (for intervals) and wall-clock seconds."""

    monotonic_s: float
    wall_s: float


Clock = Callable[[], Instant]


def host_clock() -> Instant:
    return Instant(time.monotonic(), time.time())


@dataclass
class Readings:
    """What was read of one namespace, before any process is named: its sockets (folded as
    they were read), counters, sysctls ({} where they cannot be read), and notes on what is
    missing."""

    agg: aggregate.SocketAggregator
    counters: dict[str, int]
    sysctl: dict[str, int | tuple[int, int]]
    notes: list[str] = field(default_factory=list)


def _skipped_note(stats: ParseStats, what: str, missing: str) -> list[str]:
    if not stats.skipped:
        return []
    return [
        f"{stats.skipped} of {stats.lines} lines of {what} could not be parsed and were skipped: {missing}"
    ]


def _sockets(
    proc_net: Path, by_inode: bool, netlink: bool, lines: ParseStats, notes: list[str]
) -> aggregate.SocketAggregator:
    agg = aggregate.SocketAggregator(by_inode=by_inode)
    if netlink:
        try:
            agg.add_all(dump_tcp())
            return agg
        except (PermissionDenied, OSError) as exc:
            # No sock_diag here (module missing, seccomp): /proc/net/tcp has everything but drops.
            notes.append(f"netlink inet_diag unavailable ({exc}); read /proc/net/tcp*, no per-listener drops")
            agg = aggregate.SocketAggregator(by_inode=by_inode)
    agg.add_all(read_proc_net_tcp(proc_net, stats=lines))
    return agg


def read_tree(proc_net: Path, proc_sys: Path | None, *, by_inode: bool, netlink: bool) -> Readings:
    """Read one namespace from its /proc trees: sockets by netlink inet_diag when `netlink` (the
    calling thread's namespace), else or when that fails from `proc_net`/tcp*; counters from
    `proc_net`; sysctls from `proc_sys`, none when it is None (not readable from outside).
    Lines of /proc that cannot be parsed are skipped, and the notes say how many."""
    notes: list[str] = []
    socket_lines, counter_lines = ParseStats(), ParseStats()
    agg = _sockets(proc_net, by_inode, netlink, socket_lines, notes)
    sysctl = read_sysctls(SYSCTLS, proc_sys) if proc_sys is not None else {}
    counters = read_counters(proc_net, stats=counter_lines)
    notes += _skipped_note(socket_lines, f"{proc_net}/tcp, tcp6", "those sockets are not counted")
    notes += _skipped_note(counter_lines, f"{proc_net}/netstat, snmp", "the counters on them are missing")
    return Readings(agg, counters, sysctl, notes)


def _read_inside(by_inode: bool) -> Readings:
    return read_tree(THREAD_NET, PROC_SYS, by_inode=by_inode, netlink=True)


def _read_from_outside(proc_net: Path, by_inode: bool) -> Readings:
    readings = read_tree(proc_net, None, by_inode=by_inode, netlink=False)
    readings.notes.insert(
        0,
        "not privileged to enter this namespace: sockets from /proc/PID/net/tcp*, "
        "no per-listener drops, no sysctls",
    )
    return readings


def netns_label(ref: NetnsRef | None) -> str:
    if ref is None or ref.is_self:
        return "self"
    if ref.name:
        return ref.name
    if ref.pid is not None:
        label = f"pid {ref.pid} ({ref.comm})" if ref.comm else f"pid {ref.pid}"
        return f"{label} {ref.container}" if ref.container else label
    return f"net:[{ref.inode}]"


def _gather(ref: NetnsRef | None, by_inode: bool) -> Readings:
    if ref is None or ref.is_self:
        return _read_inside(by_inode)
    fn: Callable[[], Readings] = lambda: _read_inside(by_inode)  # noqa: E731
    try:
        return run_in_netns(ref, fn)
    except PermissionDenied:
        proc_net = proc_net_for(ref)
        if proc_net is None:
            raise
        return _read_from_outside(proc_net, by_inode)


def _owners(
    agg: aggregate.SocketAggregator,
    process_map: ProcessMap | None,
    attribution: Attribution,
    search: HolderSearch | None,
) -> tuple[dict[int, list[ProcessRef]], int]:
    """Socket inode → holders for the sockets `attribution` names, and the processes unread."""
    if attribution is Attribution.NONE:
        return {}, unreadable_processes()  # the snapshot's note on them stays the same
    inodes = agg.owned_inodes() if attribution is Attribution.ALL else agg.listener_inodes()
    if process_map is None:  # one sample: nothing to cache, one pass keeping only the matches
        found = holders(inodes) if search is None else search.holders(inodes)
        return found.owners, found.unreadable
    return process_map.owners(inodes), process_map.unreadable


def take_snapshot(
    ref: NetnsRef | None,
    process_map: ProcessMap | None,
    previous: Snapshot | None = None,
    attribution: Attribution = Attribution.ALL,
    *,
    clock: Clock = host_clock,
    search: HolderSearch | None = None,
) -> Snapshot:
    """One sample of a namespace; with `previous`, listener drops become rates. `process_map`
    caches between samples; None reads the processes once, for this sample only. Sockets that
    `attribution` leaves out show no owner, and the views of owners (states per process, CLOSE_WAIT
    piles, sockets without a process) are left empty (None for the last) rather than wrong.
    `search`: a HolderSearch the caller started earlier, whose walk is under way (its one answer
    is this snapshot's)."""
    # One sample that names the listeners' processes: walk the fds on another CPU while the
    # sockets are read. (Not for every socket: sending 100k owners back costs what it saves.)
    searching = process_map is None and attribution is Attribution.LISTENERS
    if not searching:
        walk: AbstractContextManager[HolderSearch | None] = nullcontext()
    elif search is not None:
        walk = nullcontext(search)  # the caller's, closed by the caller
    else:
        walk = holder_search()
    with walk as walking:
        readings = _gather(ref, by_inode=attribution is Attribution.ALL)
        at = clock()
        owners, unreadable = _owners(readings.agg, process_map, attribution, walking)
    return assemble(
        readings,
        netns=netns_label(ref),
        kernel_release=os.uname().release,  # platform.release(), without importing platform
        at=at,
        owners=owners,
        unreadable=unreadable,
        previous=previous,
        attribution=attribution,
    )


def assemble(
    readings: Readings,
    *,
    netns: str,
    kernel_release: str,
    at: Instant,
    owners: Mapping[int, list[ProcessRef]],
    unreadable: int = 0,
    previous: Snapshot | None = None,
    attribution: Attribution = Attribution.ALL,
) -> Snapshot:
    """The Snapshot of what was read, taken `at`, its sockets' holders being `owners` (those
    `attribution` names; ALL needs readings folded by inode). Pure: no clock, no I/O."""
    agg = readings.agg
    every = attribution is Attribution.ALL
    somaxconn = readings.sysctl.get("net.core.somaxconn")
    previous_drops = None
    interval = None
    if previous is not None:
        previous_drops = {
            (listener.cookie, listener.address, listener.port): listener.drops
            for listener in previous.listeners
            if listener.drops is not None
        }
        interval = at.monotonic_s - previous.monotonic_s
    states_by_process, close_wait = aggregate.build_process_views(agg, owners) if every else ([], [])
    notes = list(readings.notes)
    if unreadable:
        notes.append(f"{unreadable} process(es) could not be read: their sockets show no owner")
    if agg.queued_seen > len(agg.queued):
        notes.append(
            f"{agg.queued_seen} established sockets with data waiting, {len(agg.queued)} kept: "
            "counts of them are lower bounds"
        )
    return Snapshot(
        source=Source.HOST,
        netns=netns,
        kernel_release=kernel_release,
        monotonic_s=at.monotonic_s,
        wall_s=at.wall_s,
        sysctl=readings.sysctl,
        counters=readings.counters,
        states=dict(agg.states.most_common()),
        states_by_process=states_by_process,
        states_by_port=aggregate.nested(agg.by_port),
        states_by_remote=aggregate.nested(agg.by_remote),
        listeners=aggregate.build_listeners(
            agg, owners, netns, somaxconn if isinstance(somaxconn, int) else None, previous_drops, interval
        ),
        close_wait=close_wait,
        time_wait_by_destination=aggregate.time_wait_destinations(agg),
        queued=aggregate.build_queued(agg, owners),
        orphans=agg.orphans,
        sockets_total=agg.total,
        states_without_process=aggregate.unowned_states(agg, owners) if every else None,
        unreadable_processes=unreadable,
        notes=notes,
    )


def rates_between(before: Snapshot, after: Snapshot) -> Rates:
    """Counter deltas per second; a counter that went backwards (netns recreated) is left out."""
    interval = after.monotonic_s - before.monotonic_s
    if interval <= 0:
        raise TcpqError("the two samples are not in time order")
    deltas = {
        name: value - before.counters[name]
        for name, value in after.counters.items()
        if name in before.counters and value >= before.counters[name]
    }
    return Rates(
        interval_s=interval,
        counters_per_s={name: delta / interval for name, delta in deltas.items()},
        counter_deltas=deltas,
    )


def listeners_by_endpoint(snapshot: Snapshot) -> dict[tuple[str, int], list[Listener]]:
    out: dict[tuple[str, int], list[Listener]] = {}
    for listener in snapshot.listeners:
        out.setdefault((listener.address, listener.port), []).append(listener)
    return out
