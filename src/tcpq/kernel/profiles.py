"""Behaviour profiles: what differs between kernel versions, as data the model reads.

A profile is a set of switches, never an `if version >= ...` inside the model. Sysctl
*defaults* per version live in the sysctl catalogue (`kernel/sysctl_data.py`); a profile holds
only behaviour that no sysctl exposes.
"""

from enum import StrEnum

from tcpq.errors import UnsupportedKernel
from tcpq.kernel.versions import KernelVersion, format_version, parse_version
from tcpq.records import frozen


class SynQueueRule(StrEnum):
    """When `inet_csk_reqsk_queue_is_full()` says the SYN queue is full (kernel-model §2.2, §15a)."""

    POW2_TABLE = "qlen >= roundup_pow_of_two(max(8, min(backlog, tcp_max_syn_backlog)) + 1)"
    QLEN_GE_BACKLOG = "qlen >= backlog"
    QLEN_GT_BACKLOG = "qlen > backlog"


class SynSentExpiry(StrEnum):
    """How `tcp_write_timeout()` decides a SYN_SENT socket has failed (kernel-model §5.1)."""

    # 3.1-6.4: retransmits_timed_out(): elapsed >= the model timeout of tcp_syn_retries.
    MODEL_TIMEOUT = "elapsed >= model_timeout(tcp_syn_retries)"
    # 6.5+: icsk_retransmits >= tcp_syn_retries + tcp_syn_linear_timeouts (count only).
    RETRANSMIT_COUNT = "retransmits >= tcp_syn_retries + tcp_syn_linear_timeouts"


@frozen
class Profile:
    """Behaviour switches in force from `since` up to the next profile."""

    name: str
    since: KernelVersion
    summary: str
    # TCP_TIMEOUT_INIT: 3 s before v3.1 (commit 9ad7c049f0f7), 1 s since (kernel-model §9).
    initial_rto_ms: int
    syn_queue_rule: SynQueueRule
    # Before v4.10 a SYN was dropped on a full accept queue only when young > 1
    # (commit 5ea8ea2cb7f1 made it unconditional; kernel-model §2.5).
    acceptq_syn_drop_needs_young: bool
    # tcp_syn_linear_timeouts exists (v6.5, commit ccce324dabfe; kernel-model §5.1).
    syn_linear_timeouts: bool
    syn_sent_expiry: SynSentExpiry
    # tcp_tw_reuse_delay sysctl and the "ms since the TW entry was created" rule (v6.14, §8.5).
    tw_reuse_delay_tunable: bool
    # tcp_rto_max_ms caps SYN-ACK and SYN intervals (v6.15, §3.5); before, the constant 120 s.
    rto_max_tunable: bool
    # Tail loss probe (v3.10): the first retransmission of unacknowledged data is a probe
    # (TCPLossProbes), not an RTO (TCPTimeouts) (kernel-model §5.4).
    tail_loss_probe: bool


def _profile(
    name: str,
    summary: str,
    *,
    initial_rto_ms: int = 1000,
    syn_queue_rule: SynQueueRule = SynQueueRule.QLEN_GT_BACKLOG,
    needs_young: bool = False,
    linear: bool = True,
    expiry: SynSentExpiry = SynSentExpiry.RETRANSMIT_COUNT,
    tw_delay: bool = True,
    rto_max: bool = True,
    tlp: bool = True,
) -> Profile:
    return Profile(
        name=name,
        since=parse_version(name),
        summary=summary,
        initial_rto_ms=initial_rto_ms,
        syn_queue_rule=syn_queue_rule,
        acceptq_syn_drop_needs_young=needs_young,
        syn_linear_timeouts=linear,
        syn_sent_expiry=expiry,
        tw_reuse_delay_tunable=tw_delay,
        rto_max_tunable=rto_max,
        tail_loss_probe=tlp,
    )


def _before_6_5(
    name: str,
    summary: str,
    *,
    syn_queue_rule: SynQueueRule,
    needs_young: bool = False,
    initial_rto_ms: int = 1000,
    tlp: bool = True,
) -> Profile:
    """A profile without linear SYN timeouts, tcp_tw_reuse_delay or tcp_rto_max_ms."""
    return _profile(
        name,
        summary,
        initial_rto_ms=initial_rto_ms,
        syn_queue_rule=syn_queue_rule,
        needs_young=needs_young,
        linear=False,
        expiry=SynSentExpiry.MODEL_TIMEOUT,
        tw_delay=False,
        rto_max=False,
        tlp=tlp,
    )


# Ordered oldest first; each holds until the next one's `since`.
PROFILES: tuple[Profile, ...] = (
    _before_6_5(
        "2.6",
        "before 3.1: 3 s initial RTO; SYN queue sized by a power-of-two table; "
        "SYN dropped on a full accept queue only when young > 1",
        initial_rto_ms=3000,
        syn_queue_rule=SynQueueRule.POW2_TABLE,
        needs_young=True,
        tlp=False,
    ),
    _before_6_5(
        "3.1",
        "3.1-3.9: 1 s initial RTO; power-of-two SYN queue table; young > 1 accept-queue rule",
        syn_queue_rule=SynQueueRule.POW2_TABLE,
        needs_young=True,
        tlp=False,
    ),
    _before_6_5(
        "3.10",
        "3.10-4.3: as 3.1, and data retransmission starts with a tail loss probe",
        syn_queue_rule=SynQueueRule.POW2_TABLE,
        needs_young=True,
    ),
    _before_6_5(
        "4.4",
        "4.4-4.9: SYN queue full at qlen >= backlog (commit ef547f2ac16b); young > 1 rule still",
        syn_queue_rule=SynQueueRule.QLEN_GE_BACKLOG,
        needs_young=True,
    ),
    _before_6_5(
        "4.10",
        "4.10-6.4: a SYN meeting a full accept queue is always dropped (commit 5ea8ea2cb7f1)",
        syn_queue_rule=SynQueueRule.QLEN_GE_BACKLOG,
    ),
    _profile(
        "6.5",
        "6.5-6.12: client SYNs start with tcp_syn_linear_timeouts fixed 1 s retries",
        syn_queue_rule=SynQueueRule.QLEN_GE_BACKLOG,
        tw_delay=False,
        rto_max=False,
    ),
    _profile(
        "6.13",
        "6.13: SYN queue full at qlen > backlog (commit 3479c7549fb1), backlog+1 requests",
        tw_delay=False,
        rto_max=False,
    ),
    _profile("6.14", "6.14: tcp_tw_reuse_delay (ms since the TIME_WAIT entry was created)", rto_max=False),
    _profile("6.15", "6.15 and later: tcp_rto_max_ms caps SYN-ACK and SYN retransmission intervals"),
)

NEWEST: Profile = PROFILES[-1]


def profile_for(version: KernelVersion) -> Profile:
    """The profile in force for a kernel version (the newest whose `since` is not after it)."""
    if version < PROFILES[0].since:
        raise UnsupportedKernel(f"kernel {format_version(version)} is older than tcpq models (2.6 and later)")
    chosen = PROFILES[0]
    for profile in PROFILES:
        if profile.since <= version:
            chosen = profile
    return chosen


def profile_range(profile: Profile) -> str:
    """Human range such as '6.5-6.12' or '6.15+'."""
    index = PROFILES.index(profile)
    if index + 1 == len(PROFILES):
        return f"{profile.name}+"
    nxt = PROFILES[index + 1].since
    last_minor = (nxt[0], nxt[1] - 1) if nxt[1] > 0 else None
    if profile.name == "2.6":
        return "<3.1"
    return f"{profile.name}-{format_version(last_minor)}" if last_minor else f"{profile.name}-<{nxt[0]}"
