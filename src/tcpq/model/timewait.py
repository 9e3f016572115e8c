"""TIME_WAIT: the bucket limit, FIN_WAIT2 of orphans, tcp_tw_reuse and ephemeral ports.

Mirrors net/ipv4/tcp_minisocks.c: tcp_time_wait(), net/ipv4/inet_timewait_sock.c:
inet_twsk_alloc()/inet_twsk_schedule(), net/ipv4/tcp_ipv4.c: tcp_twsk_unique(),
net/ipv4/inet_hashtables.c: __inet_hash_connect() (kernel-model §8).
"""

from dataclasses import dataclass, field
from enum import StrEnum

from tcpq.model import mib
from tcpq.model.constants import TCP_TIMEWAIT_LEN_US, TW_KILL_THRESHOLD_US
from tcpq.model.netns import Netns


class TwSubstate(StrEnum):
    FIN_WAIT2 = "FIN_WAIT2"  # orphaned FIN_WAIT2 held as a timewait sock (§8.4)
    TIME_WAIT = "TIME_WAIT"


class TimeWait:
    """One inet_timewait_sock; `key` is the local port for clients, a connection id otherwise.

    A plain class, not a dataclass: the compiled core builds one per closed connection,
    and a dataclass's `__init__` stays interpreted Python there (`dataclasses` writes it
    at import)."""

    __slots__ = ("created_us", "expires_us", "has_timestamps", "key", "loopback", "substate")

    def __init__(
        self,
        key: int,
        created_us: int,
        expires_us: int,
        substate: TwSubstate,
        has_timestamps: bool = True,
        loopback: bool = True,
    ) -> None:
        self.key = key
        self.created_us = created_us
        self.expires_us = expires_us
        self.substate = substate
        self.has_timestamps = has_timestamps
        self.loopback = loopback


@dataclass(slots=True)
class TwTable:
    """Timewait socks of one local address (or of a server's connections), by key."""

    entries: dict[int, TimeWait] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)


def inet_twsk_schedule(ns: Netns, timeout_us: int) -> None:
    """Arming a TW timer counts TW (> 4 s) or TWKilled (<= 4 s), not its expiry (kernel-model §8.3)."""
    ns.counters[mib.TW_KILLED if timeout_us <= TW_KILL_THRESHOLD_US else mib.TW] += 1


def tcp_time_wait(
    ns: Netns,
    table: TwTable,
    *,
    key: int,
    now: int,
    substate: TwSubstate,
    has_timestamps: bool = True,
    loopback: bool = True,
) -> TimeWait | None:
    """Replace a closing socket by a timewait sock, or close it when the table is full (§8.2).

    None means TCPTimeWaitOverflow: the socket is simply gone, and a later segment for its
    4-tuple is answered with a RST.
    """
    if ns.tw_count >= ns.settings.max_tw_buckets:
        ns.counters[mib.TIMEWAIT_OVERFLOW] += 1
        return None
    timeout = ns.settings.fin_timeout_us if substate is TwSubstate.FIN_WAIT2 else TCP_TIMEWAIT_LEN_US
    inet_twsk_schedule(ns, timeout)
    entry = TimeWait(
        key=key,
        created_us=now,
        expires_us=now + timeout,
        substate=substate,
        has_timestamps=has_timestamps,
        loopback=loopback,
    )
    table.entries[key] = entry
    ns.tw_count += 1
    return entry


def tcp_timewait_fin(tw: TimeWait, now: int) -> None:
    """The peer's FIN reaches a FIN_WAIT2 timewait sock: TIME_WAIT for TCP_TIMEWAIT_LEN (§8.1)."""
    tw.substate = TwSubstate.TIME_WAIT
    tw.expires_us = now + TCP_TIMEWAIT_LEN_US


def inet_twsk_expired(ns: Netns, table: TwTable, key: int, now: int) -> bool:
    """Remove the entry if its timer is due (it may have been re-armed); True when removed."""
    tw = table.entries.get(key)
    if tw is None or tw.expires_us > now:
        return False
    del table.entries[key]
    ns.tw_count -= 1
    return True


def tcp_twsk_unique(ns: Netns, tw: TimeWait, now: int, *, explicit_bind: bool = False) -> bool:
    """May connect() take over this timewait 4-tuple? (kernel-model §8.5)."""
    if tw.substate is TwSubstate.FIN_WAIT2 or not tw.has_timestamps:
        return False
    if explicit_bind:
        return True
    mode = ns.settings.tw_reuse
    if mode == 0 or (mode == 2 and not tw.loopback):
        return False
    return now - tw.created_us > ns.settings.tw_reuse_delay_us


@dataclass(slots=True)
class PortSpace:
    """Ephemeral ports towards one destination: live sockets and timewait entries hold them."""

    low: int
    high: int
    live: set[int] = field(default_factory=set)
    next_port: int = 0

    @property
    def size(self) -> int:
        return self.high - self.low + 1


def inet_hash_connect(ns: Netns, ports: PortSpace, table: TwTable, now: int) -> int | None:
    """Pick a local port for connect(); None = EADDRNOTAVAIL (kernel-model §8.5).

    A free port is preferred; otherwise the oldest reusable timewait entry is taken over
    (TWRecycled +1). The kernel scans from a hashed offset, so *which* port it takes differs,
    but whether one exists does not.
    """
    if len(ports.live) + len(table) < ports.size:
        for _ in range(ports.size):
            candidate = ports.low + ports.next_port
            ports.next_port = (ports.next_port + 1) % ports.size
            if candidate not in ports.live and candidate not in table.entries:
                ports.live.add(candidate)
                return candidate
    if ns.settings.tw_reuse == 0:
        return None
    for key, tw in table.entries.items():
        if now - tw.created_us <= ns.settings.tw_reuse_delay_us:
            break  # entries are in creation order: every later one is younger still
        if tw.key not in ports.live and tcp_twsk_unique(ns, tw, now):
            del table.entries[key]
            ns.tw_count -= 1
            ns.counters[mib.TW_RECYCLED] += 1
            ports.live.add(key)
            return key
    return None
