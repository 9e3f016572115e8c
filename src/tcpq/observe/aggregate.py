"""Fold a stream of sockets into the few aggregates a Snapshot keeps (memory bounded by them).

The socket dump is consumed once, record by record: nothing per socket is kept except a small
int per owned socket inode (its state) so that processes can be attributed afterwards, and a
bounded heap of the most backed-up established sockets.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from tcpq.kernel.states import STATES, TcpState
from tcpq.observe.processes import ProcessRef
from tcpq.observe.sockets import SockRecord
from tcpq.types import (
    CloseWaitPile,
    Listener,
    PeerCount,
    ProcessInfo,
    ProcessStates,
    QueuedSocket,
)

K = TypeVar("K")
# Established sockets with data waiting are all kept (the doctor counts them and needs their
# endpoints), up to this many: ss shows the same sockets, and 100k of them cost ~30 MB here.
QUEUED_KEEP = 100_000
TOP_PROCESSES = 5  # processes named per CLOSE_WAIT pile-up
TOP_PEERS = 5  # peers named per CLOSE_WAIT pile-up
TOP_DESTINATIONS = 20  # TIME_WAIT destinations kept
ORPHAN_STATES = frozenset({TcpState.FIN_WAIT1, TcpState.FIN_WAIT2, TcpState.CLOSING, TcpState.LAST_ACK})
WILDCARDS = frozenset({"0.0.0.0", "::"})


REMOTE_PORT_PREFIX = "remote "  # states_by_port keys for connections to a port elsewhere


def service_port_key(local: int, remote: int, listening: set[int]) -> str:
    return str(local) if local in listening else f"{REMOTE_PORT_PREFIX}{remote}"


def state_name(state: TcpState) -> str:
    """netstat's name (ESTABLISHED, SYN_RECV ...): what the seeds' awk one-liner counts."""
    return STATES[state].netstat_name


NETSTAT_NAMES: dict[TcpState, str] = {state: state_name(state) for state in STATES}
_LISTEN, _ESTABLISHED, _TIME_WAIT, _CLOSE_WAIT = (
    TcpState.LISTEN,
    TcpState.ESTABLISHED,
    TcpState.TIME_WAIT,
    TcpState.CLOSE_WAIT,
)
_SYN_RECV_STATES = frozenset({TcpState.SYN_RECV, TcpState.NEW_SYN_RECV})


@dataclass
class SocketAggregator:
    # Without `by_inode` no socket other than a listener is remembered by inode (no per-socket
    # state, no CLOSE_WAIT peers): what a view that attributes only listeners, or nothing, needs.
    by_inode: bool = True
    states: Counter[str] = field(default_factory=Counter)
    listeners: list[SockRecord] = field(default_factory=list)
    syn_recv_by_endpoint: Counter[tuple[str, int]] = field(default_factory=Counter)
    inode_state: dict[int, int] = field(default_factory=dict)
    close_wait_peer: dict[int, tuple[str, int, int]] = field(default_factory=dict)  # remote, port, local port
    time_wait_dest: Counter[tuple[str, int]] = field(default_factory=Counter)
    queued: list[SockRecord] = field(default_factory=list)
    queued_seen: int = 0
    # Sockets by service port (see `by_port`): those whose local port already had a listener
    # when they were read, and the others, kept with both ports until every listener is known.
    # The readers dump listeners first per family, so `unplaced` holds mostly client sockets.
    listening_ports: set[int] = field(default_factory=set)
    by_listening_port: Counter[tuple[int, str]] = field(default_factory=Counter)
    unplaced: Counter[tuple[int, int, str]] = field(default_factory=Counter)
    by_remote: Counter[tuple[str, str]] = field(default_factory=Counter)
    orphans: int = 0
    total: int = 0

    def add(self, record: SockRecord) -> None:
        # Runs once per socket (100k on a busy host): the states are compared as module
        # constants and the port count is inlined, each lookup saved is ~30 ms at 100k.
        self.total += 1
        state = record.state
        name = NETSTAT_NAMES[state]
        self.states[name] += 1
        local_port = record.local_port
        if state == _LISTEN:
            self.listening_ports.add(local_port)
            self.by_listening_port[(local_port, name)] += 1
            self.listeners.append(record)
            return
        if local_port in self.listening_ports:
            self.by_listening_port[(local_port, name)] += 1
        else:
            self.unplaced[(local_port, record.remote_port, name)] += 1
        self.by_remote[(record.remote, name)] += 1
        if state == _ESTABLISHED:
            if record.recv_q or record.send_q:
                self._keep_queued(record)
        elif state == _TIME_WAIT:
            self.time_wait_dest[(record.remote, record.remote_port)] += 1
        elif state in _SYN_RECV_STATES:
            self.syn_recv_by_endpoint[(record.local, local_port)] += 1
        elif state == _CLOSE_WAIT and record.inode and self.by_inode:
            self.close_wait_peer[record.inode] = (record.remote, record.remote_port, local_port)
        inode = record.inode
        if inode:
            if self.by_inode:
                self.inode_state[inode] = int(state)
        elif state in ORPHAN_STATES:
            self.orphans += 1

    def add_all(self, records: Iterable[SockRecord]) -> None:
        add = self.add
        for record in records:
            add(record)

    @property
    def by_port(self) -> Counter[tuple[str, str]]:
        """(service port, state) → sockets. The service port is the local port when something
        listens on it in this namespace ("80"), else the remote port ("remote 443"): a client's
        ephemeral port says nothing, the port it talks to does."""
        out: Counter[tuple[str, str]] = Counter()
        for (port, name), count in self.by_listening_port.items():
            out[(str(port), name)] += count
        for (local, remote, name), count in self.unplaced.items():
            out[(service_port_key(local, remote, self.listening_ports), name)] += count
        return out

    def _keep_queued(self, record: SockRecord) -> None:
        self.queued_seen += 1
        if len(self.queued) < QUEUED_KEEP:
            self.queued.append(record)

    def owned_inodes(self) -> set[int]:
        inodes = set(self.inode_state)
        inodes.update(self.listener_inodes())
        return inodes

    def listener_inodes(self) -> set[int]:
        return {record.inode for record in self.listeners if record.inode}


def process_info(ref: ProcessRef) -> ProcessInfo:
    return ProcessInfo(pid=ref.pid, comm=ref.comm, runtime=ref.runtime, stopped=ref.stopped)


def _processes(refs: Iterable[ProcessRef]) -> list[ProcessInfo]:
    return [process_info(ref) for ref in refs]


def syn_recv_for(agg: SocketAggregator, record: SockRecord) -> int:
    """Request socks of a listener: same port, and same address unless it listens on a wildcard."""
    if record.local in WILDCARDS:
        return sum(n for (_, port), n in agg.syn_recv_by_endpoint.items() if port == record.local_port)
    return agg.syn_recv_by_endpoint.get((record.local, record.local_port), 0)


def build_listeners(
    agg: SocketAggregator,
    owners: Mapping[int, list[ProcessRef]],
    netns: str,
    somaxconn: int | None,
    previous_drops: Mapping[tuple[int, str, int], int] | None = None,
    interval_s: float | None = None,
) -> list[Listener]:
    groups = Counter((record.local, record.local_port) for record in agg.listeners)
    group_ids: dict[tuple[str, int], int] = {}
    out: list[Listener] = []
    for record in sorted(agg.listeners, key=lambda r: (r.local_port, r.local, r.cookie)):
        endpoint = (record.local, record.local_port)
        group = 0
        if groups[endpoint] > 1:
            group = group_ids.setdefault(endpoint, len(group_ids) + 1)
        rate = None
        if previous_drops is not None and interval_s and record.drops is not None:
            before = previous_drops.get((record.cookie, record.local, record.local_port))
            if before is not None and record.drops >= before:
                rate = (record.drops - before) / interval_s
        out.append(
            Listener(
                netns=netns,
                address=record.local,
                port=record.local_port,
                accept_queue=record.recv_q,
                accept_queue_limit=record.send_q,
                syn_recv=syn_recv_for(agg, record),
                drops=record.drops,
                drops_per_s=rate,
                processes=_processes(owners.get(record.inode, [])),
                reuseport_group=group,
                clamped_by_somaxconn=somaxconn is not None and record.send_q == somaxconn,
                inode=record.inode,
                cookie=record.cookie,
            )
        )
    return out


def build_process_views(
    agg: SocketAggregator, owners: Mapping[int, list[ProcessRef]]
) -> tuple[list[ProcessStates], list[CloseWaitPile]]:
    per_process: dict[ProcessRef, Counter[str]] = defaultdict(Counter)
    for inode, state in agg.inode_state.items():
        for ref in owners.get(inode, ()):
            per_process[ref][state_name(TcpState(state))] += 1
    for record in agg.listeners:
        for ref in owners.get(record.inode, ()):
            per_process[ref]["LISTEN"] += 1
    states = [
        ProcessStates(pid=ref.pid, comm=ref.comm, states=dict(counts.most_common()))
        for ref, counts in sorted(per_process.items(), key=lambda item: -sum(item[1].values()))
    ]
    return states, close_wait_piles(agg, owners)


@dataclass
class _Pile:
    sockets: int = 0
    peers: Counter[tuple[str, int]] = field(default_factory=Counter)
    ports: Counter[int] = field(default_factory=Counter)
    by_process: Counter[ProcessRef] = field(default_factory=Counter)


def close_wait_piles(agg: SocketAggregator, owners: Mapping[int, list[ProcessRef]]) -> list[CloseWaitPile]:
    """CLOSE_WAIT sockets per program (comm), each socket once: a fork-per-connection server
    leaks one per child, so a count per process never reaches a pile-up."""
    piles: dict[str, _Pile] = defaultdict(_Pile)
    for inode, (remote, remote_port, local_port) in agg.close_wait_peer.items():
        refs = owners.get(inode, [])
        for comm in {ref.comm for ref in refs}:
            pile = piles[comm]
            pile.sockets += 1
            pile.peers[(remote, remote_port)] += 1
            pile.ports[local_port] += 1
        for ref in refs:
            piles[ref.comm].by_process[ref] += 1
    return [
        CloseWaitPile(
            comm=comm,
            count=pile.sockets,
            processes=[process_info(ref) for ref, _ in pile.by_process.most_common(TOP_PROCESSES)],
            process_count=len(pile.by_process),
            peers=[PeerCount(address, port, n) for (address, port), n in pile.peers.most_common(TOP_PEERS)],
            local_ports=[port for port, _ in pile.ports.most_common(TOP_PEERS)],
        )
        for comm, pile in sorted(piles.items(), key=lambda item: -item[1].sockets)
    ]


def build_queued(agg: SocketAggregator, owners: Mapping[int, list[ProcessRef]]) -> list[QueuedSocket]:
    return [
        QueuedSocket(
            local=record.local,
            local_port=record.local_port,
            remote=record.remote,
            remote_port=record.remote_port,
            recv_q=record.recv_q,
            send_q=record.send_q,
            processes=_processes(owners.get(record.inode, [])),
            accepted=bool(record.inode),
        )
        for record in sorted(agg.queued, key=lambda r: -max(r.recv_q, r.send_q))
    ]


def time_wait_destinations(agg: SocketAggregator) -> list[PeerCount]:
    return [
        PeerCount(address, port, n) for (address, port), n in agg.time_wait_dest.most_common(TOP_DESTINATIONS)
    ]


def unowned_states(agg: SocketAggregator, owners: Mapping[int, list[ProcessRef]]) -> dict[str, int]:
    """State counts of the sockets no process holds: TIME_WAIT, request socks, children not yet
    accepted, orphans, and those whose owner could not be read. Each socket counts once, however
    many processes share it, so these and the owned sockets add up to the state totals."""
    owned: Counter[str] = Counter()
    for inode, state in agg.inode_state.items():
        if owners.get(inode):
            owned[state_name(TcpState(state))] += 1
    owned["LISTEN"] += sum(1 for record in agg.listeners if record.inode and owners.get(record.inode))
    left = {name: count - owned[name] for name, count in agg.states.most_common()}
    return {name: count for name, count in left.items() if count > 0}


def nested(counts: Counter[tuple[K, str]]) -> dict[str, dict[str, int]]:
    """{(key, state): n} → {key: {state: n}}, every key, those with most sockets first (the
    views cap what they show, and say how much they left out)."""
    totals: Counter[str] = Counter()
    grouped: dict[str, dict[str, int]] = {}
    for (key, state), count in counts.items():
        totals[str(key)] += count
        grouped.setdefault(str(key), {})[state] = count
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return {key: dict(sorted(grouped[key].items(), key=lambda item: -item[1])) for key, _ in ranked}
