"""What `tcpq lab fuzz` found: one case per scenario, and the disagreements grouped by cause. Pure.

A disagreement's cause is the set of metric families outside tolerance. A family is the metric
itself (`counters.TcpExtListenOverflows`, `clients.pending`, `listener.accept_queue_peak`),
except latency percentiles, which count as one family each (`connect_time_s.p50` … `.max` →
`connect_time_s`). The set is summarised by its most telling family, the one nearest the
mechanism that diverged, in this order:

1. `clients.attempted`: the lab did not offer the load the scenario asked for, so nothing else
   can be compared;
2. `listener.accept_queue_limit`: the two disagree on the listener's size;
3. kernel counters, mechanism before consequence (overflows, SYN-queue drops and cookies, resets,
   TIME_WAIT before TIME_WAIT totals, retransmits and the generic `Tcp*` counts), server before
   client for the same counter;
4. the sampled queue peaks;
5. client outcomes (failures before connected / pending);
6. latency (`connect_time_s`, then `response_time_s`); anything else last, by name.

Scenarios are grouped by that summary; a scenario the lab could not run at all is its own cause.
"""

from collections.abc import Iterable, Sequence

from tcpq.compare import MetricRow
from tcpq.model import mib
from tcpq.records import frozen

LAB_ERROR = "lab error"
PERCENTILE_FAMILIES = ("connect_time_s", "response_time_s")
COUNTER_ORDER: tuple[str, ...] = (
    mib.LISTEN_OVERFLOWS,
    mib.REQQ_FULL_DROP,
    mib.REQQ_FULL_DO_COOKIES,
    mib.SYNCOOKIES_SENT,
    mib.SYNCOOKIES_RECV,
    mib.SYNCOOKIES_FAILED,
    mib.EMBRYONIC_RSTS,
    mib.TIMEWAIT_OVERFLOW,
    mib.ABORT_ON_TIMEOUT,
    mib.SYN_CHALLENGE,
    mib.CHALLENGE_ACK,
    mib.ACK_SKIPPED_SYN_RECV,
    mib.DEFER_ACCEPT_DROP,
    mib.TW_RECYCLED,
    mib.TW_KILLED,
    mib.TW,
    mib.LISTEN_DROPS,  # the sum of overflows and SYN-queue drops: after its parts
    mib.SYN_RETRANS,
    mib.TIMEOUTS,
    mib.LOSS_PROBES,
    mib.ATTEMPT_FAILS,
    mib.ESTAB_RESETS,
    mib.OUT_RSTS,
    mib.RETRANS_SEGS,
    mib.PASSIVE_OPENS,
    mib.ACTIVE_OPENS,
)
COUNTER_SIDES = ("counters", "client_counters")
QUEUE_PEAKS = ("listener.syn_queue_peak", "listener.accept_queue_peak")
OUTCOME_ORDER = (
    "clients.refused",
    "clients.reset",
    "clients.timed_out",
    "clients.no_port",
    "clients.connected",
    "clients.pending",
)


@frozen
class FuzzCase:
    """One drawn scenario's verdict; `differing` holds the rows outside tolerance."""

    index: int
    name: str
    agrees: bool
    differing: tuple[MetricRow, ...] = ()
    file: str | None = None  # where the scenario was kept (disagreements only)
    error: str | None = None  # the lab could not run it

    @property
    def families(self) -> list[str]:
        return families(row.metric for row in self.differing)

    @property
    def cause(self) -> str | None:
        if self.error is not None:
            return LAB_ERROR
        return most_telling(self.families)


@frozen
class CauseGroup:
    cause: str
    cases: tuple[FuzzCase, ...]

    @property
    def count(self) -> int:
        return len(self.cases)


@frozen
class FuzzReport:
    seed: int
    requested: int
    kernel: str
    cases: tuple[FuzzCase, ...]
    causes: tuple[CauseGroup, ...]
    keep_dir: str | None  # the directory the disagreeing scenarios went to (None: none kept)
    interrupted: bool = False

    @property
    def finished(self) -> int:
        return len(self.cases)

    @property
    def agreeing(self) -> int:
        return sum(case.agrees for case in self.cases)

    @property
    def agree_share(self) -> float | None:
        return self.agreeing / self.finished if self.cases else None

    @property
    def kept(self) -> list[str]:
        return [case.file for case in self.cases if case.file is not None]


def metric_family(metric: str) -> str:
    """`connect_time_s.p90` → `connect_time_s`; every other metric is its own family."""
    head = metric.split(".", 1)[0]
    return head if head in PERCENTILE_FAMILIES else metric


def families(metrics: Iterable[str]) -> list[str]:
    """The distinct families of these metrics, most telling first."""
    return sorted({metric_family(metric) for metric in metrics}, key=telling_rank)


def telling_rank(family: str) -> tuple[int, int, str]:
    """Sort key: lower is more telling (the order of the module docstring)."""
    if family == "clients.attempted":
        return (0, 0, family)
    if family == "listener.accept_queue_limit":
        return (1, 0, family)
    side, _, name = family.partition(".")
    if side in COUNTER_SIDES:
        position = COUNTER_ORDER.index(name) if name in COUNTER_ORDER else len(COUNTER_ORDER)
        return (2, 2 * position + COUNTER_SIDES.index(side), family)
    if family in QUEUE_PEAKS:
        return (3, QUEUE_PEAKS.index(family), family)
    if family in OUTCOME_ORDER:
        return (4, OUTCOME_ORDER.index(family), family)
    if family in PERCENTILE_FAMILIES:
        return (5, PERCENTILE_FAMILIES.index(family), family)
    return (6, 0, family)


def most_telling(family_names: Iterable[str]) -> str | None:
    ranked = sorted(family_names, key=telling_rank)
    return ranked[0] if ranked else None


def group_causes(cases: Sequence[FuzzCase]) -> tuple[CauseGroup, ...]:
    """Disagreeing cases grouped by cause: the largest group first, then the most telling."""
    by_cause: dict[str, list[FuzzCase]] = {}
    for case in cases:
        cause = case.cause
        if not case.agrees and cause is not None:
            by_cause.setdefault(cause, []).append(case)
        elif not case.agrees:
            by_cause.setdefault("unknown", []).append(case)  # differs, yet no row says where
    ordered = sorted(by_cause.items(), key=lambda item: (-len(item[1]), telling_rank(item[0])))
    return tuple(CauseGroup(cause, tuple(group)) for cause, group in ordered)
