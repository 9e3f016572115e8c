"""A listening socket: the SYN queue, the accept queue and their admission rules.

Mirrors net/socket.c: __sys_listen(), include/net/sock.h: sk_acceptq_is_full(),
net/ipv4/tcp_input.c: tcp_conn_request(), net/ipv4/tcp_minisocks.c: tcp_check_req(),
net/ipv4/tcp_ipv4.c: tcp_v4_syn_recv_sock() and tcp_v4_cookie_check() (kernel-model §1, §2, §4, §6).
"""

from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from tcpq.kernel.profiles import SynQueueRule
from tcpq.model import mib
from tcpq.model.constants import REQSK_PRUNE_FLOOR
from tcpq.model.cookies import CookieMode, cookie_is_fresh, tcp_synq_no_recent_overflow
from tcpq.model.netns import Netns
from tcpq.model.reqsk import RequestSock, tcp_reqsk_timeout, tcp_rtx_synack

UINT_MAX = 2**32 - 1
# Enum members as plain module constants: member lookup on an Enum class costs ~100 ns on
# Python 3.11 (5x a class attribute) and these are read for every SYN.
_COOKIES_NEVER: Final = int(CookieMode.NEVER)
_COOKIES_ALWAYS: Final = int(CookieMode.ALWAYS)


@dataclass(slots=True)
class Listener:
    """LISTEN socket state; `backlog` is sk_max_ack_backlog after the somaxconn clamp."""

    port: int
    backlog: int
    # syn_queue_limit() for this backlog, fixed at listen() time (see inet_csk_listen_start).
    synq_limit: int
    accept_queue: deque[int] = field(default_factory=deque)
    requests: dict[int, RequestSock] = field(default_factory=dict)
    young: int = 0
    sk_drops: int = 0
    last_overflow_us: int | None = None
    flood_warning: str | None = None

    @property
    def qlen(self) -> int:
        return len(self.requests)

    @property
    def acceptq_len(self) -> int:
        return len(self.accept_queue)


def listen_backlog(requested: int, somaxconn: int) -> int:
    """__sys_listen(): unsigned compare, so any negative backlog becomes somaxconn (kernel-model §1.1)."""
    if requested & UINT_MAX > somaxconn:
        return somaxconn
    return requested


def inet_csk_listen_start(ns: Netns, port: int, requested_backlog: int) -> Listener:
    """listen(): clamp the backlog (§1.1) and fix the SYN-queue limit the profile gives (§2.2)."""
    backlog = listen_backlog(requested_backlog, ns.settings.somaxconn)
    return Listener(port=port, backlog=backlog, synq_limit=syn_queue_limit(ns, backlog))


def sk_acceptq_is_full(listener: Listener) -> bool:
    """Full only when strictly greater: the queue holds backlog + 1 children (kernel-model §1.3)."""
    return listener.acceptq_len > listener.backlog


def syn_queue_limit(ns: Netns, backlog: int) -> int:
    """Most request socks a listener admits before the SYN queue counts as full (§2.2, §15a)."""
    rule = ns.profile.syn_queue_rule
    if rule is SynQueueRule.QLEN_GT_BACKLOG:
        return backlog + 1
    if rule is SynQueueRule.QLEN_GE_BACKLOG:
        return backlog
    # 2.6.20-4.3 reqsk_queue_alloc(): a hash table of roundup_pow_of_two(max(8, min(...)) + 1).
    entries = max(REQSK_PRUNE_FLOOR, min(backlog, ns.settings.max_syn_backlog)) + 1
    return 1 << (entries - 1).bit_length()


def inet_csk_reqsk_queue_is_full(listener: Listener) -> bool:
    """Whether a new SYN finds the SYN queue full, per the profile's rule (kernel-model §2.2)."""
    return len(listener.requests) >= listener.synq_limit


class SynVerdict(Enum):
    REQUEST = "request"  # request sock created, SYN-ACK sent, timer armed at req.expires_us
    COOKIE = "cookie"  # cookie SYN-ACK sent, no state kept
    DROP = "drop"  # SYN dropped silently (no RST)


def tcp_listendrop(ns: Netns, listener: Listener) -> None:
    """Every drop exit of the listener path: ListenDrops and sk_drops (kernel-model §11)."""
    ns.counters[mib.LISTEN_DROPS] += 1
    listener.sk_drops += 1


def _tcp_syn_flood_action(ns: Netns, listener: Listener, port: int) -> bool:
    """Count the SYN-queue-full decision and log once per listener; True = use a cookie (§2.1)."""
    mode = ns.settings.syncookies
    want_cookie = mode != CookieMode.NEVER
    ns.counters[mib.REQQ_FULL_DO_COOKIES if want_cookie else mib.REQQ_FULL_DROP] += 1
    if mode != CookieMode.ALWAYS and listener.flood_warning is None:
        action = "Sending cookies" if want_cookie else "Dropping request"
        listener.flood_warning = (
            f"TCP: request_sock_TCP: Possible SYN flooding on port 0.0.0.0:{port}. {action}."
        )
    return want_cookie


def tcp_conn_request(
    ns: Netns, listener: Listener, *, conn: int, peer: str, now: int, initial_timeout_us: int
) -> SynVerdict:
    """A SYN that matches no request reaches the listener (kernel-model §2.1, table §12)."""
    settings = ns.settings
    want_cookie = False
    # The two tests below are inet_csk_reqsk_queue_is_full() and sk_acceptq_is_full(), inlined:
    # this is the simulator's hottest path (every SYN of an overflowing listener).
    if settings.syncookies == _COOKIES_ALWAYS or len(listener.requests) >= listener.synq_limit:
        want_cookie = _tcp_syn_flood_action(ns, listener, listener.port)
        if not want_cookie:
            tcp_listendrop(ns, listener)
            return SynVerdict.DROP
    if len(listener.accept_queue) > listener.backlog and (
        not ns.profile.acceptq_syn_drop_needs_young or listener.young > 1
    ):
        counters = ns.counters
        counters[mib.LISTEN_OVERFLOWS] += 1
        counters[mib.LISTEN_DROPS] += 1  # tcp_listendrop(), inlined
        listener.sk_drops += 1
        return _DROP
    if want_cookie:
        ns.counters[mib.SYNCOOKIES_SENT] += 1
        listener.last_overflow_us = now
        return SynVerdict.COOKIE
    limit = settings.max_syn_backlog
    if (
        settings.syncookies == _COOKIES_NEVER
        and limit - listener.qlen < (limit >> 2)
        and peer not in ns.proven_peers
    ):
        tcp_listendrop(ns, listener)  # last quarter reserved for proven peers (§2.3)
        return SynVerdict.DROP
    listener.requests[conn] = RequestSock(
        conn=conn,
        peer=peer,
        created_us=now,
        timeout_us=initial_timeout_us,
        expires_us=now + initial_timeout_us,
    )
    listener.young += 1
    return SynVerdict.REQUEST


_DROP: Final = SynVerdict.DROP


class AckVerdict(Enum):
    CHILD = "child"  # child appended to the accept queue (client is ESTABLISHED on the server too)
    OVERFLOW = "overflow"  # accept queue full, segment dropped, request kept with acked=1
    RESET = "reset"  # RST sent to the client, request removed (abort_on_overflow=1 or RST/SYN)
    SYNACK = "synack"  # retransmitted SYN answered with an immediate SYN-ACK
    IGNORED = "ignored"  # rate-limited or otherwise dropped without a reply


def reqsk_unlink(listener: Listener, req: RequestSock) -> None:
    """inet_csk_reqsk_queue_drop(): qlen -1, and young -1 if the timer never fired."""
    del listener.requests[req.conn]
    if req.young:
        listener.young -= 1


def tcp_v4_syn_recv_sock(ns: Netns, listener: Listener, conn: int) -> bool:
    """Create a child if the accept queue has room; else count the overflow (kernel-model §4.3)."""
    if sk_acceptq_is_full(listener):
        ns.counters[mib.LISTEN_OVERFLOWS] += 1
        tcp_listendrop(ns, listener)
        return False
    ns.counters[mib.PASSIVE_OPENS] += 1
    listener.accept_queue.append(conn)
    return True


def tcp_check_req(ns: Netns, listener: Listener, req: RequestSock, *, now: int) -> AckVerdict:
    """An ACK (bare or with data) for an existing request (kernel-model §4.3, §4.4)."""
    if tcp_v4_syn_recv_sock(ns, listener, req.conn):
        reqsk_unlink(listener, req)
        return AckVerdict.CHILD
    # The skb is freed with the listener as rx_sk: one more sk_drops (kernel-model §4.4).
    listener.sk_drops += 1
    if ns.settings.abort_on_overflow == 0:
        req.acked = True
        return AckVerdict.OVERFLOW
    ns.counters[mib.OUT_RSTS] += 1
    ns.counters[mib.EMBRYONIC_RSTS] += 1
    reqsk_unlink(listener, req)
    return AckVerdict.RESET


def tcp_check_req_rst(ns: Netns, listener: Listener, req: RequestSock) -> AckVerdict:
    """RST or a new SYN on a request: embryonic reset (kernel-model §4.2)."""
    ns.counters[mib.ATTEMPT_FAILS] += 1
    ns.counters[mib.EMBRYONIC_RSTS] += 1
    reqsk_unlink(listener, req)
    return AckVerdict.RESET


def tcp_check_req_syn(ns: Netns, req: RequestSock, *, now: int) -> AckVerdict:
    """A retransmitted SYN for an existing request: immediate SYN-ACK, timer pushed out (§4.1)."""
    limit = ns.settings.invalid_ratelimit_us
    if req.last_oow_ack_us is not None and now - req.last_oow_ack_us < limit:
        ns.counters[mib.ACK_SKIPPED_SYN_RECV] += 1
        return AckVerdict.IGNORED
    req.last_oow_ack_us = now
    tcp_rtx_synack(ns, req)
    req.expires_us = now + tcp_reqsk_timeout(req, ns.settings.rto_max_us)
    return AckVerdict.SYNACK


class CookieVerdict(Enum):
    CHILD = "child"  # valid cookie, child in the accept queue
    OVERFLOW = "overflow"  # valid cookie but the accept queue is full: dropped, no RST
    RESET = "reset"  # no request, no valid cookie: the listener answers with RST


def tcp_v4_cookie_check(
    ns: Netns, listener: Listener, *, conn: int, cookie_issued_us: int | None, now: int
) -> CookieVerdict:
    """An ACK at the listener that matches no request (kernel-model §6.1, §6.2)."""
    checks_cookies = ns.settings.syncookies != CookieMode.NEVER and not tcp_synq_no_recent_overflow(
        listener.last_overflow_us, now
    )
    if checks_cookies:
        if cookie_issued_us is not None and cookie_is_fresh(cookie_issued_us, now):
            ns.counters[mib.SYNCOOKIES_RECV] += 1
            if tcp_v4_syn_recv_sock(ns, listener, conn):
                return CookieVerdict.CHILD
            return CookieVerdict.OVERFLOW
        ns.counters[mib.SYNCOOKIES_FAILED] += 1
    ns.counters[mib.OUT_RSTS] += 1
    return CookieVerdict.RESET


def inet_csk_accept(listener: Listener) -> int | None:
    """accept(): take the oldest child (the accept queue is a FIFO, kernel-model §1.4)."""
    return listener.accept_queue.popleft() if listener.accept_queue else None
