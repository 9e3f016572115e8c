"""Hand-built Listeners, Snapshots and Scans for the tests of `tcpq top`."""

from tcpq.app.host_session import NotSeen, Sample, Scan
from tcpq.types import Listener, ProcessInfo, Rates, Snapshot, Source


def listener(
    port: int,
    *,
    drops_per_s: float | None = 0.0,
    accept_queue: int = 0,
    limit: int = 128,
    syn_recv: int = 0,
    comm: str | None = "server",
    netns: str = "self",
    address: str = "127.0.0.1",
) -> Listener:
    return Listener(
        netns=netns,
        address=address,
        port=port,
        accept_queue=accept_queue,
        accept_queue_limit=limit,
        syn_recv=syn_recv,
        drops=None if drops_per_s is None else int(drops_per_s * 10),
        drops_per_s=drops_per_s,
        processes=[ProcessInfo(pid=1000 + port, comm=comm)] if comm else [],
        reuseport_group=0,
        clamped_by_somaxconn=False,
        inode=port,
    )


def snapshot(
    listeners: list[Listener],
    *,
    netns: str = "self",
    states: dict[str, int] | None = None,
    counters: dict[str, int] | None = None,
) -> Snapshot:
    return Snapshot(
        source=Source.HOST,
        netns=netns,
        kernel_release="6.18.0",
        monotonic_s=100.0,
        wall_s=1.7e9,
        sysctl={},
        counters=counters if counters is not None else {"TcpExtListenOverflows": 10, "TcpPassiveOpens": 5},
        states=states if states is not None else {"LISTEN": len(listeners)},
        states_by_process=[],
        states_by_port={},
        states_by_remote={},
        listeners=listeners,
        close_wait=[],
        time_wait_by_destination=[],
        queued=[],
        orphans=0,
        sockets_total=len(listeners),
    )


def sample(snap: Snapshot, rates: dict[str, float] | None = None, interval_s: float = 1.0) -> Sample:
    per_s = rates if rates is not None else {name: 0.0 for name in snap.counters}
    deltas = {name: int(value * interval_s) for name, value in per_s.items()}
    return Sample(before=snap, after=snap, rates=Rates(interval_s, per_s, deltas))


def scan(*samples: Sample, not_seen: list[NotSeen] | None = None) -> Scan:
    return Scan(list(samples), not_seen or [], [])


def one(listeners: list[Listener], netns: str = "self") -> Scan:
    return scan(sample(snapshot(listeners, netns=netns)))
