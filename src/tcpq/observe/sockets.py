"""One record per TCP socket, as `ss -tan` lists it, and the /proc/net/tcp{,6} fallback reader.

Both readers (this module's /proc parser and `observe.inet_diag`) yield the same `SockRecord`,
so everything downstream is indifferent to where a socket was seen. The /proc text is the
fallback: it is slower to produce in the kernel, has no socket cookie, no per-listener drop
counter and no listen backlog (kernel-model §10.3).
"""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Generic, ParamSpec, TypeVar, cast

from tcpq.kernel.states import TcpState
from tcpq.records import frozen

# Address text is cached per reader call (AddressNames): a host has few distinct local
# addresses and the remote side repeats too, so formatting each address once saves most of the
# per-socket cost.
ADDRESS_CACHE_MAX = 65536


@frozen(slots=True)
class SockRecord:
    """One TCP socket (full, request or TIME_WAIT) in one network namespace.

    Queues as `ss` shows them (kernel-model §10.1): for LISTEN, recv_q is the accept queue and
    send_q the backlog (0 from /proc, which does not show it); otherwise unread bytes and
    unacknowledged + unsent bytes. inode is 0 for request socks, TIME_WAIT entries and children
    still waiting in an accept queue (no file yet). cookie is 0 from /proc; drops (sk_drops) is
    read for listeners from netlink only, None otherwise. timer and retrans are inet_diag's
    idiag_timer/idiag_retrans, the "tr" and "retrnsmt" columns of /proc.
    """

    family: int
    state: TcpState
    local: str
    local_port: int
    remote: str
    remote_port: int
    recv_q: int
    send_q: int
    inode: int
    uid: int
    cookie: int
    drops: int | None
    timer: int
    retrans: int


class UnfrozenSockRecord:
    """The same slot layout as SockRecord with a plain __init__ that ends by making the
    instance a SockRecord (see `new_record`): nothing ever holds an UnfrozenSockRecord."""

    __slots__ = SockRecord.__slots__

    def __init__(
        self,
        family: int,
        state: TcpState,
        local: str,
        local_port: int,
        remote: str,
        remote_port: int,
        recv_q: int,
        send_q: int,
        inode: int,
        uid: int,
        cookie: int,
        drops: int | None,
        timer: int,
        retrans: int,
    ) -> None:
        self.family = family
        self.state = state
        self.local = local
        self.local_port = local_port
        self.remote = remote
        self.remote_port = remote_port
        self.recv_q = recv_q
        self.send_q = send_q
        self.inode = inode
        self.uid = uid
        self.cookie = cookie
        self.drops = drops
        self.timer = timer
        self.retrans = retrans
        self.__class__ = SockRecord  # type: ignore[assignment]


_Fields = ParamSpec("_Fields")


def _builds_records(cls: Callable[_Fields, UnfrozenSockRecord]) -> Callable[_Fields, SockRecord]:
    """The twin class as what it is: a constructor of SockRecords with SockRecord's fields."""
    return cast("Callable[_Fields, SockRecord]", cls)


# SockRecord(...) at a third of the cost, for readers that build one per socket. A frozen
# dataclass sets each field through object.__setattr__ (~14 slow calls); at 100k sockets that
# alone costs more than the kernel's dump. The twin class has the same __slots__ in the same
# order, so CPython allows switching the instance's class once it is filled; the result is an
# ordinary, frozen SockRecord (tests compare it with the slow path).
new_record = _builds_records(UnfrozenSockRecord)

_Raw = TypeVar("_Raw", bound=Hashable)


class AddressNames(dict[_Raw, str], Generic[_Raw]):
    """Address text by the address as the reader got it, formatted on the first lookup.

    A lookup that hits costs one dict subscript; the bound (ADDRESS_CACHE_MAX) keeps memory
    flat on a host talking to millions of peers: a full cache starts again empty.
    """

    __slots__ = ("_format",)

    def __init__(self, format_address: Callable[[_Raw], str]) -> None:
        super().__init__()
        self._format = format_address

    def __missing__(self, raw: _Raw) -> str:
        if len(self) >= ADDRESS_CACHE_MAX:
            self.clear()
        text = self[raw] = self._format(raw)
        return text


# include/net/tcp_states.h numbers → states as `ss` shows them: request socks
# (TCP_NEW_SYN_RECV) are listed as SYN-RECV (kernel-model §10.2); BOUND_INACTIVE is only a
# filter value and never a socket's state, so it is absent (such a line is skipped).
STATE_BY_NUMBER: dict[int, TcpState] = {
    state.value: state for state in TcpState if state not in (TcpState.NEW_SYN_RECV, TcpState.BOUND_INACTIVE)
}
STATE_BY_NUMBER[TcpState.NEW_SYN_RECV.value] = TcpState.SYN_RECV


def address_text(family: int, packed: bytes) -> str:
    """Address as `ss` prints it: inet_ntop, so a v4-mapped IPv6 address reads "::ffff:127.0.0.1"."""
    return socket.inet_ntop(family, packed)


@dataclass
class ParseStats:
    """What a /proc reader saw: lines read and lines skipped as malformed (header excluded)."""

    lines: int = 0
    skipped: int = 0


# One /proc/net/tcp line as net/ipv4/tcp_ipv4.c (get_tcp4_sock, get_openreq4,
# get_timewait4_sock) and net/ipv6/tcp_ipv6.c print it:
#   sl: local:port remote:port st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
# Addresses are the raw in_addr words printed as host-order hex, ports are host-order hex.
_HEX = "[0-9A-Fa-f]"


def _line_pattern(address_digits: int) -> re.Pattern[str]:
    address = f"({_HEX}{{{address_digits}}}):({_HEX}{{4}})"
    return re.compile(
        rf"\s*\d+:\s+{address}\s+{address}\s+({_HEX}{{2}})\s+({_HEX}{{1,8}}):({_HEX}{{1,8}})"
        rf"\s+({_HEX}{{1,2}}):{_HEX}+\s+({_HEX}{{1,8}})\s+(\d{{1,10}})\s+-?\d+\s+(\d{{1,20}})(?:\s|$)"
    )


# Compiled at the first /proc fallback (1.4 ms at import otherwise, on every host command).
_ADDRESS_DIGITS: dict[int, int] = {socket.AF_INET: 8, socket.AF_INET6: 32}


@cache
def _line_by_family(family: int) -> re.Pattern[str]:
    return _line_pattern(_ADDRESS_DIGITS[family])


_HEADER_PREFIX = "sl"


def _proc_address(family: int, digits: str) -> bytes:
    """The packed address from /proc hex: each 32-bit word was printed as a host-order integer."""
    words = [int(digits[index : index + 8], 16) for index in range(0, len(digits), 8)]
    return struct.pack(f"={len(words)}I", *words)


def _proc_address_text(family: int, digits: str) -> str:
    return address_text(family, _proc_address(family, digits))


def _parse_lines(lines: Iterable[str], family: int, stats: ParseStats | None) -> Iterator[SockRecord]:
    if family not in _ADDRESS_DIGITS:
        raise ValueError(f"not an inet family: {family}")
    family = int(family)  # a plain int, as inet_diag gives it, not socket.AddressFamily
    match_line = _line_by_family(family).match
    names = AddressNames(partial(_proc_address_text, family))
    states = STATE_BY_NUMBER
    seen = skipped = 0
    try:
        for line in lines:
            fields = match_line(line)
            if fields is None:
                if not line.lstrip().startswith(_HEADER_PREFIX) and line.strip():
                    skipped += 1
                    seen += 1
                continue
            seen += 1
            local, lport, remote, rport, st, tx, rx, tr, retrans, uid, inode = fields.groups()
            state = states.get(int(st, 16))
            if state is None:  # a state number this tcpq does not know: skip, never guess
                skipped += 1
                continue
            yield new_record(
                family,
                state,
                names[local],
                int(lport, 16),
                names[remote],
                int(rport, 16),
                int(rx, 16),
                int(tx, 16),
                int(inode),
                int(uid),
                0,
                None,
                int(tr, 16),
                int(retrans, 16),
            )
    finally:
        if stats is not None:
            stats.lines += seen
            stats.skipped += skipped


def parse_proc_net_tcp(text: str, family: int, *, stats: ParseStats | None = None) -> Iterator[SockRecord]:
    """Records from the text of /proc/net/tcp (AF_INET) or /proc/net/tcp6 (AF_INET6).

    Tolerant by design: the header, blank lines, lines cut short by a read racing the
    kernel and lines with an unknown state are skipped (and counted in `stats`), never raised.
    For LISTEN, recv_q is the accept queue but send_q is 0: /proc does not show the backlog.
    """
    return _parse_lines(text.splitlines(), family, stats)


# /proc/net/tcp* is produced a page at a time by seq_file; a large read buffer makes one
# read() return many pages (fewer syscalls), while iterating lines keeps memory bounded.
_PROC_READ_BUFFER = 1 << 20
_PROC_FILES = (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6))


def read_proc_net_tcp(
    proc_net: Path = Path("/proc/net"), *, stats: ParseStats | None = None
) -> Iterator[SockRecord]:
    """Every TCP socket of the namespace behind `proc_net` (e.g. /proc/PID/net), IPv4 first.

    A missing tcp6 (IPv6 disabled) is skipped; a missing tcp raises FileNotFoundError, which
    is also what a vanished /proc/PID gives the caller to catch.
    """
    for name, family in _PROC_FILES:
        try:
            handle = open(  # noqa: SIM115 - closed by the with below, after the ENOENT check
                proc_net / name, encoding="ascii", errors="replace", buffering=_PROC_READ_BUFFER
            )
        except FileNotFoundError:
            if family == socket.AF_INET6:  # kernel without IPv6: no tcp6 file
                continue
            raise
        with handle:
            yield from _parse_lines(handle, family, stats)
