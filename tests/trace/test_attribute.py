"""Attribution on hand-made socket tables: pointer first, then 4-tuple, then the only listener."""

import socket
from pathlib import Path

from tcpq.observe.netns import NetnsRef
from tcpq.trace.attribute import Sock, SocketIndex, _families, parse_table, parse_table_bytes
from tcpq.trace.events import Endpoint, Kind, TraceEvent

# /proc/net/tcp as 6.18 printed it for a listener, a client and a request sock (trailing
# columns cut: the reader needs the first twelve).
PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:B7B5 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 63885 1 000000008f6ecba1
   1: 0100007F:E508 0100007F:B7B5 01 00000000:00000000 00:00000000 00000000 0 0 63886 2 00000000948aa605
   2: 0100007F:B7B5 0100007F:E508 03 00000000:00000000 00:00000000 00000000 0 0 0 0 0000000000000000
"""


def ref(inode: int, name: str) -> NetnsRef:
    return NetnsRef(inode, f"/run/netns/{name}", name, None, None, None, is_self=False)


LISTEN, SYN_SENT = 10, 2
SERVER = Endpoint("127.0.0.1", 8080)


def tables() -> dict[str, list[Sock]]:
    client_a, client_b = Endpoint("127.0.0.1", 40000), Endpoint("127.0.0.1", 40000)  # same tuple
    return {
        "a": [
            Sock("a", LISTEN, SERVER, Endpoint("0.0.0.0", 0), 11, "00000000aaaa0001"),
            Sock("a", SYN_SENT, client_a, SERVER, 12, "00000000aaaa0002"),
        ],
        "b": [
            Sock("b", LISTEN, SERVER, Endpoint("0.0.0.0", 0), 21, "00000000bbbb0001"),
            Sock("b", SYN_SENT, client_b, SERVER, 22, "00000000bbbb0002"),
            Sock("b", LISTEN, Endpoint("0.0.0.0", 9090), Endpoint("0.0.0.0", 0), 23, "00000000bbbb0003"),
        ],
    }


class NoOwners:
    def owners(self, inodes: object) -> dict[int, list[object]]:
        return {}


def index() -> SocketIndex:
    data = tables()
    return SocketIndex(
        use_pointers=True,
        namespaces=lambda: [ref(1, "a"), ref(2, "b")],
        reader=lambda r: data[r.name or ""],
        process_map=NoOwners(),  # type: ignore[arg-type]
    )


def retransmit(sk: str | None) -> TraceEvent:
    return TraceEvent(
        1.0, 0, Kind.SYN_RETRANSMIT, Endpoint("127.0.0.1", 40000), SERVER, sk=sk, state="SYN_SENT"
    )


def test_parse_table_reads_pointers_and_states() -> None:
    socks = parse_table(PROC_NET_TCP, socket.AF_INET, "x")
    assert [(s.state, s.local.port, s.pointer) for s in socks] == [
        (10, 47029, "000000008f6ecba1"),
        (1, 58632, "00000000948aa605"),
        (3, 47029, None),
    ]
    assert socks[1].remote == Endpoint("127.0.0.1", 47029) and socks[0].inode == 63885


def test_pointer_tells_apart_what_the_tuple_cannot() -> None:
    idx = index()
    in_b, in_a, unknown = idx.attribute(
        [retransmit("00000000bbbb0002"), retransmit("00000000aaaa0002"), retransmit(None)]
    )
    assert (in_b.netns, in_b.by, in_b.listener and in_b.listener.netns) == ("b", "pointer", "b")
    assert (in_a.netns, in_a.listener and in_a.listener.port) == ("a", 8080)
    # The same 4-tuple exists in both namespaces and two listeners serve :8080: unknown.
    assert unknown.netns is None and unknown.listener is None and unknown.by == ""


def test_drop_by_listener_pointer_and_only_listener_by_port() -> None:
    idx = index()
    drop = TraceEvent(1.0, 0, Kind.DROP, None, None, sk="00000000aaaa0001", reason="TCP_LISTEN_OVERFLOW")
    synack = TraceEvent(1.0, 0, Kind.SYNACK_RETRANSMIT, Endpoint("10.0.0.1", 9090), Endpoint("10.0.0.2", 5))
    dropped, by_port = idx.attribute([drop, synack])
    assert dropped.netns == "a" and dropped.listener is not None and dropped.listener.address == "127.0.0.1"
    assert by_port.by == "port" and by_port.netns == "b" and by_port.listener is not None
    assert idx.refreshes == 1  # one re-read served the batch


def test_fast_parser_equals_the_reference_parser_and_reuses_its_socks() -> None:
    data = PROC_NET_TCP.encode()
    cache: dict = {}  # type: ignore[type-arg]
    first = parse_table_bytes(data, socket.AF_INET, "x", cache)
    assert first == parse_table(PROC_NET_TCP, socket.AF_INET, "x")
    again = parse_table_bytes(data, socket.AF_INET, "x", cache)
    assert again == first and all(a is b for a, b in zip(again, first, strict=True))
    # A line cut by a read while sockets come and go is skipped by both; the cache keeps only
    # the lines of the last read.
    cut = PROC_NET_TCP[: PROC_NET_TCP.rindex("0000000000000000") - 40]
    assert parse_table_bytes(cut.encode(), socket.AF_INET, "x", cache) == parse_table(
        cut, socket.AF_INET, "x"
    )
    assert len(cache) == 2


def test_fast_parser_on_this_hosts_tables() -> None:
    """A listener and a connection of this test (IPv4, and IPv6 where there is one) read back
    from /proc/self/net by both parsers alike."""
    opened = []
    for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            server = socket.socket(family)
            server.bind((address, 0))
        except OSError:
            continue  # no IPv6 here
        server.listen()
        client = socket.create_connection(server.getsockname()[:2])
        opened += [server, client, server.accept()[0]]
    try:
        for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
            try:
                data = (Path("/proc/self/net") / name).read_bytes()
            except FileNotFoundError:
                continue
            fast = parse_table_bytes(data, family, "self")
            assert fast == parse_table(data.decode(), family, "self")
            if family == socket.AF_INET:
                ports = {sock.local.port for sock in fast}
                assert opened[0].getsockname()[1] in ports
    finally:
        for sock in opened:
            sock.close()


def test_refresh_reads_only_the_tables_of_the_unknown_events() -> None:
    v4 = retransmit(None)
    v6 = TraceEvent(1.0, 0, Kind.SYN_RETRANSMIT, Endpoint("::1", 40000), Endpoint("::1", 8080))
    drop = TraceEvent(1.0, 0, Kind.DROP, None, None, sk="00000000aaaa0001")
    assert _families([v4]) == {socket.AF_INET}
    assert _families([v6, v4]) == {socket.AF_INET, socket.AF_INET6}
    assert _families([v4, drop]) == {socket.AF_INET, socket.AF_INET6}  # a pointer alone: both
