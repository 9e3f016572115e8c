"""SYN cookies (kernel-model §7)."""

from tcpq.model.cookies import (
    cookie_is_fresh,
    cookie_options,
    cookie_v4_init_sequence_mss,
    tcp_synq_no_recent_overflow,
)

S = 1_000_000


def test_mss_rounded_down_to_table() -> None:
    assert cookie_v4_init_sequence_mss(1460) == 1460
    assert cookie_v4_init_sequence_mss(1459) == 1440
    assert cookie_v4_init_sequence_mss(1000) == 536
    assert cookie_v4_init_sequence_mss(65495) == 1460  # loopback MSS


def test_options_lost_without_timestamps() -> None:
    kept = cookie_options(1460, syn_has_timestamps=True, ecn=True)
    lost = cookie_options(1460, syn_has_timestamps=False, ecn=True)
    assert kept.window_scaling and kept.sack and kept.ecn
    assert not (lost.window_scaling or lost.sack or lost.ecn)


def test_cookie_valid_for_one_to_two_minutes() -> None:
    assert cookie_is_fresh(0, 119 * S)
    assert not cookie_is_fresh(0, 120 * S)
    assert cookie_is_fresh(59 * S, 119 * S) and not cookie_is_fresh(59 * S, 120 * S)


def test_recent_overflow_window() -> None:
    assert tcp_synq_no_recent_overflow(None, 0)
    assert not tcp_synq_no_recent_overflow(0, 120 * S)
    assert tcp_synq_no_recent_overflow(0, 120 * S + 1)
