"""The NETLINK_SOCK_DIAG reader: canned replies, fuzzing, and (as root) agreement with `ss`.

Root-only tests build each scene for real inside a throwaway network namespace
(tcpq-test-<pid>-<n>, loopback only, deleted afterwards) and compare with `ss` run in the
same namespace (kernel-model §10, §16 E1, E4, E5, E7).
"""

import collections
import contextlib
import ctypes
import errno
import itertools
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpq.errors import ParseError, PermissionDenied, TcpqError
from tcpq.kernel.states import STATES, TcpState
from tcpq.observe import inet_diag
from tcpq.observe.inet_diag import (
    LISTEN_MASK,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSG_NOOP,
    NLMSG_OVERRUN,
    OTHER_STATES_MASK,
    SKMEMINFO_EXT,
    SOCK_DIAG_BY_FAMILY,
    NetlinkError,
    build_request,
    dump_tcp,
    inet_diag_available,
    parse_reply,
    plan_requests,
    state_masks,
)
from tcpq.observe.sockets import SockRecord, parse_proc_net_tcp, read_proc_net_tcp
from tests.observe.records import record as expected

DATA = Path(__file__).resolve().parent / "data"
T = TypeVar("T")
NLM_F_MULTI = 0x02  # include/uapi/linux/netlink.h
INET_DIAG_SHUTDOWN = 8  # include/uapi/linux/inet_diag.h: an attribute the kernel always adds
INET_DIAG_SKMEMINFO = 7

# ---------------------------------------------------------------- builders of kernel replies


def pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def nlmsg(kind: int, payload: bytes, seq: int = 1, flags: int = NLM_F_MULTI) -> bytes:
    """struct nlmsghdr + payload, padded to NLMSG_ALIGNTO as the kernel sends it."""
    return pad4(struct.pack("=IHHII", 16 + len(payload), kind, flags, seq, 4242) + payload)


def rtattr(kind: int, payload: bytes) -> bytes:
    return pad4(struct.pack("=HH", 4 + len(payload), kind) + payload)


def skmeminfo(drops: int, count: int = 9) -> bytes:
    values = [1000 + index for index in range(count)]
    if count > 8:
        values[8] = drops
    return rtattr(INET_DIAG_SKMEMINFO, struct.pack(f"={count}I", *values))


def diag_message(
    *,
    family: int = socket.AF_INET,
    state: int = TcpState.ESTABLISHED,
    local: str = "127.0.0.1",
    local_port: int = 0,
    remote: str = "127.0.0.1",
    remote_port: int = 0,
    recv_q: int = 0,
    send_q: int = 0,
    inode: int = 0,
    uid: int = 0,
    cookie: int = 0,
    timer: int = 0,
    retrans: int = 0,
    attrs: bytes = b"",
    seq: int = 1,
) -> bytes:
    """One SOCK_DIAG_BY_FAMILY message: struct inet_diag_msg laid out by hand, then attributes."""
    body = (
        struct.pack("=BBBB", family, state, timer, retrans)
        + struct.pack("!HH", local_port, remote_port)
        + socket.inet_pton(family, local).ljust(16, b"\0")
        + socket.inet_pton(family, remote).ljust(16, b"\0")
        + struct.pack("=I", 0)  # idiag_if
        + struct.pack("=II", cookie & 0xFFFFFFFF, cookie >> 32)
        + struct.pack("=IIIII", 1234, recv_q, send_q, uid, inode)
    )
    assert len(body) == 72  # sizeof(struct inet_diag_msg)
    return nlmsg(SOCK_DIAG_BY_FAMILY, body + attrs, seq)


def done(seq: int = 1, code: int = 0) -> bytes:
    return nlmsg(NLMSG_DONE, struct.pack("=i", code), seq)


def error(seq: int, code: int) -> bytes:
    original = struct.pack("=IHHII", 72, SOCK_DIAG_BY_FAMILY, 0x301, seq, 0)
    return nlmsg(NLMSG_ERROR, struct.pack("=i", code) + original, seq, flags=0)


def parse_all(data: bytes, **options: object) -> tuple[list[SockRecord], bool]:
    records: list[SockRecord] = []
    parser = parse_reply(data, **options)  # type: ignore[arg-type]
    while True:
        try:
            records.append(next(parser))
        except StopIteration as stop:
            return records, bool(stop.value)


# ---------------------------------------------------------------- canned replies → records


def test_listener_with_skmeminfo_gives_drops() -> None:
    reply = diag_message(
        state=TcpState.LISTEN,
        local_port=5400,
        remote="0.0.0.0",
        recv_q=5,
        send_q=4,
        inode=35781,
        uid=1000,
        cookie=(7 << 32) | 9,
        attrs=rtattr(INET_DIAG_SHUTDOWN, b"\0") + skmeminfo(drops=8),
    )
    records, finished = parse_all(reply + done())
    assert finished
    assert records == [
        expected(
            state=TcpState.LISTEN,
            local_port=5400,
            remote="0.0.0.0",
            recv_q=5,
            send_q=4,
            inode=35781,
            uid=1000,
            cookie=(7 << 32) | 9,  # idiag_cookie[1] is the high word, as ss prints it
            drops=8,
        )
    ]


def test_meminfo_off_or_short_gives_no_drops() -> None:
    listener = diag_message(state=TcpState.LISTEN, attrs=skmeminfo(drops=8))
    assert parse_all(listener, meminfo=False)[0][0].drops is None
    old_kernel = diag_message(state=TcpState.LISTEN, attrs=skmeminfo(drops=8, count=8))
    assert parse_all(old_kernel)[0][0].drops is None
    no_attribute = diag_message(state=TcpState.LISTEN)
    assert parse_all(no_attribute)[0][0].drops is None


def test_multi_message_buffer_in_order_then_done() -> None:
    reply = (
        diag_message(state=TcpState.SYN_RECV, local_port=5501, remote_port=43436, timer=1, retrans=1)
        + diag_message(state=TcpState.TIME_WAIT, local_port=51054, remote_port=5600, timer=3)
        + diag_message(state=TcpState.SYN_SENT, local_port=36092, remote_port=5400, send_q=1, inode=7)
        + done()
    )
    records, finished = parse_all(reply, meminfo=False)
    assert finished
    assert [(r.state, r.local_port, r.remote_port, r.timer, r.send_q) for r in records] == [
        (TcpState.SYN_RECV, 5501, 43436, 1, 0),
        (TcpState.TIME_WAIT, 51054, 5600, 3, 0),
        (TcpState.SYN_SENT, 36092, 5400, 0, 1),
    ]


def test_datagram_without_done_asks_for_more() -> None:
    records, finished = parse_all(diag_message(local_port=1) + diag_message(local_port=2))
    assert [r.local_port for r in records] == [1, 2] and not finished


def test_ipv6_and_v4_mapped_addresses_as_ss_prints_them() -> None:
    reply = diag_message(family=socket.AF_INET6, local="::ffff:127.0.0.1", remote="::1", local_port=5700)
    reply += diag_message(family=socket.AF_INET6, local="2001:db8::1", remote="fe80::1:0:0:2")
    records, _ = parse_all(reply)
    assert [(r.family, r.local, r.remote) for r in records] == [
        (socket.AF_INET6, "::ffff:127.0.0.1", "::1"),
        (socket.AF_INET6, "2001:db8::1", "fe80::1:0:0:2"),
    ]


def test_address_caches_keep_families_apart() -> None:
    # 127.0.0.1 as IPv4 and 7f00:1:: as IPv6 have the same 16 raw bytes in inet_diag_msg.
    reply = diag_message(local="127.0.0.1")
    reply += diag_message(family=socket.AF_INET6, local="7f00:1::", remote="::")
    assert [r.local for r in parse_all(reply)[0]] == ["127.0.0.1", "7f00:1::"]


def test_request_socks_new_syn_recv_number_and_unknown_states() -> None:
    unknown_family = bytearray(diag_message(local_port=4))
    unknown_family[16] = 44  # idiag_family of a family this reader does not decode
    reply = (
        diag_message(state=TcpState.NEW_SYN_RECV, local_port=1)
        + diag_message(state=TcpState.BOUND_INACTIVE, local_port=2)
        + diag_message(state=99, local_port=3)
        + bytes(unknown_family)
    )
    records, _ = parse_all(reply)
    assert [(r.state, r.local_port) for r in records] == [(TcpState.SYN_RECV, 1)]


def test_other_sequence_numbers_and_noop_are_ignored() -> None:
    reply = (
        diag_message(local_port=1, seq=7)
        + nlmsg(NLMSG_NOOP, b"", seq=8)
        + diag_message(local_port=2, seq=8)
        + done(seq=7)
        + done(seq=8)
    )
    records, finished = parse_all(reply, seq=8)
    assert [r.local_port for r in records] == [2] and finished


def test_bytes_after_done_are_not_read() -> None:
    records, finished = parse_all(done() + b"\xff" * 7)
    assert records == [] and finished


@pytest.mark.parametrize(
    ("reply", "code"),
    [(error(1, -errno.ENOENT), errno.ENOENT), (done(1, -errno.ENOBUFS), errno.ENOBUFS)],
)
def test_kernel_errors_raise_netlink_error_with_errno(reply: bytes, code: int) -> None:
    with pytest.raises(NetlinkError) as caught:
        parse_all(diag_message() + reply)
    assert caught.value.errno == code
    assert isinstance(caught.value, TcpqError)
    assert os.strerror(code) in str(caught.value)


def test_permission_errors_are_permission_denied() -> None:
    with pytest.raises(PermissionDenied) as caught:
        parse_all(error(1, -errno.EPERM))
    assert isinstance(caught.value, NetlinkError) and caught.value.errno == errno.EPERM


def test_error_zero_is_an_ack() -> None:
    assert parse_all(error(1, 0) + done()) == ([], True)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (diag_message()[:-8], "overruns the reply"),  # datagram cut inside a message
        (diag_message() + b"\0" * 5, "trailing bytes"),
        (nlmsg(SOCK_DIAG_BY_FAMILY, b"\0" * 40), "shorter than inet_diag_msg"),
        (struct.pack("=IHHII", 8, NLMSG_DONE, 0, 1, 0), "overruns the reply"),  # length < header
        (nlmsg(NLMSG_DONE, b""), "too short"),
        (nlmsg(NLMSG_OVERRUN, b""), "OVERRUN"),
        (diag_message(attrs=struct.pack("=HH", 64, INET_DIAG_SKMEMINFO)), "attribute of length 64"),
        (diag_message(attrs=struct.pack("=HH", 2, INET_DIAG_SKMEMINFO)), "attribute of length 2"),
    ],
)
def test_malformed_replies_raise_parse_error(reply: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_all(reply)


def test_end_limits_the_buffer() -> None:
    buffer = bytearray(4096)
    reply = diag_message(local_port=80) + done()
    buffer[: len(reply)] = reply
    assert parse_all(bytes(buffer), end=len(reply))[0][0].local_port == 80


# ---------------------------------------------------------------- requests


def test_request_layout() -> None:
    request = build_request(socket.AF_INET6, LISTEN_MASK, SKMEMINFO_EXT, 3)
    assert len(request) == 16 + 56  # nlmsghdr + inet_diag_req_v2
    length, kind, flags, seq, pid = struct.unpack_from("=IHHII", request)
    assert (length, kind, flags, seq, pid) == (72, SOCK_DIAG_BY_FAMILY, 0x301, 3, 0)
    family, protocol, ext, pad, states = struct.unpack_from("=BBBBI", request, 16)
    assert (family, protocol, ext, pad, states) == (socket.AF_INET6, socket.IPPROTO_TCP, 0x40, 0, 1 << 10)
    assert request[24:] == bytes(48)  # no filter on the socket id


def test_state_masks() -> None:
    every_other = sum(1 << n for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12))  # not LISTEN, not 13
    assert state_masks(None) == (1 << 10, every_other)
    assert state_masks(frozenset({TcpState.LISTEN})) == (1 << 10, 0)
    # request socks are filtered by NEW_SYN_RECV, full SYN_RECV sockets by SYN_RECV
    assert state_masks(frozenset({TcpState.SYN_RECV})) == (0, 1 << 3 | 1 << 12)
    assert state_masks(frozenset({TcpState.NEW_SYN_RECV})) == (0, 1 << 3 | 1 << 12)
    assert state_masks(frozenset({TcpState.TIME_WAIT, TcpState.BOUND_INACTIVE})) == (0, 1 << 6)
    assert OTHER_STATES_MASK & (LISTEN_MASK | 1 << TcpState.BOUND_INACTIVE) == 0


def test_plan_listeners_first_with_meminfo_then_the_rest() -> None:
    plan = plan_requests((socket.AF_INET, socket.AF_INET6), None)
    assert [(seq, meminfo) for _, seq, meminfo in plan] == [(1, True), (2, False), (3, True), (4, False)]
    assert [request[16] for request, _, _ in plan] == [2, 2, 10, 10]
    assert plan_requests((socket.AF_INET,), frozenset({TcpState.ESTABLISHED}))[0][1:] == (1, False)
    with pytest.raises(ValueError, match="not an inet family"):
        plan_requests((socket.AF_UNIX,), None)


# ---------------------------------------------------------------- the receive loop, with a fake socket


class FakeNetlink:
    """Answers each request with canned datagrams, one per recv, like the kernel's dump."""

    def __init__(self, answers: list[list[bytes]]) -> None:
        self.answers = answers
        self.pending: list[bytes] = []
        self.sent: list[bytes] = []
        self.closed = False

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        self.pending = list(self.answers[len(self.sent) - 1])
        return len(data)

    def recv_into(self, buffer: bytearray, nbytes: int = 0, flags: int = 0) -> int:
        assert flags & socket.MSG_TRUNC
        datagram = self.pending.pop(0)
        buffer[: min(len(datagram), len(buffer))] = datagram[: len(buffer)]
        return len(datagram)

    def close(self) -> None:
        self.closed = True


def test_multi_part_dumps_are_streamed_and_the_socket_closed() -> None:
    listener = diag_message(state=TcpState.LISTEN, local_port=80, attrs=skmeminfo(3), seq=1)
    first = diag_message(local_port=80, remote_port=1000, seq=2) + diag_message(local_port=80, seq=2)
    second = diag_message(local_port=80, remote_port=1002, seq=2)
    fake = FakeNetlink([[listener, done(1)], [first, second + done(2)]])
    plan = plan_requests((socket.AF_INET,), None)
    records = list(inet_diag._dumps(fake, plan))  # type: ignore[arg-type]
    assert [(r.state, r.remote_port, r.drops) for r in records] == [
        (TcpState.LISTEN, 0, 3),
        (TcpState.ESTABLISHED, 1000, None),
        (TcpState.ESTABLISHED, 0, None),
        (TcpState.ESTABLISHED, 1002, None),
    ]
    assert fake.sent == [request for request, _, _ in plan] and fake.closed


def test_consumer_stopping_early_closes_the_socket() -> None:
    fake = FakeNetlink([[diag_message(state=TcpState.LISTEN, local_port=80) * 3 + done(1)]])
    records = inet_diag._dumps(fake, plan_requests((socket.AF_INET,), frozenset({TcpState.LISTEN})))  # type: ignore[arg-type]
    assert next(records).local_port == 80
    records.close()  # type: ignore[attr-defined]
    assert fake.closed


def test_oversized_datagram_and_eof_are_parse_errors() -> None:
    plan = plan_requests((socket.AF_INET,), frozenset({TcpState.LISTEN}))
    huge = FakeNetlink([[b"\0" * (inet_diag.RECV_BUFFER + 1)]])
    with pytest.raises(ParseError, match="exceeds"):
        list(inet_diag._dumps(huge, plan))  # type: ignore[arg-type]
    empty = FakeNetlink([[b""]])
    with pytest.raises(ParseError, match="before NLMSG_DONE"):
        list(inet_diag._dumps(empty, plan))  # type: ignore[arg-type]
    assert huge.closed and empty.closed


# ---------------------------------------------------------------- a real capture, offline


def canned_datagrams() -> list[tuple[int, bool, bytes]]:
    """(seq, meminfo, datagram) from data/inet_diag_dump.hex."""
    datagrams: list[tuple[int, bool, bytes]] = []
    seq, meminfo = 0, False
    for line in (DATA / "inet_diag_dump.hex").read_text(encoding="ascii").splitlines():
        if line.startswith("# request"):
            fields = dict(item.split("=") for item in line.split()[2:])
            seq, meminfo = int(fields["seq"]), int(fields["ext"], 16) != 0
        elif line and not line.startswith("#"):
            datagrams.append((seq, meminfo, bytes.fromhex(line)))
    return datagrams


SS_STATE = {
    info.ss_name: state
    for state, info in STATES.items()
    if state not in (TcpState.NEW_SYN_RECV, TcpState.BOUND_INACTIVE)
}
ANY = ("*", "0.0.0.0", "::")


def endpoint(text: str) -> tuple[str, int]:
    """An `ss -n` endpoint ("127.0.0.1:80", "[::1]:80", "*:*") as (address, port)."""
    address, _, port = text.rpartition(":")
    address = address.strip("[]")
    return ("*" if address in ANY else address), (0 if port == "*" else int(port))


Key = tuple[TcpState, str, int, str, int]


def key(record: SockRecord) -> Key:
    local = "*" if record.local in ANY else record.local
    remote = "*" if record.remote in ANY else record.remote
    return record.state, local, record.local_port, remote, record.remote_port


def parse_ss(text: str, state: TcpState | None = None) -> list[tuple[Key, int, int]]:
    """`ss -tan` (or -ltn) rows as (key, Recv-Q, Send-Q); continuation lines (-m) skipped.

    With `ss ... state X` ss leaves the State column out: pass that state as `state`.
    """
    rows = []
    for line in text.splitlines()[1:]:
        if not line or line[0].isspace():
            continue
        fields = line.split()
        if state is None:
            state_name, *fields = fields
            row_state = SS_STATE[state_name]
        else:
            row_state = state
        recv_q, send_q, local, remote = fields[:4]
        rows.append(((row_state, *endpoint(local), *endpoint(remote)), int(recv_q), int(send_q)))
    return rows


def parse_ss_drops(text: str) -> dict[int, int]:
    """Listener port → the "d" field of its skmem line in `ss -ltnm`."""
    drops: dict[int, int] = {}
    port = 0
    for line in text.splitlines()[1:]:
        if line and not line[0].isspace():
            port = endpoint(line.split()[3])[1]
        elif "skmem:(" in line:
            fields = line.split("skmem:(")[1].split(")")[0].split(",")
            drops[port] = int(next(field[1:] for field in fields if field.startswith("d")))
    return drops


@pytest.mark.skipif(sys.byteorder != "little", reason="the capture is from a little-endian host")
def test_canned_capture_agrees_with_ss_and_proc() -> None:
    records: list[SockRecord] = []
    for seq, meminfo, datagram in canned_datagrams():
        records += parse_all(datagram, seq=seq, meminfo=meminfo)[0]
    listeners = {r.local_port: r for r in records if r.state is TcpState.LISTEN}
    assert (listeners[5400].recv_q, listeners[5400].send_q, listeners[5400].drops) == (5, 4, 8)
    assert all(r.drops is None for r in records if r.state is not TcpState.LISTEN)
    assert all(r.inode == 0 for r in records if r.state in (TcpState.SYN_RECV, TcpState.TIME_WAIT))
    ss_rows = parse_ss((DATA / "ss_tan.txt").read_text(encoding="ascii"))
    assert sorted(key(r) for r in records) == sorted(row[0] for row in ss_rows)
    assert sorted((key(r), r.recv_q, r.send_q) for r in records) == sorted(ss_rows)
    # /proc/net/tcp{,6} read at the same moment list the same sockets.
    proc = list(parse_proc_net_tcp((DATA / "proc_net_tcp").read_text(encoding="ascii"), socket.AF_INET))
    proc += parse_proc_net_tcp((DATA / "proc_net_tcp6").read_text(encoding="ascii"), socket.AF_INET6)
    assert sorted(map(key, proc)) == sorted(map(key, records))


# ---------------------------------------------------------------- fuzz


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes_raise_only_tcpq_errors(data: bytes) -> None:
    with contextlib.suppress(TcpqError):
        parse_all(data)


VALID = (
    diag_message(state=TcpState.LISTEN, attrs=skmeminfo(4))
    + diag_message(family=socket.AF_INET6, local="::1", remote="::1", local_port=5)
    + done()
)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, len(VALID)), st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255))))
def test_fuzz_truncated_and_corrupted_replies(cut: int, flips: list[tuple[int, int]]) -> None:
    data = bytearray(VALID[:cut])
    for position, value in flips:
        if position < len(data):
            data[position] = value
    try:
        records, _ = parse_all(bytes(data), meminfo=True)
    except TcpqError:
        return
    assert len(records) <= 2


# ---------------------------------------------------------------- live, this namespace


@pytest.mark.skipif(not inet_diag_available(), reason="NETLINK_SOCK_DIAG refused here (sandbox?)")
def test_live_dump_finds_a_listener_of_ours() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(7)
        port = listener.getsockname()[1]
        found = [r for r in dump_tcp(states=frozenset({TcpState.LISTEN})) if r.local_port == port]
        inode = os.fstat(listener.fileno()).st_ino
    assert [(r.local, r.send_q, r.inode, r.uid, r.drops) for r in found] == [
        ("127.0.0.1", 7, inode, os.geteuid(), 0)
    ]
    assert found[0].cookie != 0


def test_unavailable_when_the_socket_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise NetlinkError(errno.EPROTONOSUPPORT, "cannot open a NETLINK_SOCK_DIAG socket")

    monkeypatch.setattr(inet_diag, "_open_socket", refuse)
    assert not inet_diag_available()
    with pytest.raises(NetlinkError):
        dump_tcp()


def test_unavailable_when_the_probe_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNetlink([[error(1, -errno.ENOENT)]])  # tcp_diag missing: no handler for TCP
    monkeypatch.setattr(inet_diag, "_open_socket", lambda: fake)
    assert not inet_diag_available()
    assert fake.closed


# ---------------------------------------------------------------- root: scenes in a namespace


def _why_no_netns() -> str | None:
    if os.geteuid() != 0:
        return "needs root: creates network namespaces"
    for tool in ("ip", "ss"):
        if shutil.which(tool) is None:
            return f"`{tool}` (iproute2) not found"
    if subprocess.run(["ip", "netns", "list"], capture_output=True, check=False).returncode != 0:
        return "`ip netns` unavailable"
    return None


NO_NETNS = _why_no_netns()
needs_netns = pytest.mark.skipif(NO_NETNS is not None, reason=NO_NETNS or "")
needs_nft = pytest.mark.skipif(
    shutil.which("nft") is None, reason="`nft` (Debian package nftables) not found"
)
NS_PREFIX = f"tcpq-test-{os.getpid()}-"
_ns_numbers = itertools.count(1)

# Runs inside the namespace, holds its sockets until stdin closes; alarm bounds its life.
HOLDER = r"""
import signal, socket, sys, time
signal.alarm(120)
mode, port = sys.argv[1], int(sys.argv[2])
keep = []
def listener(family=socket.AF_INET, host="127.0.0.1", backlog=16):
    sock = socket.socket(family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind((host, port)); sock.listen(backlog); keep.append(sock)
    return sock
def connect_nonblocking(count):
    for _ in range(count):
        client = socket.socket(); client.setblocking(False)
        client.connect_ex(("127.0.0.1", port)); keep.append(client)
if mode == "acceptq":      # kernel-model §16 E1: backlog 4, 9 clients, nobody accepts
    listener(backlog=4); connect_nonblocking(9)
elif mode == "synrecv":    # final ACKs dropped by nft: request socks stay (E4)
    listener(); connect_nonblocking(3)
elif mode == "timewait":   # the client closes first: TIME_WAIT on its side (E5)
    server = listener()
    for _ in range(3):
        client = socket.create_connection(("127.0.0.1", port))
        child, _ = server.accept(); client.close(); child.recv(1); child.close()
elif mode == "ipv6":       # dual-stack listener, one ::1 and one 127.0.0.1 client
    server = listener(socket.AF_INET6, "::")
    for host in ("::1", "127.0.0.1"):
        keep.append(socket.create_connection((host, port))); keep.append(server.accept()[0])
time.sleep(0.2)
print("ready", flush=True)
sys.stdin.read()
"""

# Read inside the namespace: argv[1] "dump" or "proc", then the state numbers to dump (none: all).
READ = r"""
import dataclasses, json, sys
from tcpq.kernel.states import TcpState
from tcpq.observe.inet_diag import dump_tcp
from tcpq.observe.sockets import read_proc_net_tcp
states = frozenset(TcpState(int(n)) for n in sys.argv[2:]) or None
records = dump_tcp(states=states) if sys.argv[1] == "dump" else read_proc_net_tcp()
print(json.dumps([dataclasses.astuple(r) for r in records]))
"""


class Namespace:
    """A throwaway network namespace with loopback up, and the processes started in it."""

    def __init__(self) -> None:
        self.name = f"{NS_PREFIX}{next(_ns_numbers)}"
        self.processes: list[subprocess.Popen[str]] = []
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            self.run("ip", "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    def run(self, *command: str) -> str:
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *command],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout

    def hold(self, mode: str, port: int) -> None:
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.name, sys.executable, "-c", HOLDER, mode, str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.processes.append(process)
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n", f"holder {mode} failed"

    def records(self, states: frozenset[TcpState] | None = None, reader: str = "dump") -> list[SockRecord]:
        """What dump_tcp(states=...) (or read_proc_net_tcp()) returns inside this namespace."""
        numbers = [str(int(state)) for state in states or ()]
        rows = json.loads(self.run(sys.executable, "-c", READ, reader, *numbers))
        return [SockRecord(row[0], TcpState(row[1]), *row[2:]) for row in rows]

    def drop_final_acks(self, port: int) -> None:
        """nft inside this namespace only: drop every non-SYN segment to `port` (§16)."""
        self.run("nft", "add", "table", "inet", "t")
        self.run("nft", "add", "chain", "inet", "t", "c", "{ type filter hook input priority 0; }")
        self.run("nft", *f"add rule inet t c tcp dport {port} tcp flags & syn == 0 drop".split())

    def close(self) -> None:
        try:
            for process in self.processes:
                if process.stdin is not None:
                    process.stdin.close()
            for process in self.processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                if process.stdout is not None:
                    process.stdout.close()
        finally:
            subprocess.run(["ip", "netns", "delete", self.name], check=False)


@pytest.fixture
def netns() -> Iterator[Namespace]:
    namespace = Namespace()
    try:
        yield namespace
    finally:
        namespace.close()


@pytest.fixture(scope="module", autouse=True)
def no_namespace_left_behind() -> Iterator[None]:
    yield
    if NO_NETNS is None:
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
        assert not [line for line in listed.splitlines() if line.startswith(NS_PREFIX)]


def stable(read: Callable[[], T]) -> T:
    """Read (ours, ss) until two consecutive reads agree: no kernel timer fired in between."""
    previous = read()
    for _ in range(5):
        current = read()
        if current == previous:
            return current
        previous = current
    raise AssertionError(f"readings kept changing: {previous}")


@needs_netns
def test_accept_queue_and_drops_agree_with_ss(netns: Namespace) -> None:
    netns.hold("acceptq", 5400)

    def read() -> tuple[SockRecord, str]:
        (listener,) = [r for r in netns.records() if r.state is TcpState.LISTEN]
        return listener, netns.run("ss", "-ltnm")

    listener, ss_text = stable(read)
    # kernel-model §1, §10.1, E1: the queue holds limit + 1 = 5, Send-Q is the backlog 4
    assert (key(listener), listener.recv_q, listener.send_q) == (
        (TcpState.LISTEN, "127.0.0.1", 5400, "*", 0),
        5,
        4,
    )
    assert parse_ss(ss_text) == [(key(listener), 5, 4)]
    before = listener.drops
    assert before is not None and before == parse_ss_drops(ss_text)[5400]
    time.sleep(1.2)  # the 4 blocked clients retransmit their SYN at ~1 s: each is dropped (§4.4)
    listener, ss_text = stable(read)
    assert listener.drops == parse_ss_drops(ss_text)[5400]
    assert listener.drops >= before + 4


@needs_netns
@needs_nft
def test_request_socks_are_listed_as_syn_recv(netns: Namespace) -> None:
    netns.drop_final_acks(5501)
    netns.hold("synrecv", 5501)
    records = netns.records()
    requests = [r for r in records if r.state is TcpState.SYN_RECV]
    assert len(requests) == 3
    assert {(r.local_port, r.recv_q, r.send_q, r.inode, r.timer) for r in requests} == {(5501, 0, 0, 0, 1)}
    ss_rows = parse_ss(netns.run("ss", "-tan", "state", "syn-recv"), TcpState.SYN_RECV)
    assert sorted((key(r), r.recv_q, r.send_q) for r in requests) == sorted(ss_rows)
    only = netns.records(frozenset({TcpState.SYN_RECV}))
    assert sorted(map(key, only)) == sorted(map(key, requests))
    clients = [r for r in records if r.state is TcpState.ESTABLISHED and r.remote_port == 5501]
    assert len(clients) == 3  # the clients got the SYN-ACK; only their final ACK was dropped


@needs_netns
def test_time_wait_entries(netns: Namespace) -> None:
    netns.hold("timewait", 5600)
    records = netns.records()
    waiting = [r for r in records if r.state is TcpState.TIME_WAIT]
    assert len(waiting) == 3
    assert {(r.remote_port, r.inode, r.timer, r.recv_q, r.send_q) for r in waiting} == {(5600, 0, 3, 0, 0)}
    assert sum(1 for row in parse_ss(netns.run("ss", "-tan")) if row[0][0] is TcpState.TIME_WAIT) == 3
    assert netns.records(frozenset({TcpState.TIME_WAIT})) == waiting


@needs_netns
def test_ipv6_addresses_agree_with_ss(netns: Namespace) -> None:
    if "::1" not in netns.run("ip", "-6", "addr", "show", "dev", "lo"):
        pytest.skip("no IPv6 on loopback in a new namespace here")
    netns.hold("ipv6", 5700)
    records = [r for r in netns.records() if r.family == socket.AF_INET6]
    assert {r.local for r in records} == {"::", "::1", "::ffff:127.0.0.1"}
    assert sorted(map(key, records)) == sorted(row[0] for row in parse_ss(netns.run("ss", "-tan", "-6")))


@needs_netns
@needs_nft
def test_every_state_and_address_agrees_with_ss_and_proc(netns: Namespace) -> None:
    netns.drop_final_acks(5501)
    for mode, port in (("acceptq", 5400), ("synrecv", 5501), ("timewait", 5600), ("ipv6", 5700)):
        netns.hold(mode, port)

    def read() -> tuple[list[Key], list[Key]]:
        return sorted(map(key, netns.records())), sorted(row[0] for row in parse_ss(netns.run("ss", "-tan")))

    ours, theirs = stable(read)
    assert ours == theirs
    counts = collections.Counter(k[0] for k in ours)
    assert counts[TcpState.LISTEN] == 4 and counts[TcpState.SYN_RECV] == 3 and counts[TcpState.TIME_WAIT] == 3
    assert counts[TcpState.SYN_SENT] == 4
    assert sorted(map(key, netns.records(reader="proc"))) == ours


@needs_netns
def test_dump_follows_the_calling_threads_namespace(netns: Namespace) -> None:
    """dump_tcp() opens its socket at the call: a thread inside the namespace can hand it over."""
    netns.hold("timewait", 5600)
    libc = ctypes.CDLL(None, use_errno=True)
    clone_newnet = 0x40000000  # include/uapi/linux/sched.h
    handed: list[object] = []

    def inside() -> None:  # this thread only: setns(CLONE_NEWNET) changes the calling thread
        try:
            with open(f"/run/netns/{netns.name}", "rb") as handle:
                if libc.setns(handle.fileno(), clone_newnet) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            handed.append(dump_tcp())
        except Exception as exc:  # handed to the test thread, which raises it
            handed.append(exc)

    thread = threading.Thread(target=inside)
    thread.start()
    thread.join()
    result = handed[0]
    if isinstance(result, Exception):
        raise result
    assert isinstance(result, Iterator)
    ports = {r.local_port for r in result if r.state is TcpState.LISTEN}
    assert ports == {5600}
    assert 5600 not in {r.local_port for r in read_proc_net_tcp() if r.state is TcpState.LISTEN}
