"""SNMP/MIB counter names as nstat prints them (`TcpExt` + kernel name, `Tcp` + RFC name).

The model increments these in a per-namespace `collections.Counter`, so a simulated
namespace reads exactly like `nstat -az` on a real one.
"""

from collections import Counter

from tcpq.kernel.counters import COUNTERS

Counters = Counter[str]


def _nstat(name: str) -> str:
    """`name`, which the counter catalogue must describe: every counter the model emits can
    be explained (`tcpq explain`) and read with nstat (a KeyError at import otherwise)."""
    return COUNTERS[name].nstat


# TcpExt (/proc/net/netstat)
LISTEN_OVERFLOWS = _nstat("TcpExtListenOverflows")
LISTEN_DROPS = _nstat("TcpExtListenDrops")
REQQ_FULL_DROP = _nstat("TcpExtTCPReqQFullDrop")
REQQ_FULL_DO_COOKIES = _nstat("TcpExtTCPReqQFullDoCookies")
SYNCOOKIES_SENT = _nstat("TcpExtSyncookiesSent")
SYNCOOKIES_RECV = _nstat("TcpExtSyncookiesRecv")
SYNCOOKIES_FAILED = _nstat("TcpExtSyncookiesFailed")
SYN_RETRANS = _nstat("TcpExtTCPSynRetrans")
TIMEOUTS = _nstat("TcpExtTCPTimeouts")
EMBRYONIC_RSTS = _nstat("TcpExtEmbryonicRsts")
DEFER_ACCEPT_DROP = _nstat("TcpExtTCPDeferAcceptDrop")
SYN_CHALLENGE = _nstat("TcpExtTCPSYNChallenge")
CHALLENGE_ACK = _nstat("TcpExtTCPChallengeACK")
ACK_SKIPPED_SYN_RECV = _nstat("TcpExtTCPACKSkippedSynRecv")
TIMEWAIT_OVERFLOW = _nstat("TcpExtTCPTimeWaitOverflow")
TW = _nstat("TcpExtTW")
TW_KILLED = _nstat("TcpExtTWKilled")
TW_RECYCLED = _nstat("TcpExtTWRecycled")
ABORT_ON_TIMEOUT = _nstat("TcpExtTCPAbortOnTimeout")
LOSS_PROBES = _nstat("TcpExtTCPLossProbes")
# Tcp (/proc/net/snmp)
ACTIVE_OPENS = _nstat("TcpActiveOpens")
PASSIVE_OPENS = _nstat("TcpPassiveOpens")
ATTEMPT_FAILS = _nstat("TcpAttemptFails")
ESTAB_RESETS = _nstat("TcpEstabResets")
OUT_RSTS = _nstat("TcpOutRsts")
RETRANS_SEGS = _nstat("TcpRetransSegs")

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
