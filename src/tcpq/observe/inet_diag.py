"""A focused NETLINK_SOCK_DIAG reader: every TCP socket of one network namespace, streamed.

What `ss -tan` asks the kernel, without pyroute2 (bench/observe_readers.py: ~50 times faster at
100k sockets, and streaming; see docs/benchmarks.md). Two dumps per family: LISTEN with
INET_DIAG_SKMEMINFO, for the per-listener drop counter (kernel-model §4.4), and every other
state without extensions, so the path that sees almost all sockets parses only fixed fields.
Records are yielded while each receive buffer is parsed: memory stays bounded at any socket
count. Sockets that close mid-dump are simply absent or present; the kernel keeps the walk safe.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Generator, Iterator
from typing import NamedTuple, NoReturn

from tcpq.errors import ParseError, PermissionDenied, TcpqError
from tcpq.kernel.states import TcpState
from tcpq.observe.sockets import (
    STATE_BY_NUMBER,
    AddressNames,
    SockRecord,
    address_text,
    new_record,
)

# include/uapi/linux/netlink.h
NETLINK_SOCK_DIAG = 4
NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4
NLM_F_REQUEST = 0x01
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLMSG_ALIGNTO = 4
NLMSG_HDRLEN = 16  # struct nlmsghdr: len u32, type u16, flags u16, seq u32, pid u32

# include/uapi/linux/sock_diag.h
SOCK_DIAG_BY_FAMILY = 20
# Index in the u32 array of INET_DIAG_SKMEMINFO; older kernels send a shorter array, so (like
# ss, which prints "d" only when the payload reaches it) a short array gives drops None.
SK_MEMINFO_DROPS = 8

# include/uapi/linux/inet_diag.h
INET_DIAG_SKMEMINFO = 7
SKMEMINFO_EXT = 1 << (INET_DIAG_SKMEMINFO - 1)  # idiag_ext bit asking for that attribute
INET_DIAG_MSG_LEN = 72  # struct inet_diag_msg: 4 × u8, inet_diag_sockid (48), 5 × u32
RTA_HDRLEN = 4  # struct rtattr (include/uapi/linux/rtnetlink.h): len u16, type u16

# Replies come in skbs of at most ~32 KiB (netlink_dump caps its allocation), so 1 MiB never
# truncates one; the buffer is reused for every recv, so no allocation per batch.
RECV_BUFFER = 1 << 20
RCVBUF_REQUEST = 1 << 20  # SO_RCVBUF: room for several batches while records are consumed

# struct nlmsghdr + struct inet_diag_req_v2 (sdiag_family, sdiag_protocol, idiag_ext, pad,
# idiag_states, then a zeroed inet_diag_sockid: no filter on addresses, ports or cookie).
_REQUEST = struct.Struct("=IHHII BBBxI 48x")
# struct nlmsghdr (len, type, flags: skipped, seq, pid: skipped) + struct inet_diag_msg
# (family, state, timer, retrans, sport, dport, src, dst, if: skipped, cookie[2], expires:
# skipped, rqueue, wqueue, uid, inode) in one unpack. Ports are big-endian in the message;
# they are read as host-order u16 and byte-swapped below where that differs.
_MESSAGE = struct.Struct("=IHxxI4x BBBB HH 16s16s 4x II 4x IIII")
_NLMSGHDR = struct.Struct("=IHHII")
_ERROR_CODE = struct.Struct("=i")  # NLMSG_ERROR / NLMSG_DONE payload starts with an int
_RTA = struct.Struct("=HH")
_DROPS = struct.Struct("=I")
_SWAP_PORTS = socket.htons(1) != 1

LISTEN_MASK = 1 << TcpState.LISTEN
# Every state a socket can be listed in, except LISTEN (dumped apart) and BOUND_INACTIVE
# (a filter that makes the kernel walk the bind hash instead, `ss -B`).
OTHER_STATES_MASK = sum(1 << state for state in TcpState) & ~(LISTEN_MASK | 1 << TcpState.BOUND_INACTIVE)
_AF_INET6 = int(socket.AF_INET6)
_FAMILIES = frozenset((int(socket.AF_INET), _AF_INET6))


def _ipv4_text(packed: bytes) -> str:
    # An IPv4 socket uses the first 4 bytes of the 16-byte field (inet_diag_msg_common_fill).
    return address_text(socket.AF_INET, packed[:4])


def _ipv6_text(packed: bytes) -> str:
    return address_text(socket.AF_INET6, packed)


class AddressCache(NamedTuple):
    """Address text by the raw 16-byte field, one cache per family (their keys can coincide)."""

    ipv4: AddressNames[bytes]
    ipv6: AddressNames[bytes]

    @classmethod
    def empty(cls) -> AddressCache:
        return cls(AddressNames(_ipv4_text), AddressNames(_ipv6_text))


class NetlinkError(TcpqError):
    """The kernel answered a sock_diag request with an error (errno in `.errno`)."""

    def __init__(self, code: int, context: str) -> None:
        self.errno = code
        super().__init__(f"{context}: {os.strerror(code)} (errno {code})")


class NetlinkPermissionDenied(NetlinkError, PermissionDenied):
    """EPERM/EACCES from sock_diag (a sandbox or an LSM refusing it)."""


def _raise_errno(code: int, context: str) -> NoReturn:
    if code in (errno.EPERM, errno.EACCES):
        raise NetlinkPermissionDenied(code, context)
    raise NetlinkError(code, context)


def state_masks(states: frozenset[TcpState] | None) -> tuple[int, int]:
    """idiag_states bitmasks (1 << state) for the LISTEN dump and the dump of the rest.

    SYN_RECV and NEW_SYN_RECV both select full SYN_RECV sockets and request socks, since both
    are listed as SYN-RECV (kernel-model §10.2); the kernel filters request socks by the
    NEW_SYN_RECV bit and TIME_WAIT entries by their substate.
    """
    if states is None:
        return LISTEN_MASK, OTHER_STATES_MASK
    mask = 0
    for state in states:
        mask |= 1 << state
        if state in (TcpState.SYN_RECV, TcpState.NEW_SYN_RECV):
            mask |= 1 << TcpState.SYN_RECV | 1 << TcpState.NEW_SYN_RECV
    return mask & LISTEN_MASK, mask & OTHER_STATES_MASK


def build_request(family: int, states_mask: int, ext: int, seq: int) -> bytes:
    """A SOCK_DIAG_BY_FAMILY dump request for TCP sockets of `family` in `states_mask`."""
    return _REQUEST.pack(
        _REQUEST.size,
        SOCK_DIAG_BY_FAMILY,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        0,
        family,
        socket.IPPROTO_TCP,
        ext,
        states_mask,
    )


def _meminfo_drops(data: bytes | bytearray | memoryview, start: int, end: int) -> int | None:
    """SK_MEMINFO_DROPS from the INET_DIAG_SKMEMINFO attribute between start and end, if any."""
    need = (SK_MEMINFO_DROPS + 1) * 4
    while start + RTA_HDRLEN <= end:
        length, kind = _RTA.unpack_from(data, start)
        if length < RTA_HDRLEN or start + length > end:
            raise ParseError(f"netlink attribute of length {length} at offset {start} overruns its message")
        if kind == INET_DIAG_SKMEMINFO and length - RTA_HDRLEN >= need:
            value: int = _DROPS.unpack_from(data, start + RTA_HDRLEN + SK_MEMINFO_DROPS * 4)[0]
            return value
        start += (length + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1)
    return None


def _control(
    data: bytes | bytearray | memoryview, offset: int, limit: int, seq: int | None
) -> tuple[int, bool]:
    """Handle the message at `offset` that is not a well-formed reply of ours; (next offset, done).

    The slow path: NLMSG_DONE, NLMSG_ERROR, other sequence numbers, unknown types, and the
    checks that turn a malformed or truncated message into ParseError.
    """
    length, kind, _flags, msg_seq, _pid = _NLMSGHDR.unpack_from(data, offset)
    if length < NLMSG_HDRLEN or offset + length > limit:
        raise ParseError(f"netlink message of length {length} at offset {offset} overruns the reply")
    following = offset + _align(length)
    if seq is not None and msg_seq != seq:
        return following, False
    if kind == SOCK_DIAG_BY_FAMILY:
        raise ParseError(f"inet_diag message of {length} bytes is shorter than inet_diag_msg")
    if kind in (NLMSG_DONE, NLMSG_ERROR):
        # Both start with an int: 0, or a negative errno (a dump that failed part-way reports
        # its error in NLMSG_DONE, one refused at the start in NLMSG_ERROR).
        name = "NLMSG_DONE" if kind == NLMSG_DONE else "NLMSG_ERROR"
        if length < NLMSG_HDRLEN + _ERROR_CODE.size:
            raise ParseError(f"{name} message of {length} bytes is too short")
        code: int = _ERROR_CODE.unpack_from(data, offset + NLMSG_HDRLEN)[0]
        if code < 0:
            _raise_errno(-code, f"inet_diag dump ({name})")
        return following, kind == NLMSG_DONE
    if kind == NLMSG_OVERRUN:
        raise ParseError("netlink reported NLMSG_OVERRUN: data was lost")
    return following, False  # NLMSG_NOOP and types this reader does not use


def _align(length: int) -> int:
    return (length + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1)


def parse_reply(
    data: bytes | bytearray | memoryview,
    *,
    end: int | None = None,
    seq: int | None = None,
    meminfo: bool = True,
    addresses: AddressCache | None = None,
) -> Generator[SockRecord, None, bool]:
    """Records from one received netlink datagram (data[:end]); returns True at NLMSG_DONE.

    Messages of another sequence number are ignored, as are sockets of an unknown state or
    family. `meminfo` walks the attributes for the listener drop counter; without it `drops`
    is None. Raises ParseError on a malformed or truncated message and NetlinkError when the
    kernel reports an error.
    """
    limit = len(data) if end is None else max(0, min(end, len(data)))
    names4, names6 = AddressCache.empty() if addresses is None else addresses
    # Hot loop: one unpack per socket, locals only (each attribute lookup costs per socket).
    unpack = _MESSAGE.unpack_from
    size = _MESSAGE.size
    states = STATE_BY_NUMBER
    swap = _SWAP_PORTS
    attributes_at = NLMSG_HDRLEN + INET_DIAG_MSG_LEN
    inet6 = _AF_INET6
    families = _FAMILIES
    new = new_record
    offset = 0
    while offset + NLMSG_HDRLEN <= limit:
        if offset + size <= limit:
            (
                length,
                kind,
                msg_seq,
                family,
                number,
                timer,
                retrans,
                sport,
                dport,
                src,
                dst,
                cookie_low,
                cookie_high,
                rqueue,
                wqueue,
                uid,
                inode,
            ) = unpack(data, offset)
            if (
                kind == SOCK_DIAG_BY_FAMILY
                and size <= length <= limit - offset
                and (seq is None or msg_seq == seq)
            ):
                state = states.get(number)
                if state is not None and family in families:
                    names = names6 if family == inet6 else names4
                    if swap:
                        sport = (sport >> 8) | (sport & 0xFF) << 8
                        dport = (dport >> 8) | (dport & 0xFF) << 8
                    drops = _meminfo_drops(data, offset + attributes_at, offset + length) if meminfo else None
                    yield new(
                        family,
                        state,
                        names[src],
                        sport,
                        names[dst],
                        dport,
                        rqueue,
                        wqueue,
                        inode,
                        uid,
                        cookie_high << 32 | cookie_low,
                        drops,
                        timer,
                        retrans,
                    )
                offset += (length + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1)
                continue
        offset, done = _control(data, offset, limit, seq)
        if done:
            return True
    if offset < limit:
        raise ParseError(f"{limit - offset} trailing bytes after the last netlink message")
    return False


def _open_socket() -> socket.socket:
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG)
    except OSError as exc:  # sandboxes refuse AF_NETLINK or this protocol (EAFNOSUPPORT, EPERM…)
        _raise_errno(exc.errno or errno.EIO, "cannot open a NETLINK_SOCK_DIAG socket")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_REQUEST)
        sock.bind((0, 0))  # the kernel picks the port id
    except OSError as exc:
        sock.close()
        _raise_errno(exc.errno or errno.EIO, "cannot bind a NETLINK_SOCK_DIAG socket")
    return sock


def _send(sock: socket.socket, request: bytes) -> None:
    try:
        sock.send(request)
    except OSError as exc:
        _raise_errno(exc.errno or errno.EIO, "sending the inet_diag request")


def _receive(sock: socket.socket, buffer: bytearray) -> int:
    try:
        # MSG_TRUNC makes netlink return the datagram's real length, so a reply larger than
        # the buffer is detected instead of silently cut.
        size = sock.recv_into(buffer, 0, socket.MSG_TRUNC)
    except OSError as exc:
        _raise_errno(exc.errno or errno.EIO, "receiving the inet_diag dump")
    if size > len(buffer):
        raise ParseError(f"netlink datagram of {size} bytes exceeds the {len(buffer)}-byte buffer")
    return size


def _dumps(sock: socket.socket, requests: list[tuple[bytes, int, bool]]) -> Iterator[SockRecord]:
    """Send each (request, seq, meminfo) in turn and yield its records; closes `sock` at the end."""
    buffer = bytearray(RECV_BUFFER)
    addresses = AddressCache.empty()
    try:
        for request, seq, meminfo in requests:
            _send(sock, request)
            done = False
            while not done:
                size = _receive(sock, buffer)
                if size == 0:
                    raise ParseError("netlink socket closed before NLMSG_DONE")
                done = yield from parse_reply(buffer, end=size, seq=seq, meminfo=meminfo, addresses=addresses)
    finally:
        sock.close()


def plan_requests(
    families: tuple[int, ...], states: frozenset[TcpState] | None
) -> list[tuple[bytes, int, bool]]:
    """The dumps to run, in order: per family, LISTEN with SKMEMINFO, then the other states."""
    listen_mask, other_mask = state_masks(states)
    requests: list[tuple[bytes, int, bool]] = []
    for family in families:
        if family not in _FAMILIES:
            raise ValueError(f"not an inet family: {family}")
        if listen_mask:
            seq = len(requests) + 1
            requests.append((build_request(family, listen_mask, SKMEMINFO_EXT, seq), seq, True))
        if other_mask:
            seq = len(requests) + 1
            requests.append((build_request(family, other_mask, 0, seq), seq, False))
    return requests


def dump_tcp(
    *,
    families: tuple[int, ...] = (socket.AF_INET, socket.AF_INET6),
    states: frozenset[TcpState] | None = None,
) -> Iterator[SockRecord]:
    """Every TCP socket in `states` (None: all) of the calling thread's network namespace.

    The netlink socket is opened by this call, so the namespace is the one current when
    dump_tcp() is called, wherever the iterator is consumed. IPv6 dumps include v4-mapped
    sockets, as in `ss`. NetlinkError (a TcpqError, with the kernel's errno) is raised here when
    the socket cannot be opened and, for an error the kernel reports part-way, while iterating.
    """
    requests = plan_requests(families, states)
    return _dumps(_open_socket(), requests)


def inet_diag_available() -> bool:
    """Whether this namespace answers TCP inet_diag dumps (no sandbox refusal, tcp_diag loaded)."""
    try:
        sock = _open_socket()
    except TcpqError:
        return False
    # An empty state mask: the kernel looks the tcp handler up (loading tcp_diag if needed)
    # and answers NLMSG_DONE without walking any table.
    probe = [(build_request(socket.AF_INET, 0, 0, 1), 1, False)]
    try:
        for _ in _dumps(sock, probe):
            pass
    except TcpqError:
        return False
    return True
