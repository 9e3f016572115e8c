"""The active opener: SYN retransmission, the outcome of connect(), and life after it.

Mirrors net/ipv4/tcp_output.c: tcp_connect(), net/ipv4/tcp_timer.c: tcp_retransmit_timer(),
tcp_write_timeout(), tcp_model_timeout(), net/ipv4/tcp_input.c: tcp_reset(),
tcp_validate_incoming() (kernel-model §5).
"""

from enum import StrEnum
from typing import Final

from tcpq.kernel.profiles import Profile, SynSentExpiry
from tcpq.model import mib
from tcpq.model.constants import US_PER_MS
from tcpq.model.netns import Netns, Settings, SysctlValues


class Outcome(StrEnum):
    """How one connection attempt ended, from the client application's point of view."""

    CONNECTED = "connected"
    REFUSED = "refused"  # ECONNREFUSED: RST in SYN_SENT (§5.2)
    RESET = "reset"  # ECONNRESET: RST once ESTABLISHED (§4.4, §5.4)
    TIMED_OUT = "timed_out"  # ETIMEDOUT from the kernel, or the application's own timeout
    NO_PORT = "no_port"  # EADDRNOTAVAIL: no usable ephemeral port (§8.5)
    PENDING = "pending"  # unresolved when the run stopped


class ClientSock:
    """A client socket's retransmission state (SYN_SENT, then data while ESTABLISHED).

    A plain class, not a dataclass: the compiled core builds one per connection attempt,
    and a dataclass's `__init__` stays interpreted Python there (`dataclasses` writes it
    at import)."""

    __slots__ = ("conn", "first_send_us", "last_challenge_ack_us", "retransmits", "rto_us", "total_rto")

    def __init__(self, conn: int, first_send_us: int, rto_us: int) -> None:
        self.conn = conn
        self.first_send_us = first_send_us
        self.rto_us = rto_us
        self.retransmits = 0
        self.total_rto = 0
        self.last_challenge_ack_us: int | None = None


def tcp_connect(ns: Netns, conn: int, now: int) -> ClientSock:
    """connect(): first SYN, ActiveOpens +1, RTO = TCP_TIMEOUT_INIT of the profile (§5.1)."""
    ns.counters[mib.ACTIVE_OPENS] += 1
    return ClientSock(conn=conn, first_send_us=now, rto_us=ns.profile.initial_rto_ms * US_PER_MS)


def tcp_model_timeout(boundary: int, rto_base_us: int, rto_max_us: int) -> int:
    """Time a connection may spend on `boundary` exponential retransmissions (tcp_model_timeout)."""
    linear_backoff_thresh = 0
    while (rto_base_us << (linear_backoff_thresh + 1)) <= rto_max_us:
        linear_backoff_thresh += 1
    if boundary <= linear_backoff_thresh:
        return ((2 << boundary) - 1) * rto_base_us
    return ((2 << linear_backoff_thresh) - 1) * rto_base_us + (boundary - linear_backoff_thresh) * rto_max_us


_BY_COUNT: Final = SynSentExpiry.RETRANSMIT_COUNT  # a module constant: Enum member lookup is slow on 3.11


def syn_sent_expired(ns: Netns, sock: ClientSock, now: int) -> bool:
    """tcp_write_timeout() for SYN_SENT, by profile (kernel-model §5.1)."""
    settings = ns.settings
    if ns.profile.syn_sent_expiry is _BY_COUNT:
        return sock.retransmits >= settings.syn_retries + settings.syn_linear_timeouts
    budget = tcp_model_timeout(
        settings.syn_retries, ns.profile.initial_rto_ms * US_PER_MS, settings.rto_max_us
    )
    return now - sock.first_send_us >= budget


def tcp_retransmit_syn(ns: Netns, sock: ClientSock, now: int) -> int | None:
    """One RTO expiry in SYN_SENT: the next expiry time, or None when connect() fails (§5.1).

    On None the caller reports ETIMEDOUT; counters (AttemptFails, TCPAbortOnTimeout) are done here.
    """
    if syn_sent_expired(ns, sock, now):
        ns.counters[mib.ABORT_ON_TIMEOUT] += 1
        ns.counters[mib.ATTEMPT_FAILS] += 1
        return None
    ns.counters[mib.SYN_RETRANS] += 1
    ns.counters[mib.RETRANS_SEGS] += 1
    ns.counters[mib.TIMEOUTS] += 1
    sock.retransmits += 1
    sock.total_rto += 1
    # The first tcp_syn_linear_timeouts re-arms keep the initial RTO (tcp_retransmit_timer()).
    if sock.total_rto > ns.settings.syn_linear_timeouts:
        sock.rto_us = min(sock.rto_us * 2, ns.settings.rto_max_us)
    return now + sock.rto_us


def syn_schedule(ns: Netns) -> tuple[list[int], int]:
    """SYN send times of an unanswered connect() and when it fails with ETIMEDOUT (§5.1)."""
    sock = tcp_connect(ns, conn=0, now=0)
    sends = [0]
    expiry: int | None = sock.rto_us
    while True:
        assert expiry is not None
        now = expiry
        expiry = tcp_retransmit_syn(ns, sock, now)
        if expiry is None:
            return sends, now
        sends.append(now)


def syn_resends_us(sysctls: SysctlValues, profile: Profile) -> list[int]:
    """When a client namespace with these sysctls resends an unanswered SYN, in µs after the
    first (the schedule of syn_schedule(), without the first send and the expiry)."""
    sends, _ = syn_schedule(Netns("client", Settings.from_sysctls(sysctls, profile), profile))
    return sends[1:]


def tcp_rcv_synsent_rst(ns: Netns) -> Outcome:
    """RST in SYN_SENT: tcp_reset() → ECONNREFUSED, tcp_done() → AttemptFails (§5.2)."""
    ns.counters[mib.ATTEMPT_FAILS] += 1
    return Outcome.REFUSED


def tcp_reset_established(ns: Netns) -> Outcome:
    """RST on an ESTABLISHED socket: ECONNRESET, EstabResets +1 (§4.4, §5.4)."""
    ns.counters[mib.ESTAB_RESETS] += 1
    return Outcome.RESET


def tcp_syn_challenge(ns: Netns, sock: ClientSock, now: int) -> bool:
    """A SYN-ACK reaching an ESTABLISHED client: challenge ACK, one per ratelimit (§5.4).

    Returns True when the ACK is sent (it is what lets an overflowed server complete later).
    """
    ns.counters[mib.SYN_CHALLENGE] += 1
    last = sock.last_challenge_ack_us
    if last is not None and now - last < ns.settings.invalid_ratelimit_us:
        return False
    sock.last_challenge_ack_us = now
    ns.counters[mib.CHALLENGE_ACK] += 1
    return True


def start_data(sock: ClientSock, now: int, rto_us: int) -> int:
    """The first data segment of an ESTABLISHED client: arm the RTO; returns its expiry."""
    sock.first_send_us = now
    sock.retransmits = 0
    sock.rto_us = rto_us
    return now + rto_us


def data_rto(ns: Netns, rtt_us: int) -> int:
    """RTO after the handshake's RTT sample: srtt + max(rttvar, rto_min) ≈ rtt + rto_min (§5.4)."""
    return rtt_us + ns.settings.rto_min_us


def tcp_retransmit_data(ns: Netns, sock: ClientSock, now: int) -> int | None:
    """One RTO expiry with unacknowledged data; None after tcp_retries2 (ETIMEDOUT) (§5.4)."""
    return _retransmit(ns, sock, now, ns.settings.retries2)


def tcp_retransmit_fin(ns: Netns, sock: ClientSock, now: int) -> int | None:
    """One RTO expiry of the FIN of a socket the application closed (an orphan in FIN_WAIT1):
    retransmitted like data, but only tcp_orphan_retries times (0 means 8 while the RTO is
    below TCP_RTO_MAX: tcp_orphan_retries()); None: the socket is destroyed (tcp_write_timeout).
    A FIN a full accept queue (or a filter) dropped reaches the server this way."""
    return _retransmit(ns, sock, now, ns.settings.orphan_retries or 8)


def _retransmit(ns: Netns, sock: ClientSock, now: int, limit: int) -> int | None:
    if sock.retransmits >= limit:
        ns.counters[mib.ABORT_ON_TIMEOUT] += 1
        return None
    ns.counters[mib.RETRANS_SEGS] += 1
    sock.retransmits += 1
    if sock.retransmits == 1 and ns.profile.tail_loss_probe:
        # The first is a tail-loss probe; the RTO then starts from rto (measured: data sent at
        # t, retransmitted at t+0.20, +0.41, +0.83, +1.66 s ..., kernel-model §5.4, E2b).
        ns.counters[mib.LOSS_PROBES] += 1
    else:
        ns.counters[mib.TIMEOUTS] += 1
        sock.rto_us = min(sock.rto_us * 2, ns.settings.rto_max_us)
    return now + sock.rto_us
