"""The metric contract as data, and the pure function Snapshots → metric families.

Every name the exporter, the alerting rules, the dashboard and the benchmark share is in
`METRICS`; nothing here reads /proc, so the exposition is golden-testable from hand-built
Snapshots. Label cardinality is bounded: per listener (netns, address, port, process), where
listeners on ephemeral ports are folded into one series per namespace unless `all_ports`; per
namespace (netns) for counters, (netns, name) for a fixed list of sysctls and (netns, state)
for the ~12 TCP state names.
"""

from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from tcpq.kernel.resolve import default_port_range
from tcpq.records import frozen
from tcpq.types import Listener, Snapshot


class Kind(StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"


LISTENER_LABELS = ("netns", "address", "port", "process")
NETNS_LABELS = ("netns",)


@frozen
class MetricSpec:
    """One exported metric. `name` is the sample name (counters end in _total); `source` says
    where the value comes from: "listener.<attribute>", "counter.<nstat name>", "sysctl",
    "states", "fold" or "self.<what>"."""

    name: str
    kind: Kind
    help: str
    source: str
    labels: tuple[str, ...] = NETNS_LABELS


def _listener(name: str, kind: Kind, help_text: str, attribute: str) -> MetricSpec:
    return MetricSpec(name, kind, help_text, f"listener.{attribute}", LISTENER_LABELS)


def _counter(name: str, nstat: str, help_text: str) -> MetricSpec:
    return MetricSpec(name, Kind.COUNTER, f"{help_text} (nstat {nstat}).", f"counter.{nstat}")


LISTENER_METRICS: tuple[MetricSpec, ...] = (
    _listener(
        "tcpq_listener_accept_queue",
        Kind.GAUGE,
        "Connections waiting for accept() (ss Recv-Q).",
        "accept_queue",
    ),
    _listener(
        "tcpq_listener_accept_queue_limit",
        Kind.GAUGE,
        "Accept queue limit: the listen() backlog after the somaxconn clamp (ss Send-Q); "
        "the queue holds limit + 1.",
        "accept_queue_limit",
    ),
    _listener("tcpq_listener_syn_recv", Kind.GAUGE, "Half-open connections (SYN-RECV).", "syn_recv"),
    _listener(
        "tcpq_listener_drops_total",
        Kind.COUNTER,
        "Packets the listening socket dropped (sk_drops).",
        "drops",
    ),
    _listener(
        "tcpq_listener_clamped_by_somaxconn",
        Kind.GAUGE,
        "1 when the accept queue limit equals net.core.somaxconn (the backlog was probably clamped).",
        "clamped_by_somaxconn",
    ),
)

COUNTER_METRICS: tuple[MetricSpec, ...] = (
    _counter("tcpq_listen_overflows_total", "TcpExtListenOverflows", "Accept queue overflows"),
    _counter("tcpq_listen_drops_total", "TcpExtListenDrops", "SYNs and ACKs a listener dropped"),
    _counter("tcpq_syn_queue_full_drops_total", "TcpExtTCPReqQFullDrop", "SYNs dropped: SYN queue full"),
    _counter(
        "tcpq_syn_queue_full_cookies_total",
        "TcpExtTCPReqQFullDoCookies",
        "SYN cookies sent because the SYN queue was full",
    ),
    _counter("tcpq_syncookies_sent_total", "TcpExtSyncookiesSent", "SYN cookies sent"),
    _counter("tcpq_syncookies_recv_total", "TcpExtSyncookiesRecv", "Valid SYN cookies received"),
    _counter("tcpq_syncookies_failed_total", "TcpExtSyncookiesFailed", "Invalid SYN cookies received"),
    _counter("tcpq_syn_retrans_total", "TcpExtTCPSynRetrans", "SYN and SYN-ACK retransmissions"),
    _counter("tcpq_timeouts_total", "TcpExtTCPTimeouts", "Retransmission timeouts"),
    _counter("tcpq_embryonic_rsts_total", "TcpExtEmbryonicRsts", "Resets received in SYN-RECV"),
    _counter(
        "tcpq_timewait_overflow_total",
        "TcpExtTCPTimeWaitOverflow",
        "TIME-WAIT sockets not created: tcp_max_tw_buckets reached",
    ),
    _counter("tcpq_passive_opens_total", "TcpPassiveOpens", "Connections accepted from LISTEN"),
    _counter("tcpq_active_opens_total", "TcpActiveOpens", "Connections opened with connect()"),
    _counter("tcpq_attempt_fails_total", "TcpAttemptFails", "Failed connection attempts"),
    _counter("tcpq_estab_resets_total", "TcpEstabResets", "Resets of established connections"),
    _counter("tcpq_out_rsts_total", "TcpOutRsts", "Resets sent"),
)

NAMESPACE_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "tcpq_sysctl",
        Kind.GAUGE,
        "A connection-handling sysctl of the namespace (a range is two series, name.low and name.high).",
        "sysctl",
        ("netns", "name"),
    ),
    MetricSpec(
        "tcpq_sockets", Kind.GAUGE, "TCP sockets by state (netstat names).", "states", ("netns", "state")
    ),
    MetricSpec(
        "tcpq_listeners_folded",
        Kind.GAUGE,
        'Listeners on ephemeral ports folded into the port="ephemeral" series.',
        "fold",
    ),
    MetricSpec(
        "tcpq_netns_up",
        Kind.GAUGE,
        "1 when the namespace was read, 0 when it vanished or could not be read.",
        "self.netns_up",
    ),
)

SELF_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "tcpq_scrape_duration_seconds", Kind.GAUGE, "Seconds the last scan took.", "self.duration", ()
    ),
    MetricSpec("tcpq_scrape_errors_total", Kind.COUNTER, "Scans that failed.", "self.errors", ()),
    MetricSpec(
        "tcpq_snapshot_age_seconds",
        Kind.GAUGE,
        "Age of the snapshot this scrape served (scrapes closer than --min-interval share one).",
        "self.age",
        (),
    ),
)

METRICS: tuple[MetricSpec, ...] = LISTENER_METRICS + COUNTER_METRICS + NAMESPACE_METRICS + SELF_METRICS
BY_NAME: dict[str, MetricSpec] = {spec.name: spec for spec in METRICS}

SYSCTLS: tuple[str, ...] = (
    "net.core.somaxconn",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_abort_on_overflow",
    "net.ipv4.tcp_synack_retries",
    "net.ipv4.tcp_syn_retries",
    "net.ipv4.tcp_max_tw_buckets",
)
EPHEMERAL_RANGE = "net.ipv4.ip_local_port_range"
EPHEMERAL_PORT = "ephemeral"


@frozen
class ScrapeStats:
    """What the exporter knows about itself at this scrape."""

    duration_s: float = 0.0
    errors_total: int = 0
    snapshot_age_s: float = 0.0


@frozen
class ListenerSeries:
    """The values of one listener label set: a listener, or the sum of those sharing the labels
    (folded ephemeral ports, or SO_REUSEPORT sockets of one program)."""

    labels: tuple[str, str, str, str]
    accept_queue: int
    accept_queue_limit: int
    syn_recv: int
    drops: int | None  # None: no member's sk_drops was readable
    clamped_by_somaxconn: bool  # any member


def _ephemeral(snapshot: Snapshot) -> tuple[int, int]:
    """The namespace's port range, or the catalogue's default for its kernel when unread."""
    value = snapshot.sysctl.get(EPHEMERAL_RANGE)
    if isinstance(value, tuple):
        return value
    return default_port_range(snapshot.kernel_release)


def _labels(listener: Listener, fold: bool) -> tuple[str, str, str, str]:
    if fold:
        return (listener.netns, "*", EPHEMERAL_PORT, "")
    process = listener.processes[0].comm if listener.processes else ""
    return (listener.netns, listener.address, str(listener.port), process)


def _add(series: ListenerSeries | None, labels: tuple[str, str, str, str], item: Listener) -> ListenerSeries:
    if series is None:
        return ListenerSeries(
            labels,
            item.accept_queue,
            item.accept_queue_limit,
            item.syn_recv,
            item.drops,
            item.clamped_by_somaxconn,
        )
    drops = series.drops if item.drops is None else (series.drops or 0) + item.drops
    return ListenerSeries(
        labels,
        series.accept_queue + item.accept_queue,
        series.accept_queue_limit + item.accept_queue_limit,
        series.syn_recv + item.syn_recv,
        drops,
        series.clamped_by_somaxconn or item.clamped_by_somaxconn,
    )


def listener_series(snapshot: Snapshot, all_ports: bool = False) -> tuple[list[ListenerSeries], int]:
    """One series per label set (a label set seen twice is summed: Prometheus refuses duplicate
    series), and how many listeners were folded as ephemeral."""
    low, high = _ephemeral(snapshot)
    merged: dict[tuple[str, str, str, str], ListenerSeries] = {}
    folded = 0
    for item in snapshot.listeners:
        fold = not all_ports and low <= item.port <= high
        folded += fold
        labels = _labels(item, fold)
        merged[labels] = _add(merged.get(labels), labels, item)
    return list(merged.values()), folded


def _family(spec: MetricSpec) -> GaugeMetricFamily | CounterMetricFamily:
    if spec.kind is Kind.COUNTER:
        return CounterMetricFamily(spec.name, spec.help, labels=list(spec.labels))
    return GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))


ListenerValue = Callable[[ListenerSeries], float | None]
LISTENER_VALUES: dict[str, ListenerValue] = {
    "tcpq_listener_accept_queue": lambda s: s.accept_queue,
    "tcpq_listener_accept_queue_limit": lambda s: s.accept_queue_limit,
    "tcpq_listener_syn_recv": lambda s: s.syn_recv,
    "tcpq_listener_drops_total": lambda s: s.drops,
    "tcpq_listener_clamped_by_somaxconn": lambda s: int(s.clamped_by_somaxconn),
}


def _series_order(series: ListenerSeries) -> tuple[int, str, str]:
    """By port (the folded series last), then address and program: a stable exposition."""
    _, address, port, process = series.labels
    return (int(port) if port.isdigit() else 65536, address, process)


def _listener_families(snapshots: Sequence[Snapshot], all_ports: bool) -> list[Metric]:
    families = {spec.name: _family(spec) for spec in LISTENER_METRICS}
    folded = _family(BY_NAME["tcpq_listeners_folded"])
    for snapshot in snapshots:
        series, count = listener_series(snapshot, all_ports)
        folded.add_metric([snapshot.netns], count)
        for item in sorted(series, key=_series_order):
            for name, value_of in LISTENER_VALUES.items():
                value = value_of(item)
                if value is not None:
                    families[name].add_metric(list(item.labels), value)
    return [*families.values(), folded]


def _counter_families(snapshots: Sequence[Snapshot]) -> list[Metric]:
    families: list[Metric] = []
    for spec in COUNTER_METRICS:
        family = _family(spec)
        nstat = spec.source.removeprefix("counter.")
        for snapshot in snapshots:
            if nstat in snapshot.counters:
                family.add_metric([snapshot.netns], snapshot.counters[nstat])
        families.append(family)
    return families


def sysctl_values(snapshot: Snapshot) -> Iterable[tuple[str, int]]:
    for name in SYSCTLS:
        value = snapshot.sysctl.get(name)
        if isinstance(value, tuple):
            yield f"{name}.low", value[0]
            yield f"{name}.high", value[1]
        elif value is not None:
            yield name, value


def _namespace_families(snapshots: Sequence[Snapshot], down: Sequence[str]) -> list[Metric]:
    sysctl = _family(BY_NAME["tcpq_sysctl"])
    sockets = _family(BY_NAME["tcpq_sockets"])
    up = _family(BY_NAME["tcpq_netns_up"])
    for snapshot in snapshots:
        for name, value in sysctl_values(snapshot):
            sysctl.add_metric([snapshot.netns, name], value)
        for state, count in sorted(snapshot.states.items()):
            sockets.add_metric([snapshot.netns, state], count)
        up.add_metric([snapshot.netns], 1)
    for netns in down:
        up.add_metric([netns], 0)
    return [sysctl, sockets, up]


def _self_families(stats: ScrapeStats) -> list[Metric]:
    values = {
        "tcpq_scrape_duration_seconds": stats.duration_s,
        "tcpq_scrape_errors_total": float(stats.errors_total),
        "tcpq_snapshot_age_seconds": stats.snapshot_age_s,
    }
    families: list[Metric] = []
    for spec in SELF_METRICS:
        family = _family(spec)
        family.add_metric([], values[spec.name])
        families.append(family)
    return families


def build_families(
    snapshots: Sequence[Snapshot],
    down: Sequence[str] = (),
    stats: ScrapeStats | None = None,
    all_ports: bool = False,
) -> list[Metric]:
    """Every family of the contract, in `METRICS` order of kinds, for these snapshots; `down`
    names namespaces that were listed but not read (tcpq_netns_up 0). Pure: no I/O."""
    families = _listener_families(snapshots, all_ports)
    families += _counter_families(snapshots)
    families += _namespace_families(snapshots, down)
    return families + _self_families(stats or ScrapeStats())
