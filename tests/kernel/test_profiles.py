"""Behaviour profiles by kernel version (issue: at least <3.1, 3.1-4.9, 4.10-6.4, 6.5-6.12, 6.13+)."""

import pytest

from tcpq.errors import UnsupportedKernel
from tcpq.kernel.profiles import NEWEST, SynQueueRule, SynSentExpiry, profile_for, profile_range


@pytest.mark.parametrize(
    ("version", "initial_rto_ms", "needs_young", "linear", "rule"),
    [
        ((2, 6), 3000, True, False, SynQueueRule.POW2_TABLE),
        ((3, 0), 3000, True, False, SynQueueRule.POW2_TABLE),
        ((3, 1), 1000, True, False, SynQueueRule.POW2_TABLE),
        ((4, 9), 1000, True, False, SynQueueRule.QLEN_GE_BACKLOG),
        ((4, 10), 1000, False, False, SynQueueRule.QLEN_GE_BACKLOG),
        ((6, 4), 1000, False, False, SynQueueRule.QLEN_GE_BACKLOG),
        ((6, 5), 1000, False, True, SynQueueRule.QLEN_GE_BACKLOG),
        ((6, 12), 1000, False, True, SynQueueRule.QLEN_GE_BACKLOG),
        ((6, 13), 1000, False, True, SynQueueRule.QLEN_GT_BACKLOG),
        ((6, 18), 1000, False, True, SynQueueRule.QLEN_GT_BACKLOG),
        ((7, 2), 1000, False, True, SynQueueRule.QLEN_GT_BACKLOG),
    ],
)
def test_switches_by_version(
    version: tuple[int, int], initial_rto_ms: int, needs_young: bool, linear: bool, rule: SynQueueRule
) -> None:
    profile = profile_for(version)
    assert profile.initial_rto_ms == initial_rto_ms
    assert profile.acceptq_syn_drop_needs_young is needs_young
    assert profile.syn_linear_timeouts is linear
    assert profile.syn_queue_rule is rule
    assert (profile.syn_sent_expiry is SynSentExpiry.RETRANSMIT_COUNT) is linear


def test_ranges_and_newest() -> None:
    assert profile_range(profile_for((2, 6))) == "<3.1"
    assert profile_range(profile_for((6, 7))) == "6.5-6.12"
    assert profile_range(NEWEST) == "6.15+"
    assert profile_for((6, 14)).tw_reuse_delay_tunable and not profile_for((6, 13)).tw_reuse_delay_tunable
    assert profile_for((6, 15)).rto_max_tunable and not profile_for((6, 14)).rto_max_tunable


def test_too_old() -> None:
    with pytest.raises(UnsupportedKernel):
        profile_for((2, 4))
