"""The /proc/net/tcp{,6} fallback reader and the record type (kernel-model §10.3)."""

import dataclasses
import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpq.kernel.states import TcpState
from tcpq.observe.sockets import (
    STATE_BY_NUMBER,
    ParseStats,
    SockRecord,
    new_record,
    parse_proc_net_tcp,
    read_proc_net_tcp,
)
from tests.observe.records import record

DATA = Path(__file__).resolve().parent / "data"
# Captured in a throwaway namespace on Linux 6.18.44 (see data/inet_diag_dump.hex for the
# scene): 127.0.0.1:5400 backlog 4 with 9 clients and nobody accepting, 127.0.0.1:5501 with
# final ACKs dropped (request socks), 127.0.0.1:5600 after 3 active closes (TIME_WAIT), and
# a dual-stack [::]:5700 with one ::1 and one 127.0.0.1 client.
TCP = (DATA / "proc_net_tcp").read_text(encoding="ascii")
TCP6 = (DATA / "proc_net_tcp6").read_text(encoding="ascii")

LISTEN_LINE = (
    "   1: 0100007F:1518 00000000:0000 0A 00000000:00000005 00:00000000 00000000     0        0 36323 6 "
    "00000000da83b49d 100 0 0 10 0"
)
REQUEST_LINE = (
    "   3: 0100007F:157D 0100007F:A9AC 03 00000000:00000000 01:000000A0 00000001     0        0 0 0 "
    "0000000042fd6e29"
)
TIME_WAIT_LINE = (
    "  18: 0100007F:C76E 0100007F:15E0 06 00000000:00000000 03:000016E0 00000000     0        0 0 3 "
    "00000000b4455295"
)


def one(line: str, family: int = socket.AF_INET) -> SockRecord:
    records = list(parse_proc_net_tcp(line, family))
    assert len(records) == 1, records
    return records[0]


def test_listener_line_gives_accept_queue_as_recv_q() -> None:
    # /proc shows rx_queue = sk_ack_backlog for LISTEN; the backlog itself is not in /proc.
    assert one(LISTEN_LINE) == record(
        state=TcpState.LISTEN, local_port=5400, remote="0.0.0.0", recv_q=5, send_q=0, inode=36323
    )


def test_request_sock_line_is_syn_recv_without_inode() -> None:
    assert one(REQUEST_LINE) == record(
        state=TcpState.SYN_RECV, local_port=5501, remote_port=43436, timer=1, retrans=1
    )


def test_time_wait_line() -> None:
    assert one(TIME_WAIT_LINE) == record(
        state=TcpState.TIME_WAIT, local_port=51054, remote_port=5600, timer=3
    )


def test_canned_ipv4_file() -> None:
    stats = ParseStats()
    records = list(parse_proc_net_tcp(TCP, socket.AF_INET, stats=stats))
    assert stats == ParseStats(lines=27, skipped=0)
    by_state: dict[TcpState, list[SockRecord]] = {}
    for item in records:
        by_state.setdefault(item.state, []).append(item)
    assert {state: len(items) for state, items in by_state.items()} == {
        TcpState.LISTEN: 3,
        TcpState.ESTABLISHED: 14,  # 5 + 5 children of 5400, 3 clients of 5501, 1 of [::]:5700
        TcpState.SYN_SENT: 4,
        TcpState.SYN_RECV: 3,
        TcpState.TIME_WAIT: 3,
    }
    # 5 children wait in the accept queue of 5400 (limit 4 + 1), 4 clients are still in SYN_SENT
    # with the SYN counted in Send-Q (kernel-model §10.1, §10.3).
    assert {(r.local_port, r.recv_q) for r in by_state[TcpState.LISTEN]} == {(5400, 5), (5501, 0), (5600, 0)}
    assert all(r.send_q == 1 and r.remote_port == 5400 for r in by_state[TcpState.SYN_SENT])
    assert all(r.inode == 0 and r.local_port == 5501 for r in by_state[TcpState.SYN_RECV])
    assert all(r.inode == 0 and r.timer == 3 for r in by_state[TcpState.TIME_WAIT])
    assert all(r.family == socket.AF_INET and r.cookie == 0 and r.drops is None for r in records)
    assert all(type(r.family) is int for r in records)


def test_canned_ipv6_file_formats_addresses_as_ss() -> None:
    records = list(parse_proc_net_tcp(TCP6, socket.AF_INET6))
    assert [(r.state, r.local, r.local_port, r.remote, r.remote_port) for r in records] == [
        (TcpState.LISTEN, "::", 5700, "::", 0),
        (TcpState.ESTABLISHED, "::1", 5700, "::1", 51772),
        (TcpState.ESTABLISHED, "::ffff:127.0.0.1", 5700, "::ffff:127.0.0.1", 55886),
        (TcpState.ESTABLISHED, "::1", 51772, "::1", 5700),
    ]
    assert {r.family for r in records} == {socket.AF_INET6}


@pytest.mark.parametrize(
    "line",
    [
        LISTEN_LINE[:40],  # cut short by a read racing the kernel
        LISTEN_LINE.replace(" 0A ", " 0D "),  # BOUND_INACTIVE is never a socket's state
        LISTEN_LINE.replace(" 0A ", " FF "),
        LISTEN_LINE.replace("0100007F:1518", "0100007:1518"),
        LISTEN_LINE.replace("36323", "x6323"),
        "garbage",
        "   1: ",
    ],
)
def test_malformed_lines_are_skipped_and_counted(line: str) -> None:
    stats = ParseStats()
    text = "\n".join([TCP.splitlines()[0], line, REQUEST_LINE, ""])
    assert [r.state for r in parse_proc_net_tcp(text, socket.AF_INET, stats=stats)] == [TcpState.SYN_RECV]
    assert stats == ParseStats(lines=2, skipped=1)


def test_family_decides_the_address_width() -> None:
    stats = ParseStats()
    assert list(parse_proc_net_tcp(LISTEN_LINE, socket.AF_INET6, stats=stats)) == []
    assert stats.skipped == 1
    with pytest.raises(ValueError, match="not an inet family"):
        list(parse_proc_net_tcp(LISTEN_LINE, socket.AF_UNIX))


def test_empty_text_and_header_only() -> None:
    stats = ParseStats()
    assert list(parse_proc_net_tcp("", socket.AF_INET, stats=stats)) == []
    assert list(parse_proc_net_tcp(TCP.splitlines()[0] + "\n", socket.AF_INET, stats=stats)) == []
    assert stats == ParseStats()


def test_read_proc_net_tcp_without_ipv6(tmp_path: Path) -> None:
    (tmp_path / "tcp").write_text(TCP, encoding="ascii")
    assert len(list(read_proc_net_tcp(tmp_path))) == 27
    (tmp_path / "tcp6").write_text(TCP6, encoding="ascii")
    families = [r.family for r in read_proc_net_tcp(tmp_path)]
    assert families == [socket.AF_INET] * 27 + [socket.AF_INET6] * 4  # tcp then tcp6


def test_read_proc_net_tcp_missing_tcp_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(read_proc_net_tcp(tmp_path / "gone"))


def test_read_proc_net_tcp_live() -> None:
    # Whatever this host has: every record parses, nothing is skipped.
    stats = ParseStats()
    records = list(read_proc_net_tcp(stats=stats))
    assert stats.skipped == 0
    assert len(records) == stats.lines


def test_state_numbers_follow_ss() -> None:
    assert STATE_BY_NUMBER[TcpState.NEW_SYN_RECV] is TcpState.SYN_RECV
    assert TcpState.BOUND_INACTIVE not in STATE_BY_NUMBER
    assert all(STATE_BY_NUMBER[n] == n for n in range(1, 12))


def test_new_record_is_an_ordinary_frozen_record() -> None:
    values = dataclasses.astuple(record(state=TcpState.LISTEN, local_port=80, drops=3, cookie=1 << 40))
    fast = new_record(*values)
    slow = SockRecord(*values)
    assert type(fast) is SockRecord
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.recv_q = 1  # type: ignore[misc]
    assert dataclasses.replace(fast, recv_q=2).recv_q == 2


# ---------------------------------------------------------------- fuzz

PROC_ALPHABET = st.sampled_from(list("0123456789ABCDEFabcdef: \n-xsl\t"))


@settings(max_examples=300, deadline=None)
@given(st.text(PROC_ALPHABET, max_size=400), st.sampled_from([socket.AF_INET, socket.AF_INET6]))
def test_fuzz_random_text_never_raises(text: str, family: int) -> None:
    stats = ParseStats()
    for item in parse_proc_net_tcp(text, family, stats=stats):
        assert isinstance(item.state, TcpState)
        assert 0 <= item.local_port <= 0xFFFF and 0 <= item.remote_port <= 0xFFFF
    assert stats.skipped <= stats.lines


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(TCP)), st.integers(0, len(TCP)), st.text(max_size=20))
def test_fuzz_cut_and_spliced_files_never_raise(start: int, stop: int, noise: str) -> None:
    start, stop = sorted((start, stop))
    text = TCP[:start] + noise + TCP[stop:]  # a line cut in two and glued to another
    complete = sum(1 for _ in parse_proc_net_tcp(TCP, socket.AF_INET))
    assert len(list(parse_proc_net_tcp(text, socket.AF_INET))) <= complete + 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_any_unicode_never_raises(text: str) -> None:
    list(parse_proc_net_tcp(text, socket.AF_INET))
    list(parse_proc_net_tcp(text, socket.AF_INET6))
