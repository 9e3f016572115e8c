"""The queue-peak rules of the lab's sampler: exact where the kernel proves it (no root)."""

import pytest

from tcpq.lab.sampler import Peak, accept_queue_peak, syn_queue_peak

LIMIT = 4  # sk_max_ack_backlog: the accept queue holds LIMIT + 1 children (kernel-model §1.3)
SYN_LIMIT = 5  # backlog + 1 request socks on 6.18 (§2.2)


def test_overflow_proves_a_full_accept_queue_whatever_was_sampled() -> None:
    for sampled in (0, 3, LIMIT + 1):
        assert accept_queue_peak(sampled, LIMIT, overflowed=True, only_grows=False) == Peak(LIMIT + 1, True)
    # More than the limit allows can only come from a real (racy) sample: kept as measured.
    assert accept_queue_peak(LIMIT + 2, LIMIT, overflowed=True, only_grows=False) == Peak(LIMIT + 2, True)


def test_accept_queue_that_only_grows_is_exact_at_its_last_sample() -> None:
    assert accept_queue_peak(2, LIMIT, overflowed=False, only_grows=True) == Peak(2, True)


@pytest.mark.parametrize(
    ("sampled", "children", "exact"),
    [
        (0, 7, False),  # accepted faster than sampled: a lower bound
        (3, 7, False),
        (LIMIT + 1, 9, True),  # nothing holds more than limit + 1
        (2, 2, True),  # every child ever made was in the queue at once
        (0, 0, True),  # no child at all
    ],
)
def test_sampled_accept_peak(sampled: int, children: int, exact: bool) -> None:
    peak = accept_queue_peak(sampled, LIMIT, overflowed=False, only_grows=False, children=children)
    assert peak == Peak(sampled, exact)


def test_full_syn_queue_is_its_limit_and_caps_the_cookie_child_quirk() -> None:
    for sampled in (0, 2, SYN_LIMIT, SYN_LIMIT + 1):  # +1: a cookie's child seen in SYN_RECV
        assert syn_queue_peak(sampled, SYN_LIMIT, full=True) == Peak(SYN_LIMIT, True)
    assert syn_queue_peak(SYN_LIMIT + 1, SYN_LIMIT, full=False) == Peak(SYN_LIMIT, True)


def test_syn_queue_not_proven_full_is_a_lower_bound() -> None:
    assert syn_queue_peak(0, SYN_LIMIT, full=False) == Peak(0, False)
    assert syn_queue_peak(3, SYN_LIMIT, full=False) == Peak(3, False)


def test_cookies_always_samples_prove_nothing() -> None:
    # tcp_syncookies = 2 keeps no request socks: a SYN_RECV sample is a cookie's child.
    assert syn_queue_peak(2, SYN_LIMIT, full=False, cookies_always=True) == Peak(2, False)
    assert syn_queue_peak(9, SYN_LIMIT, full=False, cookies_always=True) == Peak(SYN_LIMIT, False)
