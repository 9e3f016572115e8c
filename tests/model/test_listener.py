"""Listener admission rules (kernel-model §1, §2, §4, §6, table §12)."""

from tcpq.model import mib
from tcpq.model.listener import (
    AckVerdict,
    CookieVerdict,
    Listener,
    SynVerdict,
    inet_csk_accept,
    inet_csk_listen_start,
    listen_backlog,
    sk_acceptq_is_full,
    syn_queue_limit,
    tcp_check_req,
    tcp_check_req_rst,
    tcp_check_req_syn,
    tcp_conn_request,
    tcp_v4_cookie_check,
)
from tcpq.model.netns import Netns

from .helpers import make_ns

SECOND = 1_000_000


def listener_for(ns: Netns, backlog: int, last_overflow_us: int | None = None) -> Listener:
    listener = inet_csk_listen_start(ns, 5000, backlog)
    listener.last_overflow_us = last_overflow_us
    return listener


def syn(ns: Netns, listener: Listener, conn: int, now: int = 0, peer: str = "client") -> SynVerdict:
    return tcp_conn_request(ns, listener, conn=conn, peer=peer, now=now, initial_timeout_us=SECOND)


def fill_accept_queue(ns: Netns, listener: Listener) -> None:
    """Handshakes that complete at once until the accept queue is full."""
    conn = 1000
    while not sk_acceptq_is_full(listener):
        assert syn(ns, listener, conn) is SynVerdict.REQUEST
        assert tcp_check_req(ns, listener, listener.requests[conn], now=0) is AckVerdict.CHILD
        conn += 1


class TestListenBacklog:
    """§1.1: unsigned compare against the namespace's somaxconn, no lower clamp."""

    def test_clamped_to_somaxconn(self) -> None:
        assert listen_backlog(511, 128) == 128

    def test_negative_becomes_somaxconn(self) -> None:
        assert listen_backlog(-1, 2) == 2
        assert listen_backlog(-(2**31), 4096) == 4096

    def test_zero_stays_zero(self) -> None:
        assert listen_backlog(0, 4096) == 0


class TestAcceptQueue:
    """§1.3: full only when acceptq_len > backlog, so backlog + 1 children fit (E1)."""

    def test_holds_backlog_plus_one(self) -> None:
        for backlog in (0, 1, 4, 128):
            ns = make_ns()
            listener = listener_for(ns, backlog)
            fill_accept_queue(ns, listener)
            assert listener.acceptq_len == backlog + 1
            assert ns.counters[mib.PASSIVE_OPENS] == backlog + 1

    def test_accept_is_fifo(self) -> None:
        ns = make_ns()
        listener = listener_for(ns, 4)
        fill_accept_queue(ns, listener)
        assert inet_csk_accept(listener) == 1000
        assert inet_csk_accept(listener) == 1001


class TestSynAtListener:
    """§2.1, §2.5 and the §12 rows for one SYN."""

    def test_room_creates_request(self) -> None:
        ns = make_ns()
        listener = listener_for(ns, 4)
        assert syn(ns, listener, 1) is SynVerdict.REQUEST
        assert listener.qlen == 1 and listener.young == 1
        assert listener.requests[1].expires_us == SECOND

    def test_full_accept_queue_drops_syn_unconditionally(self) -> None:
        ns = make_ns()
        listener = listener_for(ns, 4)
        fill_accept_queue(ns, listener)
        assert syn(ns, listener, 1) is SynVerdict.DROP
        assert ns.counters[mib.LISTEN_OVERFLOWS] == 1
        assert ns.counters[mib.LISTEN_DROPS] == 1
        assert listener.sk_drops == 1  # a dropped SYN adds 1 to sk_drops (E7)

    def test_before_4_10_full_accept_queue_needs_two_young(self) -> None:
        ns = make_ns("4.9")
        listener = listener_for(ns, 4)
        fill_accept_queue(ns, listener)
        assert syn(ns, listener, 1) is SynVerdict.REQUEST  # young 0
        assert syn(ns, listener, 2) is SynVerdict.REQUEST  # young 1
        assert syn(ns, listener, 3) is SynVerdict.DROP  # young 2 > 1
        assert ns.counters[mib.LISTEN_OVERFLOWS] == 1


class TestSynQueue:
    """§2.2: request socks are capped by the listen backlog, per profile."""

    def test_6_13_admits_backlog_plus_one(self) -> None:
        ns = make_ns("6.18", tcp_syncookies=0)
        listener = listener_for(ns, 4)
        verdicts = [syn(ns, listener, conn) for conn in range(10)]
        assert verdicts.count(SynVerdict.REQUEST) == 5  # E4 B
        assert ns.counters[mib.REQQ_FULL_DROP] == 5
        assert ns.counters[mib.LISTEN_DROPS] == 5
        assert ns.counters[mib.LISTEN_OVERFLOWS] == 0
        assert listener.flood_warning is not None and "Dropping request" in listener.flood_warning

    def test_6_12_admits_backlog(self) -> None:
        ns = make_ns("6.12", tcp_syncookies=0)
        listener = listener_for(ns, 4)
        assert [syn(ns, listener, c) for c in range(6)].count(SynVerdict.REQUEST) == 4

    def test_zero_backlog_before_6_13_admits_nothing_without_cookies(self) -> None:
        ns = make_ns("6.12", tcp_syncookies=0)
        assert syn(ns, listener_for(ns, 0), 1) is SynVerdict.DROP
        ns613 = make_ns("6.13", tcp_syncookies=0)
        assert syn(ns613, listener_for(ns613, 0), 1) is SynVerdict.REQUEST

    def test_before_4_4_power_of_two_table(self) -> None:
        ns = make_ns("3.10")
        assert syn_queue_limit(ns, 4) == 16
        assert listener_for(ns, 4).synq_limit == 16  # roundup_pow_of_two(max(8, 4) + 1)
        assert syn_queue_limit(ns, 511) == 512
        assert syn_queue_limit(make_ns("3.10", tcp_max_syn_backlog=128), 511) == 256

    def test_cookies_when_syn_queue_full(self) -> None:
        ns = make_ns("6.18", tcp_syncookies=1)
        listener = listener_for(ns, 4)
        verdicts = [syn(ns, listener, conn, now=7) for conn in range(10)]
        assert verdicts.count(SynVerdict.REQUEST) == 5  # E4 A
        assert verdicts.count(SynVerdict.COOKIE) == 5
        assert ns.counters[mib.REQQ_FULL_DO_COOKIES] == 5
        assert ns.counters[mib.SYNCOOKIES_SENT] == 5
        assert ns.counters[mib.LISTEN_DROPS] == 0
        assert listener.last_overflow_us == 7

    def test_cookies_always_counts_every_syn(self) -> None:
        """§2.4: mode 2 counts DoCookies for every SYN, Sent only for SYN-ACKs sent (E4 C)."""
        ns = make_ns("6.18", tcp_syncookies=2)
        listener = listener_for(ns, 4)
        for conn in range(7):
            if syn(ns, listener, conn) is SynVerdict.COOKIE:
                tcp_v4_cookie_check(ns, listener, conn=conn, cookie_issued_us=0, now=0)
        assert listener.qlen == 0
        assert ns.counters[mib.REQQ_FULL_DO_COOKIES] == 7
        assert ns.counters[mib.SYNCOOKIES_SENT] == 5
        assert ns.counters[mib.SYNCOOKIES_RECV] == 5
        assert ns.counters[mib.LISTEN_OVERFLOWS] == 2
        assert listener.flood_warning is None  # mode 2 never warns

    def test_last_quarter_reserved_for_proven_peers(self) -> None:
        """§2.3 (E4 D): max_syn_backlog 8, backlog 100 → 7 requests, 3 dropped, ListenDrops only."""
        ns = make_ns("6.18", tcp_syncookies=0, tcp_max_syn_backlog=8)
        listener = listener_for(ns, 100)
        verdicts = [syn(ns, listener, conn) for conn in range(10)]
        assert verdicts.count(SynVerdict.REQUEST) == 7
        assert ns.counters[mib.LISTEN_DROPS] == 3
        assert ns.counters[mib.REQQ_FULL_DROP] == 0
        ns.proven_peers.add("client")
        assert syn(ns, listener, 99) is SynVerdict.REQUEST

    def test_last_quarter_ignored_with_cookies(self) -> None:
        ns = make_ns("6.18", tcp_syncookies=1, tcp_max_syn_backlog=8)
        listener = listener_for(ns, 100)
        assert [syn(ns, listener, c) for c in range(10)].count(SynVerdict.REQUEST) == 10


class TestFinalAck:
    """§4.3, §4.4: final ACK on a request, with and without room."""

    def overflowing(self, abort: int) -> tuple[Netns, Listener, int]:
        ns = make_ns("6.18", tcp_abort_on_overflow=abort)
        listener = listener_for(ns, 2)
        assert syn(ns, listener, 1) is SynVerdict.REQUEST
        fill_accept_queue(ns, listener)
        return ns, listener, 1

    def test_room_creates_child(self) -> None:
        ns = make_ns()
        listener = listener_for(ns, 2)
        syn(ns, listener, 1)
        assert tcp_check_req(ns, listener, listener.requests[1], now=0) is AckVerdict.CHILD
        assert listener.qlen == 0 and listener.young == 0
        assert list(listener.accept_queue) == [1]

    def test_overflow_keeps_request_and_sets_acked(self) -> None:
        ns, listener, conn = self.overflowing(abort=0)
        req = listener.requests[conn]
        assert tcp_check_req(ns, listener, req, now=0) is AckVerdict.OVERFLOW
        assert req.acked and conn in listener.requests
        assert ns.counters[mib.LISTEN_OVERFLOWS] == 1 and ns.counters[mib.LISTEN_DROPS] == 1
        assert listener.sk_drops == 2  # final-ACK overflow adds 2 (E7)

    def test_abort_on_overflow_resets(self) -> None:
        ns, listener, conn = self.overflowing(abort=1)
        assert tcp_check_req(ns, listener, listener.requests[conn], now=0) is AckVerdict.RESET
        assert conn not in listener.requests
        assert ns.counters[mib.EMBRYONIC_RSTS] == 1 and ns.counters[mib.OUT_RSTS] == 1
        assert ns.counters[mib.LISTEN_OVERFLOWS] == 1

    def test_rst_on_request_is_embryonic_reset(self) -> None:
        ns = make_ns()
        listener = listener_for(ns, 2)
        syn(ns, listener, 1)
        assert tcp_check_req_rst(ns, listener, listener.requests[1]) is AckVerdict.RESET
        assert ns.counters[mib.ATTEMPT_FAILS] == 1 and ns.counters[mib.EMBRYONIC_RSTS] == 1
        assert listener.qlen == 0 and listener.young == 0

    def test_retransmitted_syn_gets_synack_rate_limited(self) -> None:
        """§4.1: immediate SYN-ACK, timer pushed out, at most one per tcp_invalid_ratelimit."""
        ns = make_ns()
        listener = listener_for(ns, 2)
        syn(ns, listener, 1)
        req = listener.requests[1]
        assert tcp_check_req_syn(ns, req, now=SECOND // 2) is AckVerdict.SYNACK
        assert req.expires_us == SECOND // 2 + SECOND and req.num_timeout == 0
        assert tcp_check_req_syn(ns, req, now=SECOND // 2 + 1000) is AckVerdict.IGNORED
        assert ns.counters[mib.ACK_SKIPPED_SYN_RECV] == 1
        assert ns.counters[mib.SYN_RETRANS] == 1


class TestAckWithoutRequest:
    """§6: cookie check, then RST."""

    def test_valid_cookie_creates_child(self) -> None:
        ns = make_ns("6.18", tcp_syncookies=1)
        listener = listener_for(ns, 4, last_overflow_us=0)
        verdict = tcp_v4_cookie_check(ns, listener, conn=1, cookie_issued_us=0, now=SECOND)
        assert verdict is CookieVerdict.CHILD
        assert ns.counters[mib.SYNCOOKIES_RECV] == 1

    def test_valid_cookie_on_full_queue_dropped_without_rst(self) -> None:
        ns = make_ns("6.18", tcp_syncookies=1)
        listener = listener_for(ns, 0, last_overflow_us=0)
        fill_accept_queue(ns, listener)
        verdict = tcp_v4_cookie_check(ns, listener, conn=1, cookie_issued_us=0, now=SECOND)
        assert verdict is CookieVerdict.OVERFLOW
        assert ns.counters[mib.LISTEN_OVERFLOWS] == 1 and ns.counters[mib.OUT_RSTS] == 0

    def test_stale_cookie_fails_then_rst(self) -> None:
        ns = make_ns("6.18", tcp_syncookies=1)
        listener = listener_for(ns, 4, last_overflow_us=100 * SECOND)
        verdict = tcp_v4_cookie_check(ns, listener, conn=1, cookie_issued_us=0, now=125 * SECOND)
        assert verdict is CookieVerdict.RESET
        assert ns.counters[mib.SYNCOOKIES_FAILED] == 1 and ns.counters[mib.OUT_RSTS] == 1

    def test_no_recent_overflow_means_plain_rst(self) -> None:
        ns = make_ns("6.18", tcp_syncookies=1)
        listener = listener_for(ns, 4)
        assert tcp_v4_cookie_check(ns, listener, conn=1, cookie_issued_us=None, now=0) is CookieVerdict.RESET
        assert ns.counters[mib.SYNCOOKIES_FAILED] == 0 and ns.counters[mib.OUT_RSTS] == 1


def test_listen_start_clamps_and_sizes() -> None:
    """§1.1 + §2.2: listen(511) under somaxconn 128 → backlog 128, 129 requests on 6.13+."""
    ns = make_ns("6.18", somaxconn=128)
    listener = inet_csk_listen_start(ns, 80, 511)
    assert listener.backlog == 128 and listener.synq_limit == 129
    assert inet_csk_listen_start(make_ns("6.6", somaxconn=128), 80, 511).synq_limit == 128
