"""Request sockets (SYN_RECV mini sockets) and their timer: SYN-ACK retransmits, pruning, expiry.

Mirrors net/ipv4/inet_connection_sock.c: reqsk_timer_handler(), syn_ack_recalc() and
include/net/tcp.h: tcp_reqsk_timeout() (kernel-model §3).
"""

from enum import Enum

from tcpq.model import mib
from tcpq.model.constants import REQSK_MIN_RETRIES, REQSK_PRUNE_FLOOR
from tcpq.model.netns import Netns


class RequestSock:
    """One TCP_NEW_SYN_RECV request (kernel-model §3.1).

    A plain class, not a dataclass: the compiled core builds one per SYN that gets a request sock,
    and a dataclass's `__init__` stays interpreted Python there (`dataclasses` writes it
    at import)."""

    __slots__ = (
        "acked",
        "conn",
        "created_us",
        "expires_us",
        "last_oow_ack_us",
        "num_retrans",
        "num_timeout",
        "peer",
        "timeout_us",
    )

    def __init__(
        self, conn: int, peer: str, created_us: int, timeout_us: int, expires_us: int, num_timeout: int = 0
    ) -> None:
        self.conn = conn
        self.peer = peer
        self.created_us = created_us
        self.timeout_us = timeout_us
        self.expires_us = expires_us
        self.num_timeout = num_timeout
        self.num_retrans = 0
        self.acked = False
        # Last rate-limited reply sent for this request (tcp_oow_rate_limited, §4.1).
        self.last_oow_ack_us: int | None = None

    @property
    def young(self) -> bool:
        """A request whose timer has not fired yet (counted in `young`)."""
        return self.num_timeout == 0


class TimerVerdict(Enum):
    RESENT = "resent"  # SYN-ACK retransmitted, timer re-armed at req.expires_us
    KEPT = "kept"  # timer re-armed without a retransmission (defer-accept, acked)
    EXPIRED = "expired"  # request removed silently


def tcp_reqsk_timeout(req: RequestSock, rto_max_us: int) -> int:
    """Delay to the next firing: min(timeout << num_timeout, rto_max) (kernel-model §3.2, §3.5)."""
    return min(req.timeout_us << req.num_timeout, rto_max_us)


def syn_ack_recalc(num_timeout: int, max_retries: int, defer: int, acked: bool) -> tuple[bool, bool]:
    """(expire, resend) for one firing (kernel-model §3.4); defer = TCP_DEFER_ACCEPT periods."""
    if defer == 0:
        return num_timeout >= max_retries, True
    expire = num_timeout >= max_retries and (not acked or num_timeout >= defer)
    resend = not acked or num_timeout >= defer - 1
    return expire, resend


def pruned_retries(max_retries: int, qlen: int, young: int, backlog: int) -> int:
    """Cut the SYN-ACK budget when the SYN queue is half full of old requests (kernel-model §3.3)."""
    if 2 * qlen <= max(REQSK_PRUNE_FLOOR, backlog):
        return max_retries
    threshold = 2 * young
    retries = max_retries
    while retries > REQSK_MIN_RETRIES and qlen >= threshold:
        retries -= 1
        threshold *= 2
    return retries


def reqsk_timer_handler(
    ns: Netns, req: RequestSock, *, qlen: int, young: int, backlog: int, now: int, defer: int = 0
) -> TimerVerdict:
    """One request-timer firing (kernel-model §3.2).

    The caller owns the listener: on EXPIRED it unlinks the request (qlen -1, and young -1
    when `req.young`); on RESENT/KEPT it adjusts young if the request just stopped being young
    (the caller compares `req.young` before and after) and re-arms at `req.expires_us`.
    """
    retries = pruned_retries(ns.settings.synack_retries, qlen, young, backlog)
    expire, resend = syn_ack_recalc(req.num_timeout, retries, defer, req.acked)
    ns.counters[mib.TIMEOUTS] += 1  # tcp_syn_ack_timeout(), every firing (§11)
    if expire:
        return TimerVerdict.EXPIRED
    if resend:
        tcp_rtx_synack(ns, req)
    req.num_timeout += 1
    req.expires_us = now + tcp_reqsk_timeout(req, ns.settings.rto_max_us)
    return TimerVerdict.RESENT if resend else TimerVerdict.KEPT


def tcp_rtx_synack(ns: Netns, req: RequestSock) -> None:
    """A successful SYN-ACK retransmission (net/ipv4/tcp_output.c, kernel-model §3.2)."""
    ns.counters[mib.RETRANS_SEGS] += 1
    ns.counters[mib.SYN_RETRANS] += 1
    req.num_retrans += 1


def synack_schedule(ns: Netns, timeout_us: int) -> tuple[list[int], int]:
    """SYN-ACK send times and the expiry time of an unanswered lone request (kernel-model §3.5)."""
    req = RequestSock(conn=0, peer="", created_us=0, timeout_us=timeout_us, expires_us=timeout_us)
    sends = [0]
    while True:
        now = req.expires_us
        verdict = reqsk_timer_handler(ns, req, qlen=1, young=1 if req.young else 0, backlog=128, now=now)
        if verdict is TimerVerdict.EXPIRED:
            return sends, now
        sends.append(now)
