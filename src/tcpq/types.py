"""The data model shared by every face of tcpq (frozen dataclasses only; no behaviour)."""

from dataclasses import field
from enum import StrEnum
from typing import TYPE_CHECKING

from tcpq.records import frozen

if TYPE_CHECKING:
    from tcpq.model.timing import HostTiming


class Source(StrEnum):
    SIM = "sim"
    LAB = "lab"
    HOST = "host"


@frozen
class Percentiles:
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None


@frozen
class Histogram:
    """Counts per fixed log-spaced bucket (tcpq.histogram says which: `counts[0]` below
    `lowest_s`, then `per_decade` buckets a decade, the last entry the overflow)."""

    lowest_s: float
    per_decade: int
    counts: list[int]


@frozen
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


@frozen
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
    # The distributions behind the percentiles (tcpq.histogram's fixed buckets)
    connect_time_hist: Histogram | None = None
    response_time_hist: Histogram | None = None  # request mode only


@frozen
class TimeSeries:
    t_s: list[float]
    accept_queue: list[int]
    syn_queue: list[int]
    listen_drops: list[int]  # ListenDrops added during each interval
    handshakes: list[int]  # client handshakes completed so far (connect() returned)
    # Server-namespace counters added during each interval: SYN cookies sent
    # (TcpExtSyncookiesSent) and SYN-ACK retransmissions (TcpExtTCPSynRetrans)
    cookies_sent: list[int] = field(default_factory=list)
    synack_retrans: list[int] = field(default_factory=list)
    # Client attempts ended so far (cumulative, like handshakes) as ECONNREFUSED, ECONNRESET and
    # ETIMEDOUT; at the sample at the run's end they are ClientSummary's refused, reset, timed_out
    refused: list[int] = field(default_factory=list)
    reset: list[int] = field(default_factory=list)
    timed_out: list[int] = field(default_factory=list)
    # Client-namespace SYN retransmissions (TcpExtTCPSynRetrans) added during each interval
    client_syn_retrans: list[int] = field(default_factory=list)


@frozen
class KernelInfo:
    version: str
    profile: str
    profile_summary: str
    sysctl: dict[str, int | tuple[int, int]]  # the server namespace
    client_sysctl: dict[str, int | tuple[int, int]]


@frozen
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
    # What the run was told and what it used, so a report can be repeated and read without the
    # command line: the seed, `--set KEY=VALUE` as given, each sysctl of kernel.sysctl at the
    # kernel's default for this version, and the names whose value differs from that default.
    seed: int | None = None
    overrides: list[str] = field(default_factory=list)
    sysctl_defaults: dict[str, int | tuple[int, int]] = field(default_factory=dict)
    sysctl_differs: list[str] = field(default_factory=list)  # the server namespace
    client_sysctl_differs: list[str] = field(default_factory=list)


# -- observe: a live host -------------------------------------------------------------------


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Runtime(StrEnum):
    """What a process is built with, as far as /proc shows it: remedies are written for it."""

    NGINX = "nginx"
    JAVA = "java"
    GO = "go"
    PYTHON = "python"
    NODE = "node"
    NATIVE = "native"  # another compiled program (C, C++, Rust ...): listen(fd, backlog)


@frozen
class ProcessInfo:
    pid: int
    comm: str
    runtime: Runtime | None = None  # None: /proc/PID/exe not readable
    stopped: bool = False  # state T or t (SIGSTOP, a debugger): it runs no code until resumed


@frozen
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


@frozen
class ProcessStates:
    pid: int
    comm: str
    states: dict[str, int]


@frozen
class PeerCount:
    address: str
    port: int
    count: int


@frozen
class CloseWaitPile:
    """CLOSE_WAIT sockets of one program (comm), over all its processes: the peer closed, the
    application did not. A fork-per-connection server leaks one per child."""

    comm: str
    count: int  # sockets, each counted once however many of the processes share it
    processes: list[ProcessInfo]  # examples, most sockets first
    process_count: int
    peers: list[PeerCount]  # the most frequent remote endpoints
    local_ports: list[int]  # the local ports they are on, most frequent first


@frozen
class QueuedSocket:
    """An established socket with data waiting: Recv-Q (unread) or Send-Q (unacknowledged)."""

    local: str
    local_port: int
    remote: str
    remote_port: int
    recv_q: int
    send_q: int
    processes: list[ProcessInfo]
    accepted: bool = True  # False: no file yet, a child still waiting in a listener's accept queue


@frozen
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
    queued: list[QueuedSocket]  # established sockets with data waiting, most backed-up first
    orphans: int  # FIN-WAIT-1/2, CLOSING, LAST-ACK sockets no process holds
    sockets_total: int
    unreadable_processes: int = 0
    notes: list[str] = field(default_factory=list)
    # Sockets no process holds, by state (aggregate.unowned_states); None: not counted.
    states_without_process: dict[str, int] | None = None


@frozen
class Rates:
    """The difference of two snapshots of one namespace, per second (counter resets → None)."""

    interval_s: float
    counters_per_s: dict[str, float]
    counter_deltas: dict[str, int]


@frozen
class ListenerRef:
    address: str
    port: int


@frozen
class ProcessRef:
    pid: int
    comm: str
    runtime: Runtime | None = None
    stopped: bool = False


@frozen
class SysctlChange:
    """One sysctl a remedy suggests, in the namespace it applies to (tcpq never applies it)."""

    name: str
    value: int | tuple[int, int]
    netns: str  # "self" or the namespace's label
    current: int | tuple[int, int] | None


@frozen
class AppChange:
    """A change in the application, for the runtime tcpq detected (None: a generic one)."""

    runtime: Runtime | None
    action: str  # what to do, in words
    example: str = ""  # the line to write: a config directive, a call, a command


@frozen
class Remedy:
    """What to do, as data: report/ renders the text, the terminal view and the sysctl.d file."""

    advice: str = ""  # the part that is neither a sysctl nor an application change
    sysctls: list[SysctlChange] = field(default_factory=list)
    app: AppChange | None = None
    applies: str = ""  # when it takes effect, e.g. "at the next listen(): reload the service"


@frozen
class Finding:
    id: str
    severity: Severity
    title: str
    evidence: dict[str, object]
    explanation: str
    remedy: Remedy
    netns: str | None = None
    listener: ListenerRef | None = None
    process: ProcessRef | None = None
    references: list[str] = field(default_factory=list)


@frozen
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


@frozen
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
@frozen
class Calibration:
    """What `tcpq lab calibrate` measured (model/timing.py HostTiming, and how many samples)."""

    kernel: str
    timing: "HostTiming"
    samples: dict[str, int]
    notes: list[str] = field(default_factory=list)
