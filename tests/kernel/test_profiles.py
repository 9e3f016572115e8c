"""Behaviour profiles by kernel version (issue: at least <3.1, 3.1-4.9, 4.10-6.4, 6.5-6.12, 6.13+).

The switches a sysctl's arrival marks are checked against the sysctl catalogue and the running
kernel's own files; the others against the commits that changed the behaviour (kernel-model
§2.2 ef547f2ac16b, 3479c7549fb1; §2.5 5ea8ea2cb7f1; §9 9ad7c049f0f7).
"""

from collections.abc import Callable

import pytest

from tcpq.errors import UnsupportedKernel
from tcpq.kernel.profiles import (
    NEWEST,
    PROFILES,
    Profile,
    SynQueueRule,
    SynSentExpiry,
    profile_for,
    profile_range,
)
from tcpq.kernel.sysctls import SYSCTLS

from .fresh_netns import FreshNetns, running_kernel


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


# The switches that exist exactly when a sysctl does: the sysctl came with the behaviour.
SWITCHED_BY_SYSCTL: dict[str, Callable[[Profile], bool]] = {
    "net.ipv4.tcp_syn_linear_timeouts": lambda p: p.syn_linear_timeouts,  # ccce324dabfe
    "net.ipv4.tcp_tw_reuse_delay": lambda p: p.tw_reuse_delay_tunable,
    "net.ipv4.tcp_rto_max_ms": lambda p: p.rto_max_tunable,  # 1280c26228bd
}


def _boundaries() -> list[tuple[int, int]]:
    """Every version a profile or a default starts at, and the minor release before it."""
    starts = {profile.since for profile in PROFILES}
    starts |= {step.since for sysctl in SYSCTLS.values() for step in sysctl.defaults}
    around = starts | {(major, minor - 1) for major, minor in starts if minor > 0}
    return sorted(version for version in around if version >= PROFILES[0].since)


@pytest.mark.parametrize("name", sorted(SWITCHED_BY_SYSCTL))
def test_sysctl_switches_agree_with_the_catalogue(name: str) -> None:
    switch = SWITCHED_BY_SYSCTL[name]
    for version in _boundaries():
        exists = SYSCTLS[name].default_for(version) is not None
        assert switch(profile_for(version)) is exists, version


@pytest.mark.parametrize("name", sorted(SWITCHED_BY_SYSCTL))
def test_the_running_kernels_profile_has_its_sysctls(fresh_netns: FreshNetns, name: str) -> None:
    profile: Profile = profile_for(running_kernel())
    assert SWITCHED_BY_SYSCTL[name](profile) is (fresh_netns.sysctl(name) is not None)
