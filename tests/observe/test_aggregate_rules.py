"""Aggregation of socket records and the doctor rules, on synthetic data (no root needed)."""

import socket
from dataclasses import replace

import pytest

from tcpq.doctor import diagnose
from tcpq.kernel.states import TcpState
from tcpq.observe import aggregate
from tcpq.observe.processes import ProcessRef
from tcpq.observe.snapshot import Instant, Readings, assemble, rates_between
from tcpq.observe.sockets import SockRecord
from tcpq.report.doctor import remedy_text
from tcpq.types import ListenerRef, Snapshot, SysctlChange
from tcpq.types import ProcessRef as ProcessRef_

NGINX = ProcessRef(pid=100, comm="nginx")
APP = ProcessRef(pid=200, comm="app")


def rec(
    state: TcpState,
    local: str = "10.0.0.1",
    lport: int = 80,
    remote: str = "10.0.0.9",
    rport: int = 5555,
    recv_q: int = 0,
    send_q: int = 0,
    inode: int = 0,
    drops: int | None = None,
    cookie: int = 0,
) -> SockRecord:
    return SockRecord(
        socket.AF_INET, state, local, lport, remote, rport, recv_q, send_q, inode, 0, cookie, drops, 0, 0
    )


def snapshot(
    records: list[SockRecord],
    owners: dict[int, list[ProcessRef]],
    sysctl: dict[str, int | tuple[int, int]] | None = None,
    counters: dict[str, int] | None = None,
    t: float = 0.0,
    previous: Snapshot | None = None,
) -> Snapshot:
    """A snapshot of these sockets, read at `t`, assembled by the real assembler."""
    agg = aggregate.SocketAggregator()
    agg.add_all(records)
    sysctls: dict[str, int | tuple[int, int]] = {
        "net.core.somaxconn": 4096,
        "net.ipv4.ip_local_port_range": (32768, 60999),
        "net.ipv4.tcp_syncookies": 1,
    }
    sysctls.update(sysctl or {})
    return assemble(
        Readings(agg, dict(counters or {}), sysctls),
        netns="self",
        kernel_release="6.18.44",
        at=Instant(t, 1_700_000_000.0 + t),
        owners=owners,
        previous=previous,
    )


def test_states_histogram_counts_requests_as_syn_recv() -> None:
    agg = aggregate.SocketAggregator()
    agg.add_all(
        [
            rec(TcpState.LISTEN, "0.0.0.0", inode=1),
            rec(TcpState.SYN_RECV),
            rec(TcpState.SYN_RECV),
            rec(TcpState.ESTABLISHED, inode=2),
            rec(TcpState.TIME_WAIT),
        ]
    )
    assert agg.states == {"LISTEN": 1, "SYN_RECV": 2, "ESTABLISHED": 1, "TIME_WAIT": 1}
    assert agg.owned_inodes() == {1, 2}


def test_listener_view_syn_recv_groups_and_clamp() -> None:
    records = [
        rec(TcpState.LISTEN, "0.0.0.0", 80, "0.0.0.0", 0, recv_q=129, send_q=128, inode=1, drops=7, cookie=1),
        rec(TcpState.LISTEN, "0.0.0.0", 80, "0.0.0.0", 0, recv_q=0, send_q=128, inode=2, drops=0, cookie=2),
        rec(TcpState.SYN_RECV, "10.0.0.1", 80),
        rec(TcpState.SYN_RECV, "127.0.0.1", 80),
        rec(TcpState.SYN_RECV, "10.0.0.1", 81),
    ]
    snap = snapshot(records, {1: [NGINX], 2: [NGINX, APP]}, sysctl={"net.core.somaxconn": 128})
    first, second = snap.listeners
    assert first.full and first.accept_queue == 129 and first.accept_queue_limit == 128
    assert first.syn_recv == 2  # wildcard listener: every local address on its port
    assert first.clamped_by_somaxconn
    assert first.reuseport_group == second.reuseport_group == 1
    assert [p.pid for p in second.processes] == [100, 200]


def test_queued_sockets_all_kept_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    agg = aggregate.SocketAggregator()
    agg.add_all(rec(TcpState.ESTABLISHED, rport=i, recv_q=i + 1, inode=1000 + i) for i in range(5000))
    assert len(agg.queued) == agg.queued_seen == 5000  # every one: the doctor counts totals
    queued = aggregate.build_queued(agg, {})
    assert [s.recv_q for s in queued[:3]] == [5000, 4999, 4998]  # most backed-up first
    monkeypatch.setattr(aggregate, "QUEUED_KEEP", 100)
    bounded = aggregate.SocketAggregator()
    bounded.add_all(rec(TcpState.ESTABLISHED, rport=i, recv_q=1, inode=1000 + i) for i in range(5000))
    assert len(bounded.queued) == 100 and bounded.queued_seen == 5000


def test_accept_queue_overflow_finding_attributes_listener() -> None:
    listen = rec(
        TcpState.LISTEN, "127.0.0.1", 8080, "0.0.0.0", 0, recv_q=5, send_q=4, inode=1, drops=10, cookie=9
    )
    other = rec(
        TcpState.LISTEN, "127.0.0.1", 22, "0.0.0.0", 0, recv_q=0, send_q=128, inode=2, drops=3, cookie=8
    )
    before = snapshot(
        [listen, other],
        {1: [APP], 2: [NGINX]},
        counters={"TcpExtListenOverflows": 100, "TcpExtListenDrops": 100},
    )
    after = snapshot(
        [replace(listen, drops=30), other],
        {1: [APP], 2: [NGINX]},
        counters={"TcpExtListenOverflows": 120, "TcpExtListenDrops": 120},
        t=2.0,
        previous=before,
    )
    findings = diagnose(before, after, rates_between(before, after))
    overflow = [f for f in findings if f.id == "accept-queue-overflow"]
    assert len(overflow) == 1
    assert overflow[0].listener == ListenerRef("127.0.0.1", 8080)
    assert overflow[0].process == ProcessRef_(200, "app")
    assert overflow[0].evidence["listener_drops"] == 20
    assert after.listeners[1].drops_per_s == 10.0


def test_healthy_gives_nothing() -> None:
    records = [
        rec(TcpState.LISTEN, "0.0.0.0", 80, "0.0.0.0", 0, send_q=511, inode=1, drops=0),
        rec(TcpState.ESTABLISHED, inode=2),
    ]
    before = snapshot(records, {1: [NGINX]}, counters={"TcpExtListenOverflows": 5})
    after = snapshot(records, {1: [NGINX]}, counters={"TcpExtListenOverflows": 5}, t=5.0, previous=before)
    assert diagnose(before, after, rates_between(before, after)) == []


def test_close_wait_and_time_wait_and_queued() -> None:
    records = [rec(TcpState.CLOSE_WAIT, rport=i, remote="10.0.0.7", inode=100 + i) for i in range(25)]
    records += [rec(TcpState.TIME_WAIT, remote="10.0.0.8", rport=3306) for _ in range(60)]
    records += [rec(TcpState.ESTABLISHED, rport=9, recv_q=4096, inode=999)]
    owners = {100 + i: [APP] for i in range(25)} | {999: [NGINX]}
    sysctl = {"net.ipv4.ip_local_port_range": (40000, 40099)}
    before = snapshot(records, owners, sysctl=sysctl)
    after = snapshot(records, owners, sysctl=sysctl, t=1.0)
    found = {f.id: f for f in diagnose(before, after, rates_between(before, after))}
    assert found["close-wait-pileup"].process == ProcessRef_(200, "app")
    assert found["close-wait-pileup"].evidence["close_wait"] == 25
    assert found["time-wait-port-exhaustion-risk"].evidence["time_wait"] == 60
    assert found["established-slow-reader"].process == ProcessRef_(100, "nginx")


def test_sysctl_findings() -> None:
    before = snapshot([], {}, sysctl={"net.ipv4.tcp_syncookies": 0, "net.ipv4.tcp_abort_on_overflow": 1})
    after = snapshot(
        [], {}, sysctl={"net.ipv4.tcp_syncookies": 0, "net.ipv4.tcp_abort_on_overflow": 1}, t=1.0
    )
    found = {f.id: f for f in diagnose(before, after, rates_between(before, after))}
    assert found["syncookies-disabled"].remedy.sysctls == [
        SysctlChange("net.ipv4.tcp_syncookies", 1, "self", current=0)
    ]
    assert remedy_text(found["syncookies-disabled"].remedy) == "sysctl -w net.ipv4.tcp_syncookies=1 (now 0)"
    assert found["abort-on-overflow-enabled"].severity.value == "info"


def test_a_counter_that_went_backwards_is_no_overflow() -> None:
    """The namespace was recreated between the samples: its counters and the listener's sk_drops
    restarted from zero. A fall is no negative overflow: the counter is left out of the rates,
    the listener has no drop rate, and the doctor reports no overflow."""
    listen = rec(
        TcpState.LISTEN, "127.0.0.1", 8080, "0.0.0.0", 0, recv_q=5, send_q=4, inode=1, drops=30, cookie=9
    )
    before = snapshot(
        [listen],
        {1: [APP]},
        counters={"TcpExtListenOverflows": 120, "TcpExtListenDrops": 120, "TcpPassiveOpens": 10},
    )
    after = snapshot(
        [replace(listen, drops=2)],
        {1: [APP]},
        counters={"TcpExtListenOverflows": 5, "TcpExtListenDrops": 5, "TcpPassiveOpens": 16},
        t=2.0,
        previous=before,
    )
    rates = rates_between(before, after)
    assert rates.counter_deltas == {"TcpPassiveOpens": 6}  # the one that grew, and only it
    assert rates.counters_per_s == {"TcpPassiveOpens": 3.0}
    assert after.listeners[0].drops_per_s is None
    assert [f.id for f in diagnose(before, after, rates) if "overflow" in f.id] == []


@pytest.mark.parametrize(("linear", "schedule"), [(4, "1, 2, 3 s"), (0, "1, 3, 7 s")])
def test_overflow_explains_the_syn_retry_schedule_of_this_kernel(linear: int, schedule: str) -> None:
    """6.5+ resends an unanswered SYN 1 s apart for tcp_syn_linear_timeouts tries, then doubles
    (kernel-model §5.1); with the linear phase off, the classic 1, 3, 7 s."""
    listen = rec(TcpState.LISTEN, "0.0.0.0", 8080, "0.0.0.0", 0, recv_q=129, send_q=128, inode=1, drops=0)
    sysctl: dict[str, int | tuple[int, int]] = {"net.ipv4.tcp_syn_linear_timeouts": linear}
    counters = {"TcpExtListenOverflows": 100, "TcpExtListenDrops": 100}
    before = snapshot([listen], {1: [APP]}, sysctl=sysctl, counters=counters)
    grown = {name: value + 40 for name, value in counters.items()}
    after = snapshot(
        [replace(listen, drops=40)], {1: [APP]}, sysctl=sysctl, counters=grown, t=2.0, previous=before
    )
    (overflow,) = [
        f for f in diagnose(before, after, rates_between(before, after)) if f.id == "accept-queue-overflow"
    ]
    assert f"resend their SYN {schedule} after the first" in overflow.explanation
