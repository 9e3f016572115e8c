"""The data model shared by every face of tcpq (frozen dataclasses only; no behaviour)."""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tcpq.model.timing import HostTiming


class Source(StrEnum):
    SIM = "sim"
    LAB = "lab"
    HOST = "host"


@dataclass(frozen=True)
class Percentiles:
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None


@dataclass(frozen=True)
class ListenerSummary:
    port: int
    backlog: int  # the listen() argument as given
    accept_queue_limit: int  # sk_max_ack_backlog after the somaxconn clamp (ss Send-Q)
    accept_queue_peak: int
    syn_queue_peak: int
    syn_queue_limit: int
    clamped_by_somaxconn: bool
    sk_drops: int
    # False: the peak is a lower bound (the lab's samples may have missed it; the simulator's
    # peaks are always exact). The lab says which, from counters that prove a full queue.
    accept_queue_peak_exact: bool = True
    syn_queue_peak_exact: bool = True


@dataclass(frozen=True)
class ClientSummary:
    attempted: int
    connected: int
    refused: int
    reset: int
    timed_out: int
    no_port: int
    pending: int
    connect_time_s: Percentiles
    response_time_s: Percentiles | None  # request mode only: connect() start to reply
    cookie_connections: int  # completed through a SYN cookie (options possibly lost)


@dataclass(frozen=True)
class TimeSeries:
    t_s: list[float]
    accept_queue: list[int]
    syn_queue: list[int]
    listen_drops: list[int]  # ListenDrops added during each interval
    handshakes: list[int]  # client handshakes completed so far (connect() returned)


@dataclass(frozen=True)
class KernelInfo:
    version: str
    profile: str
    profile_summary: str
    sysctl: dict[str, int | tuple[int, int]]  # the server namespace
    client_sysctl: dict[str, int | tuple[int, int]]


@dataclass(frozen=True)
class RunResult:
    source: Source
    scenario: str
    kernel: KernelInfo
    listener: ListenerSummary
    clients: ClientSummary
    counters: dict[str, int]
    client_counters: dict[str, int]
    timeseries: TimeSeries
    duration_s: float
    notes: list[str] = field(default_factory=list)
    attack_syns: int = 0


# -- observe: a live host -------------------------------------------------------------------


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    comm: str


@dataclass(frozen=True)
class Listener:
    """A LISTEN socket as `ss -ltnm` shows it, with its owners (DESIGN.md, Snapshot JSON)."""

    netns: str
    address: str
    port: int
    accept_queue: int  # ss Recv-Q: children waiting for accept()
    accept_queue_limit: int  # ss Send-Q: the backlog after the somaxconn clamp; full shows limit + 1
    syn_recv: int  # request socks for this listener (SYN-RECV)
    drops: int | None  # cumulative sk_drops (SK_MEMINFO_DROPS); None when not readable
    drops_per_s: float | None  # between the two samples of a rate; None for a single sample
    processes: list[ProcessInfo]
    reuseport_group: int  # listeners sharing address:port (SO_REUSEPORT) share a group number; 0 = alone
    clamped_by_somaxconn: bool  # limit == somaxconn: the application probably asked for more
    inode: int = 0
    cookie: int = 0

    @property
    def full(self) -> bool:
        return self.accept_queue > self.accept_queue_limit


@dataclass(frozen=True)
class ProcessStates:
    pid: int
    comm: str
    states: dict[str, int]


@dataclass(frozen=True)
class PeerCount:
    address: str
    port: int
    count: int


@dataclass(frozen=True)
class CloseWaitPile:
    """CLOSE_WAIT sockets of one process: the peer closed, the application did not."""

    pid: int
    comm: str
    count: int
    peers: list[PeerCount]  # the most frequent remote endpoints


@dataclass(frozen=True)
class QueuedSocket:
    """An established socket with data waiting: Recv-Q (unread) or Send-Q (unacknowledged)."""

    local: str
    local_port: int
    remote: str
    remote_port: int
    recv_q: int
    send_q: int
    processes: list[ProcessInfo]


@dataclass(frozen=True)
class Snapshot:
    source: Source
    netns: str
    kernel_release: str
    monotonic_s: float
    wall_s: float
    sysctl: dict[str, int | tuple[int, int]]
    counters: dict[str, int]
    states: dict[str, int]  # ss state names → count (request socks counted as SYN-RECV)
    states_by_process: list[ProcessStates]
    states_by_port: dict[str, dict[str, int]]  # local port → state → count
    states_by_remote: dict[str, dict[str, int]]  # remote address → state → count
    listeners: list[Listener]
    close_wait: list[CloseWaitPile]
    time_wait_by_destination: list[PeerCount]
    queued: list[QueuedSocket]
    orphans: int  # FIN-WAIT-1/2, CLOSING, LAST-ACK sockets no process holds
    sockets_total: int
    unreadable_processes: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Rates:
    """The difference of two snapshots of one namespace, per second (counter resets → None)."""

    interval_s: float
    counters_per_s: dict[str, float]
    counter_deltas: dict[str, int]


@dataclass(frozen=True)
class Finding:
    id: str
    severity: Severity
    title: str
    evidence: dict[str, object]
    explanation: str
    remedy: str
    netns: str | None = None
    listener: dict[str, object] | None = None  # {"address", "port"}
    process: dict[str, object] | None = None  # {"pid", "comm"}
    references: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SysctlRow:
    """One sysctl as `tcpq sysctl` shows it: value against the kernel default, and why it matters."""

    name: str
    value: int | tuple[int, int] | None  # None: absent here (removed, or global and not visible)
    default: int | tuple[int, int] | None
    scope: str
    differs: bool
    meaning: str
    note: str  # a seed belief that is wrong, or why the difference matters


# -- lab verify -----------------------------------------------------------------------------


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class CheckResult:
    """One `tcpq lab verify` check: the claim, what the kernel did, what the model predicts."""

    id: str
    claim: str
    kernel: dict[str, object]
    model: dict[str, object]
    verdict: Verdict
    reference: str
    note: str = ""


# -- lab calibrate: the host's speed ---------------------------------------------------------
@dataclass(frozen=True)
class Calibration:
    """What `tcpq lab calibrate` measured (model/timing.py HostTiming, and how many samples)."""

    kernel: str
    timing: "HostTiming"
    samples: dict[str, int]
    notes: list[str] = field(default_factory=list)
