"""Request timer: SYN-ACK schedule, pruning, expiry (kernel-model §3)."""

import pytest

from tcpq.model import mib
from tcpq.model.reqsk import (
    RequestSock,
    TimerVerdict,
    pruned_retries,
    reqsk_timer_handler,
    syn_ack_recalc,
    synack_schedule,
)

from .helpers import make_ns

S = 1_000_000


def test_default_schedule_1_3_7_15_31_then_gone_at_63() -> None:
    """§3.5: SYN-ACK at 0 and retransmitted at 1, 3, 7, 15, 31 s; removed at 63 s."""
    ns = make_ns("6.18")
    sends, expiry = synack_schedule(ns, timeout_us=S)
    assert sends == [0, 1 * S, 3 * S, 7 * S, 15 * S, 31 * S]
    assert expiry == 63 * S
    assert ns.counters[mib.TIMEOUTS] == 6  # every firing, including the last
    assert ns.counters[mib.SYN_RETRANS] == 5 and ns.counters[mib.RETRANS_SEGS] == 5


def test_before_3_1_initial_timeout_3s() -> None:
    """§15 d history: 3 s initial RTO → retransmits at 3, 9, 21, 45, 93 s, gone at 189 s."""
    ns = make_ns("2.6")
    sends, expiry = synack_schedule(ns, timeout_us=3 * S)
    assert sends == [0, 3 * S, 9 * S, 21 * S, 45 * S, 93 * S]
    assert expiry == 189 * S


def test_synack_retries_sysctl_and_rto_max_cap() -> None:
    ns = make_ns("6.18", tcp_synack_retries=2)
    assert synack_schedule(ns, timeout_us=S) == ([0, S, 3 * S], 7 * S)
    capped = make_ns("6.18", tcp_rto_max_ms=2000)
    assert synack_schedule(capped, timeout_us=S) == ([0, S, 3 * S, 5 * S, 7 * S, 9 * S], 11 * S)


def test_linear_timeouts_do_not_apply_to_synacks() -> None:
    assert synack_schedule(make_ns("6.18", tcp_syn_linear_timeouts=10), S)[1] == 63 * S


@pytest.mark.parametrize(
    ("qlen", "young", "backlog", "expected"),
    [
        (100, 10, 128, 2),  # §3.3 example
        (4, 0, 128, 5),  # 2*qlen <= max(8, backlog): no pruning
        (100, 60, 128, 5),  # 2*young > qlen: nothing to prune
        (100, 40, 128, 4),  # one doubling needed
    ],
)
def test_pruning(qlen: int, young: int, backlog: int, expected: int) -> None:
    assert pruned_retries(5, qlen, young, backlog) == expected


def test_pruned_request_expires_early() -> None:
    ns = make_ns("6.18")
    req = RequestSock(conn=1, peer="p", created_us=0, timeout_us=S, expires_us=S, num_timeout=2)
    verdict = reqsk_timer_handler(ns, req, qlen=100, young=10, backlog=128, now=7 * S)
    assert verdict is TimerVerdict.EXPIRED  # budget cut to 2 (§3.3)


def test_syn_ack_recalc_defer_accept() -> None:
    """§3.4: with defer D, an acked request survives past R until D periods passed."""
    assert syn_ack_recalc(5, 5, 0, False) == (True, True)
    assert syn_ack_recalc(5, 5, 7, True) == (False, False)
    assert syn_ack_recalc(6, 5, 7, True) == (False, True)
    assert syn_ack_recalc(7, 5, 7, True) == (True, True)
