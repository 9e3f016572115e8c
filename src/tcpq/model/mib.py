"""SNMP/MIB counter names as nstat prints them (`TcpExt` + kernel name, `Tcp` + RFC name).

The model increments these in a per-namespace `collections.Counter`, so a simulated
namespace reads exactly like `nstat -az` on a real one.
"""

from collections import Counter
from typing import Final

from tcpq.kernel.counters import COUNTERS

Counters = Counter[str]


def _nstat(name: str) -> str:
    """`name`, which the counter catalogue must describe: every counter the model emits can
    be explained (`tcpq explain`) and read with nstat (a KeyError at import otherwise)."""
    return COUNTERS[name].nstat


# TcpExt (/proc/net/netstat)
LISTEN_OVERFLOWS: Final = _nstat("TcpExtListenOverflows")
LISTEN_DROPS: Final = _nstat("TcpExtListenDrops")
REQQ_FULL_DROP: Final = _nstat("TcpExtTCPReqQFullDrop")
REQQ_FULL_DO_COOKIES: Final = _nstat("TcpExtTCPReqQFullDoCookies")
SYNCOOKIES_SENT: Final = _nstat("TcpExtSyncookiesSent")
SYNCOOKIES_RECV: Final = _nstat("TcpExtSyncookiesRecv")
SYNCOOKIES_FAILED: Final = _nstat("TcpExtSyncookiesFailed")
SYN_RETRANS: Final = _nstat("TcpExtTCPSynRetrans")
TIMEOUTS: Final = _nstat("TcpExtTCPTimeouts")
EMBRYONIC_RSTS: Final = _nstat("TcpExtEmbryonicRsts")
DEFER_ACCEPT_DROP: Final = _nstat("TcpExtTCPDeferAcceptDrop")
SYN_CHALLENGE: Final = _nstat("TcpExtTCPSYNChallenge")
CHALLENGE_ACK: Final = _nstat("TcpExtTCPChallengeACK")
ACK_SKIPPED_SYN_RECV: Final = _nstat("TcpExtTCPACKSkippedSynRecv")
TIMEWAIT_OVERFLOW: Final = _nstat("TcpExtTCPTimeWaitOverflow")
TW: Final = _nstat("TcpExtTW")
TW_KILLED: Final = _nstat("TcpExtTWKilled")
TW_RECYCLED: Final = _nstat("TcpExtTWRecycled")
ABORT_ON_TIMEOUT: Final = _nstat("TcpExtTCPAbortOnTimeout")
LOSS_PROBES: Final = _nstat("TcpExtTCPLossProbes")
# Tcp (/proc/net/snmp)
ACTIVE_OPENS: Final = _nstat("TcpActiveOpens")
PASSIVE_OPENS: Final = _nstat("TcpPassiveOpens")
ATTEMPT_FAILS: Final = _nstat("TcpAttemptFails")
ESTAB_RESETS: Final = _nstat("TcpEstabResets")
OUT_RSTS: Final = _nstat("TcpOutRsts")
RETRANS_SEGS: Final = _nstat("TcpRetransSegs")

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
