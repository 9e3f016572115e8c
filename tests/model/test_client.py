"""Client SYN schedule and outcomes (kernel-model §5.1, §5.2, §5.4)."""

from tcpq.model import mib
from tcpq.model.client import (
    Outcome,
    data_rto,
    start_data,
    syn_schedule,
    tcp_connect,
    tcp_model_timeout,
    tcp_rcv_synsent_rst,
    tcp_reset_established,
    tcp_retransmit_data,
    tcp_syn_challenge,
)

from .helpers import make_ns

S = 1_000_000


def seconds(times: list[int]) -> list[float]:
    return [t / S for t in times]


def test_linear_timeouts_default_6_5_plus() -> None:
    """§5.1: SYNs at 0,1,2,3,4,5,7,11,19,35,67 s and ETIMEDOUT at 131 s."""
    ns = make_ns("6.18")
    sends, failed = syn_schedule(ns)
    assert seconds(sends) == [0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67]
    assert failed == 131 * S
    assert ns.counters[mib.SYN_RETRANS] == 10
    assert ns.counters[mib.ABORT_ON_TIMEOUT] == 1 and ns.counters[mib.ATTEMPT_FAILS] == 1


def test_linear_timeouts_zero() -> None:
    """§5.1: L=0 → 0,1,3,7,15,31,63 s and ETIMEDOUT at 127 s."""
    sends, failed = syn_schedule(make_ns("6.18", tcp_syn_linear_timeouts=0))
    assert seconds(sends) == [0, 1, 3, 7, 15, 31, 63]
    assert failed == 127 * S


def test_3_7_to_6_4_is_exponential() -> None:
    sends, failed = syn_schedule(make_ns("6.4"))
    assert seconds(sends) == [0, 1, 3, 7, 15, 31, 63] and failed == 127 * S


def test_before_3_1_three_second_initial_rto() -> None:
    """§15 e history: 3 s initial RTO, tcp_syn_retries 5 → 0,3,9,21,45,93 s, fail at 189 s."""
    sends, failed = syn_schedule(make_ns("2.6"))
    assert seconds(sends) == [0, 3, 9, 21, 45, 93]
    assert failed == 189 * S


def test_syn_retries_sysctl() -> None:
    sends, failed = syn_schedule(make_ns("6.18", tcp_syn_retries=2, tcp_syn_linear_timeouts=0))
    assert seconds(sends) == [0, 1, 3] and failed == 7 * S


def test_model_timeout() -> None:
    assert tcp_model_timeout(6, S, 120 * S) == 127 * S
    assert tcp_model_timeout(8, S, 120 * S) == 127 * S + 2 * 120 * S


def test_rst_in_syn_sent_is_refused() -> None:
    ns = make_ns()
    assert tcp_rcv_synsent_rst(ns) is Outcome.REFUSED
    assert ns.counters[mib.ATTEMPT_FAILS] == 1


def test_rst_when_established_is_reset() -> None:
    ns = make_ns()
    assert tcp_reset_established(ns) is Outcome.RESET
    assert ns.counters[mib.ESTAB_RESETS] == 1


def test_challenge_ack_rate_limited() -> None:
    """§5.4: each SYN-ACK counts TCPSYNChallenge; ACKs at most one per 500 ms."""
    ns = make_ns()
    sock = tcp_connect(ns, 1, 0)
    assert tcp_syn_challenge(ns, sock, 1 * S)
    assert not tcp_syn_challenge(ns, sock, 1 * S + 100_000)
    assert tcp_syn_challenge(ns, sock, 3 * S)
    assert ns.counters[mib.SYN_CHALLENGE] == 3 and ns.counters[mib.CHALLENGE_ACK] == 2


def test_data_retransmission_schedule() -> None:
    """§5.4 / E2b: data sent at t retransmitted at about t+0.2, 0.4, 0.8, 1.6 s ..."""
    ns = make_ns()
    sock = tcp_connect(ns, 1, 0)
    expiry = start_data(sock, 2 * S, data_rto(ns, rtt_us=0))
    times = []
    for _ in range(6):
        times.append(expiry)
        nxt = tcp_retransmit_data(ns, sock, expiry)
        assert nxt is not None
        expiry = nxt
    assert [round((t - 2 * S) / S, 3) for t in times] == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4]


def test_data_retransmission_gives_up_after_retries2() -> None:
    ns = make_ns("6.18", tcp_retries2=3)
    sock = tcp_connect(ns, 1, 0)
    expiry: int | None = start_data(sock, 0, data_rto(ns, 0))
    count = 0
    while expiry is not None:
        expiry = tcp_retransmit_data(ns, sock, expiry)
        count += 1
    assert count == 4 and ns.counters[mib.ABORT_ON_TIMEOUT] == 1
