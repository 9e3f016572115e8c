"""TIME_WAIT, tw_reuse and ephemeral ports (kernel-model §8)."""

from tcpq.model import mib
from tcpq.model.timewait import (
    PortSpace,
    TwSubstate,
    TwTable,
    inet_hash_connect,
    inet_twsk_expired,
    tcp_time_wait,
    tcp_timewait_fin,
    tcp_twsk_unique,
)

from .helpers import make_ns

S = 1_000_000


def test_bucket_limit_overflows() -> None:
    """§8.2 (E5): max 3 → 3 entries, 3 TCPTimeWaitOverflow."""
    ns = make_ns("6.18", tcp_max_tw_buckets=3)
    table = TwTable()
    made = [tcp_time_wait(ns, table, key=k, now=0, substate=TwSubstate.TIME_WAIT) for k in range(6)]
    assert sum(entry is not None for entry in made) == 3
    assert ns.counters[mib.TIMEWAIT_OVERFLOW] == 3 and ns.counters[mib.TW] == 3


def test_time_wait_is_60s_whatever_fin_timeout() -> None:
    ns = make_ns("6.18", tcp_fin_timeout=3)
    table = TwTable()
    fw2 = tcp_time_wait(ns, table, key=1, now=0, substate=TwSubstate.FIN_WAIT2)
    assert fw2 is not None and fw2.expires_us == 3 * S
    assert ns.counters[mib.TW_KILLED] == 1  # armed with <= 4 s (§8.3)
    tcp_timewait_fin(fw2, now=S)
    assert fw2.expires_us == 61 * S
    assert not inet_twsk_expired(ns, table, 1, 60 * S) and inet_twsk_expired(ns, table, 1, 61 * S)
    assert ns.tw_count == 0


def two_port_exhaustion(mode: int, wait_us: int) -> tuple[int | None, int]:
    """§8.5 experiment: a 2-port range, one held live, the other in TIME_WAIT."""
    ns = make_ns("6.18", tcp_tw_reuse=mode, ip_local_port_range=(40000, 40001))
    ports = PortSpace(low=40000, high=40001)
    table = TwTable()
    first = inet_hash_connect(ns, ports, table, 0)
    second = inet_hash_connect(ns, ports, table, 0)
    assert first is not None and second is not None
    ports.live.discard(second)
    tcp_time_wait(ns, table, key=second, now=0, substate=TwSubstate.TIME_WAIT)
    return inet_hash_connect(ns, ports, table, wait_us), ns.counters[mib.TW_RECYCLED]


def test_tw_reuse_modes() -> None:
    assert two_port_exhaustion(0, 1_200_000) == (None, 0)
    assert two_port_exhaustion(1, 0) == (None, 0)
    assert two_port_exhaustion(2, 0) == (None, 0)
    assert two_port_exhaustion(1, 1_200_000) == (40001, 1)
    assert two_port_exhaustion(2, 1_200_000) == (40001, 1)


def test_tw_reuse_rules() -> None:
    ns = make_ns("6.18", tcp_tw_reuse=2)
    table = TwTable()
    tw = tcp_time_wait(ns, table, key=1, now=0, substate=TwSubstate.TIME_WAIT, loopback=False)
    assert tw is not None
    assert not tcp_twsk_unique(ns, tw, 5 * S)  # mode 2: loopback only
    assert tcp_twsk_unique(ns, tw, 0, explicit_bind=True)  # bind() bypasses mode and delay
    fw2 = tcp_time_wait(ns, table, key=2, now=0, substate=TwSubstate.FIN_WAIT2)
    assert fw2 is not None and not tcp_twsk_unique(ns, fw2, 5 * S, explicit_bind=True)
    no_ts = tcp_time_wait(ns, table, key=3, now=0, substate=TwSubstate.TIME_WAIT, has_timestamps=False)
    assert no_ts is not None and not tcp_twsk_unique(ns, no_ts, 5 * S)


def test_tw_reuse_delay_sysctl_6_14() -> None:
    ns = make_ns("6.18", tcp_tw_reuse=1, tcp_tw_reuse_delay=5000)
    tw = tcp_time_wait(ns, TwTable(), key=1, now=0, substate=TwSubstate.TIME_WAIT)
    assert tw is not None
    assert not tcp_twsk_unique(ns, tw, 4 * S) and tcp_twsk_unique(ns, tw, 5 * S + 1)


def test_port_range_exhaustion() -> None:
    ns = make_ns("6.18", ip_local_port_range=(50000, 50009))
    ports = PortSpace(low=50000, high=50009)
    table = TwTable()
    got = [inet_hash_connect(ns, ports, table, 0) for _ in range(11)]
    assert sorted(p for p in got if p is not None) == list(range(50000, 50010))
    assert got[-1] is None
