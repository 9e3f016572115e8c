"""SNMP/MIB counter names as nstat prints them (`TcpExt` + kernel name, `Tcp` + RFC name).

The model increments these in a per-namespace `collections.Counter`, so a simulated
namespace reads exactly like `nstat -az` on a real one.
"""

from collections import Counter

Counters = Counter[str]

# TcpExt (/proc/net/netstat)
LISTEN_OVERFLOWS = "TcpExtListenOverflows"
LISTEN_DROPS = "TcpExtListenDrops"
REQQ_FULL_DROP = "TcpExtTCPReqQFullDrop"
REQQ_FULL_DO_COOKIES = "TcpExtTCPReqQFullDoCookies"
SYNCOOKIES_SENT = "TcpExtSyncookiesSent"
SYNCOOKIES_RECV = "TcpExtSyncookiesRecv"
SYNCOOKIES_FAILED = "TcpExtSyncookiesFailed"
SYN_RETRANS = "TcpExtTCPSynRetrans"
TIMEOUTS = "TcpExtTCPTimeouts"
EMBRYONIC_RSTS = "TcpExtEmbryonicRsts"
DEFER_ACCEPT_DROP = "TcpExtTCPDeferAcceptDrop"
SYN_CHALLENGE = "TcpExtTCPSYNChallenge"
CHALLENGE_ACK = "TcpExtTCPChallengeACK"
ACK_SKIPPED_SYN_RECV = "TcpExtTCPACKSkippedSynRecv"
TIMEWAIT_OVERFLOW = "TcpExtTCPTimeWaitOverflow"
TW = "TcpExtTW"
TW_KILLED = "TcpExtTWKilled"
TW_RECYCLED = "TcpExtTWRecycled"
ABORT_ON_TIMEOUT = "TcpExtTCPAbortOnTimeout"
LOSS_PROBES = "TcpExtTCPLossProbes"
# Tcp (/proc/net/snmp)
ACTIVE_OPENS = "TcpActiveOpens"
PASSIVE_OPENS = "TcpPassiveOpens"
ATTEMPT_FAILS = "TcpAttemptFails"
ESTAB_RESETS = "TcpEstabResets"
OUT_RSTS = "TcpOutRsts"
RETRANS_SEGS = "TcpRetransSegs"

# The server namespace's counters a RunResult's time series adds up per interval
# (TimeSeries.listen_drops, cookies_sent, synack_retrans), in the simulator and in the lab
SERIES: tuple[str, ...] = (LISTEN_DROPS, SYNCOOKIES_SENT, SYN_RETRANS)
# ... and the client namespace's (TimeSeries.client_syn_retrans)
CLIENT_SERIES: tuple[str, ...] = (SYN_RETRANS,)

# The counters every RunResult reports, even when zero (issue "tcpq foundation" §7).
REPORTED: tuple[str, ...] = (
    LISTEN_OVERFLOWS,
    LISTEN_DROPS,
    REQQ_FULL_DROP,
    REQQ_FULL_DO_COOKIES,
    SYNCOOKIES_SENT,
    SYNCOOKIES_RECV,
    SYNCOOKIES_FAILED,
    SYN_RETRANS,
    TIMEOUTS,
    EMBRYONIC_RSTS,
    SYN_CHALLENGE,
    CHALLENGE_ACK,
    ACK_SKIPPED_SYN_RECV,
    TIMEWAIT_OVERFLOW,
    TW,
    TW_KILLED,
    TW_RECYCLED,
    ABORT_ON_TIMEOUT,
    ACTIVE_OPENS,
    PASSIVE_OPENS,
    ATTEMPT_FAILS,
    ESTAB_RESETS,
    OUT_RSTS,
    RETRANS_SEGS,
)


def reported(counters: Counters) -> dict[str, int]:
    """Every reported counter (zero when never incremented) plus any other that moved."""
    out = {name: counters.get(name, 0) for name in REPORTED}
    for name, value in sorted(counters.items()):
        out.setdefault(name, value)
    return out
