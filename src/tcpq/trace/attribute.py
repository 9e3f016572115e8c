"""Event → namespace, listener and owning process, through the sockets each namespace lists.

No event that matters carries a namespace, and the process on the CPU (common_pid) is whoever
was there — ksoftirqd, idle, another program — so neither is used. Instead every namespace's
/proc/net/tcp{,6} is indexed by its pointer column (the same %p hash the events print, when
kptr_restrict=0) and by 4-tuple, listeners by address and port; a socket's owner comes from
the inode through observe's process map. A pointer or tuple not found triggers one re-read of
the tables (rate-limited); what still cannot be told is left None ("unknown"), never guessed.
"""

import socket
import struct
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path

from tcpq.kernel.states import TcpState
from tcpq.observe.netns import NetnsGone, NetnsRef, list_netns, proc_net_for, run_in_netns
from tcpq.observe.processes import ProcessMap
from tcpq.observe.snapshot import netns_label
from tcpq.records import frozen
from tcpq.trace.events import Endpoint, Kind, TraceEvent

WILDCARDS = frozenset({"0.0.0.0", "::"})
MIN_REFRESH_S = 0.5  # a storm of new sockets re-reads the tables at most this often (benchmarks.md)
OWNERS_EVERY_S = 1.0  # clients' owners (thousands of fds to readlink in a storm): once a second
KNOWN_MAX = 200_000  # remembered connection → attribution pairs (events after a socket is gone)
TABLES = (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6))
ALL_FAMILIES = frozenset({socket.AF_INET, socket.AF_INET6})
POINTER_COLUMN = 11  # /proc/net/tcp: sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref ptr
INODE_COLUMN = 9
SERVER_SIDE = frozenset({Kind.SYNACK_RETRANSMIT, Kind.RESET_SENT})


@frozen(slots=True)
class Owner:
    pid: int
    comm: str


@frozen(slots=True)
class ListenerRef:
    netns: str
    address: str
    port: int
    owners: tuple[Owner, ...] = ()


@frozen(slots=True)
class Attribution:
    """`by` says how it was told: "pointer", "tuple", "port" (the only listener on that port in
    any namespace) or "" (unknown)."""

    netns: str | None
    listener: ListenerRef | None
    process: Owner | None
    by: str


UNKNOWN = Attribution(None, None, None, "")


@frozen(slots=True)
class Sock:
    netns: str
    state: int
    local: Endpoint
    remote: Endpoint
    inode: int
    pointer: str | None


def _address(family: int, digits: str) -> str:
    if family == socket.AF_INET:
        return socket.inet_ntop(family, struct.pack("<I", int(digits, 16)))
    words = [int(digits[i : i + 8], 16) for i in range(0, 32, 8)]
    return socket.inet_ntop(family, struct.pack("<4I", *words))


def parse_table(text: str, family: int, netns: str) -> list[Sock]:
    """/proc/net/tcp or tcp6 → sockets with their pointer (None when the column is all zeros,
    as kptr_restrict=2 prints it). Lines that do not parse are skipped (a table read while
    sockets come and go can end mid-line)."""
    socks = []
    names: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) <= POINTER_COLUMN:
            continue
        try:
            local_hex, local_port = fields[1].split(":")
            remote_hex, remote_port = fields[2].split(":")
            local = names.get(local_hex) or names.setdefault(local_hex, _address(family, local_hex))
            remote = names.get(remote_hex) or names.setdefault(remote_hex, _address(family, remote_hex))
            pointer = fields[POINTER_COLUMN]
            socks.append(
                Sock(
                    netns,
                    int(fields[3], 16),
                    Endpoint(local, int(local_port, 16)),
                    Endpoint(remote, int(remote_port, 16)),
                    int(fields[INODE_COLUMN]),
                    None if set(pointer) == {"0"} else pointer,
                )
            )
        except (ValueError, struct.error, OSError):
            continue
    return socks


# The fast path: a storm keeps 10,000+ sockets in a table and a re-read finds mostly the same
# ones, so each line is split once (bytes) and its five columns that matter are the key of a
# cache of the Socks already made; only new lines are decoded. On a table of 12,600 SYN_SENT
# sockets (bench/trace_storm.py's namespace, 1.9 MB): parse_table 48-59 ms, this 25-28 ms
# once the cache is warm (61 ms cold), the kernel's own read of the file 25 ms; any other
# namespace's table costs the kernel ≈5 ms then (it walks the shared hash), hence `families`.
LineKey = tuple[bytes, bytes, bytes, bytes, bytes]  # local, remote, state, inode, pointer


def _sock_of(key: LineKey, family: int, netns: str, names: dict[bytes, str]) -> Sock | None:
    local_field, remote_field, state, inode, pointer = key
    try:
        local_hex, local_port = local_field.split(b":")
        remote_hex, remote_port = remote_field.split(b":")
        local = names.get(local_hex) or names.setdefault(local_hex, _address(family, local_hex.decode()))
        remote = names.get(remote_hex) or names.setdefault(remote_hex, _address(family, remote_hex.decode()))
        return Sock(
            netns,
            int(state, 16),
            Endpoint(local, int(local_port, 16)),
            Endpoint(remote, int(remote_port, 16)),
            int(inode),
            None if not pointer.strip(b"0") else pointer.decode(),
        )
    except (ValueError, struct.error, OSError, UnicodeDecodeError):
        return None


def parse_table_bytes(
    data: bytes, family: int, netns: str, cache: dict[LineKey, Sock] | None = None
) -> list[Sock]:
    """`parse_table` on the file's bytes, the same sockets in the same order. `cache` (one per
    namespace and table) maps the lines' key columns to the Socks of the previous read: they are
    reused, and the cache is left holding this read's lines only (bounded by the table)."""
    previous = cache if cache is not None else {}
    current: dict[LineKey, Sock] = {}
    names: dict[bytes, str] = {}
    socks = []
    for line in data.split(b"\n")[1:]:
        fields = line.split()
        if len(fields) <= POINTER_COLUMN:
            continue
        key = (fields[1], fields[2], fields[3], fields[INODE_COLUMN], fields[POINTER_COLUMN])
        sock = previous.get(key) or current.get(key) or _sock_of(key, family, netns, names)
        if sock is None:
            continue
        current[key] = sock
        socks.append(sock)
    if cache is not None:
        cache.clear()
        cache.update(current)
    return socks


def _read_tables(proc_net: Path, families: Collection[int] = ALL_FAMILIES) -> dict[int, bytes]:
    texts: dict[int, bytes] = {}
    for name, family in TABLES:
        if family not in families:
            continue
        try:
            with open(proc_net / name, "rb", buffering=0) as handle:
                texts[family] = handle.read()
        except FileNotFoundError:
            continue  # no IPv6 in this kernel, or the process left meanwhile
    return texts


TableCache = dict[tuple[str, int], dict[LineKey, Sock]]


def read_tables(
    ref: NetnsRef, families: Collection[int] = ALL_FAMILIES, cache: TableCache | None = None
) -> dict[int, list[Sock]]:
    """The TCP sockets of one namespace by table (family), read from outside through a process
    in it when there is one, else from a thread that entered it."""
    label = netns_label(ref)
    proc_net = None if ref.is_self else proc_net_for(ref)
    if ref.is_self:
        texts = _read_tables(Path("/proc/self/net"), families)
    elif proc_net is not None:
        texts = _read_tables(proc_net, families)
    else:
        texts = run_in_netns(ref, lambda: _read_tables(Path("/proc/thread-self/net"), families))
    return {
        family: parse_table_bytes(
            data, family, label, None if cache is None else cache.setdefault((label, family), {})
        )
        for family, data in texts.items()
    }


def read_namespace(ref: NetnsRef) -> list[Sock]:
    """Every TCP socket of one namespace."""
    return [sock for socks in read_tables(ref).values() for sock in socks]


def _matches(listener: Sock, endpoint: Endpoint) -> bool:
    return listener.local.port == endpoint.port and (
        listener.local.address == endpoint.address
        or listener.local.address in WILDCARDS
        or listener.local.address.removeprefix("::ffff:") == endpoint.address.removeprefix("::ffff:")
    )


def _families(events: Iterable[TraceEvent]) -> frozenset[int]:
    """The tables these events' sockets are in: tcp6 for an IPv6 (or v4-mapped) tuple, tcp for
    an IPv4 one, both for an event that names only a pointer (a drop's rx_sk)."""
    families: set[int] = set()
    for event in events:
        end = event.local or event.remote
        if end is None:
            return ALL_FAMILIES
        families.add(socket.AF_INET6 if ":" in end.address else socket.AF_INET)
        if len(families) == len(ALL_FAMILIES):
            break
    return frozenset(families)


class SocketIndex:
    """The sockets of the namespaces in scope, re-read when an event names one not seen yet.

    A re-read reads only the tables (tcp, tcp6) the unknown events can be in, keeps the others
    from before, and reuses the Socks of lines already seen (`parse_table_bytes`)."""

    def __init__(
        self,
        use_pointers: bool,
        namespaces: Callable[[], Sequence[NetnsRef]] = list_netns,
        reader: Callable[[NetnsRef], list[Sock]] | None = None,
        process_map: ProcessMap | None = None,
    ) -> None:
        self.use_pointers = use_pointers
        self._namespaces = namespaces
        self._reader = reader
        self._pmap = process_map or ProcessMap()
        self._cache: TableCache = {}
        self._tables: dict[tuple[str, int], list[Sock]] = {}  # (netns, family; 0: all) → sockets
        self._by_pointer: dict[str, Sock] = {}
        self._by_tuple: dict[tuple[Endpoint, Endpoint], list[Sock]] = {}
        self._listeners: list[Sock] = []
        self._owners: dict[int, tuple[Owner, ...]] = {}
        self._known: dict[tuple[Endpoint, Endpoint], Attribution] = {}
        self._refreshed = -MIN_REFRESH_S
        self._owners_read = -OWNERS_EVERY_S
        self.refreshes = 0

    def _read(self, ref: NetnsRef, families: frozenset[int]) -> dict[tuple[str, int], list[Sock]]:
        label = netns_label(ref)
        if self._reader is not None:
            return {(label, 0): self._reader(ref)}
        return {(label, family): socks for family, socks in read_tables(ref, families, self._cache).items()}

    def refresh(self, families: frozenset[int] = ALL_FAMILIES) -> None:
        tables: dict[tuple[str, int], list[Sock]] = {}
        labels = set()
        for ref in self._namespaces():
            labels.add(netns_label(ref))
            try:
                tables.update(self._read(ref, families))
            except (NetnsGone, PermissionError, FileNotFoundError, ProcessLookupError):
                continue  # gone between listing and reading, or not ours to enter
        kept = {key: socks for key, socks in self._tables.items() if key[0] in labels and key not in tables}
        self._tables = {**kept, **tables}
        self._cache = {key: lines for key, lines in self._cache.items() if key[0] in labels}
        by_pointer: dict[str, Sock] = {}
        by_tuple: dict[tuple[Endpoint, Endpoint], list[Sock]] = {}
        listeners = []
        for socks in self._tables.values():
            for sock in socks:
                if sock.pointer is not None:
                    by_pointer[sock.pointer] = sock
                if sock.state == TcpState.LISTEN:
                    listeners.append(sock)
                else:
                    by_tuple.setdefault((sock.local, sock.remote), []).append(sock)
        self._by_pointer, self._by_tuple, self._listeners = by_pointer, by_tuple, listeners
        # New listeners' owners at every re-read; every socket's (a client's SYN retransmission
        # names its program, a listener may change hands) once a second: in a storm each look
        # walks thousands of fds.
        now = time.monotonic()
        inodes = [sock.inode for sock in listeners if sock.inode not in self._owners]
        if now - self._owners_read >= OWNERS_EVERY_S:
            inodes = [sock.inode for sock in listeners]
            inodes += [sock.inode for socks in by_tuple.values() for sock in socks]
            self._owners_read = now
        owners = self._pmap.owners(inodes) if inodes else {}
        # An inode nobody was found holding (a listener of a process out of sight) is asked
        # again at the next full look only: each look is a walk over every process's fds.
        self._owners.update((inode, ()) for inode in inodes)
        self._owners.update(
            (inode, tuple(Owner(ref.pid, ref.comm) for ref in refs)) for inode, refs in owners.items()
        )
        if len(self._owners) > KNOWN_MAX:
            self._owners = {inode: self._owners[inode] for inode in inodes if inode in self._owners}
        self._refreshed = now
        self.refreshes += 1

    @property
    def listeners(self) -> list[Sock]:
        return self._listeners

    def _listener_ref(self, sock: Sock) -> ListenerRef:
        return ListenerRef(sock.netns, sock.local.address, sock.local.port, self._owners.get(sock.inode, ()))

    def _listener_for(self, endpoint: Endpoint, netns: str | None) -> Sock | None:
        """The listener an endpoint reaches: in `netns` if given, else the only one anywhere."""
        found = [
            sock
            for sock in self._listeners
            if (netns is None or sock.netns == netns) and _matches(sock, endpoint)
        ]
        exact = [sock for sock in found if sock.local.address == endpoint.address]
        chosen = exact or found
        return chosen[0] if len(chosen) == 1 else None

    def _from_sock(self, sock: Sock, by: str) -> Attribution:
        if sock.state == TcpState.LISTEN:
            ref = self._listener_ref(sock)
            return Attribution(sock.netns, ref, ref.owners[0] if ref.owners else None, by)
        server = sock.state != TcpState.SYN_SENT and self._listener_for(sock.local, sock.netns)
        if server:
            ref = self._listener_ref(server)
            return Attribution(sock.netns, ref, ref.owners[0] if ref.owners else None, by)
        target = self._listener_for(sock.remote, sock.netns) or self._listener_for(sock.remote, None)
        owners = self._owners.get(sock.inode, ())
        listener = self._listener_ref(target) if target else None
        return Attribution(sock.netns, listener, owners[0] if owners else None, by)

    def _lookup(self, event: TraceEvent) -> Attribution | None:
        """From the tables as they are, or None when the event names a socket not in them."""
        if self.use_pointers and event.sk is not None:
            sock = self._by_pointer.get(event.sk)
            if sock is not None:
                return self._from_sock(sock, "pointer")
        key = (event.local, event.remote) if event.local and event.remote else None
        if key is not None and event.remote is not None and event.remote.port:
            candidates = self._by_tuple.get(key)
            if candidates is not None and len({sock.netns for sock in candidates}) == 1:
                return self._from_sock(candidates[0], "tuple")
            known = self._known.get(key)
            if known is not None:
                return known
        return None

    def _by_port(self, event: TraceEvent) -> Attribution:
        endpoints = [event.local] if event.kind in SERVER_SIDE else [event.remote, event.local]
        for endpoint in endpoints:
            if endpoint is not None and endpoint.port:
                listener = self._listener_for(endpoint, None)
                if listener is not None:
                    ref = self._listener_ref(listener)
                    return Attribution(listener.netns, ref, ref.owners[0] if ref.owners else None, "port")
        return UNKNOWN

    def _remember(self, event: TraceEvent, found: Attribution) -> None:
        if event.local is None or event.remote is None or not event.remote.port or found.netns is None:
            return
        if len(self._known) >= KNOWN_MAX:
            self._known.clear()
        self._known[(event.local, event.remote)] = found

    def ready(self, events: Sequence[TraceEvent]) -> bool:
        """Whether `attribute` can settle these now: all are known, or a re-read is allowed. A
        batch that is not ready waits for the next one (its events are held back, in order)."""
        if time.monotonic() - self._refreshed >= MIN_REFRESH_S:
            return True
        return all(self._lookup(event) is not None for event in events)

    def attribute(self, events: Iterable[TraceEvent]) -> list[Attribution]:
        """One attribution per event, in order; one table re-read at most for the whole batch."""
        batch = list(events)
        found: list[Attribution | None] = [self._lookup(event) for event in batch]
        unknown = [event for item, event in zip(found, batch, strict=True) if item is None]
        if unknown and time.monotonic() - self._refreshed >= MIN_REFRESH_S:
            self.refresh(_families(unknown))
            found = [
                item if item is not None else self._lookup(event)
                for item, event in zip(found, batch, strict=True)
            ]
        result = []
        for item, event in zip(found, batch, strict=True):
            attribution = item if item is not None else self._by_port(event)
            self._remember(event, attribution)
            result.append(attribution)
        return result
