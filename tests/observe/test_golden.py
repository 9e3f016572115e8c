"""Host renderers against golden text at 80 and 200 columns, colour off (STYLE.md habit 13).

The Snapshots, views and sysctl rows are built here by hand, so a golden changes only when the
rendering does. Regenerate after an intended change with TCPQ_UPDATE_GOLDEN=1 and read the diff.
"""

from pathlib import Path

import pytest

from tcpq.app.host_session import NotSeen
from tcpq.app.host_views import More, StatesView, StatusView
from tcpq.report.host import grouped_states_table, render_status, render_status_scan, sysctl_table
from tcpq.types import Listener, ProcessInfo, Rates, Snapshot, Source, SysctlRow

from ..golden import check_golden, render

GOLDEN = Path(__file__).parent / "golden"
WIDTHS = (80, 200)
# Values that must appear whole at every width: addresses with their ports, and process/PID.
WHOLE = (
    "127.0.0.1:8080",
    "[2001:db8:85a3::8a2e:370:7334]:8443",
    "[::]:443",
    "python3/1234567",
    "nginx/1001",
    "nginx/1003",
    "+2 more",
    "sshd/4194304",
)


def fits(text: str, width: int) -> None:
    too_long = [line for line in text.splitlines() if len(line) > width]
    assert not too_long, f"lines over {width} columns: {too_long}"
    assert "…" not in text  # nothing cut with an ellipsis


def listener(address: str, port: int, procs: list[ProcessInfo], **kw: object) -> Listener:
    fields: dict[str, object] = {
        "accept_queue": 0,
        "accept_queue_limit": 4096,
        "syn_recv": 0,
        "drops": 0,
        "drops_per_s": 0.0,
        "reuseport_group": 0,
        "clamped_by_somaxconn": False,
    }
    fields.update(kw)
    return Listener(netns="web", address=address, port=port, processes=procs, **fields)  # type: ignore[arg-type]


NGINX = [ProcessInfo(pid, "nginx") for pid in (1001, 1002, 1003, 1004, 1005)]
LISTENERS = [
    listener("127.0.0.1", 8080, [ProcessInfo(1234567, "python3")], accept_queue=5, accept_queue_limit=4),
    listener("::", 443, NGINX, accept_queue=12, syn_recv=3, reuseport_group=1, clamped_by_somaxconn=True),
    listener("::", 443, NGINX[:1], reuseport_group=1, drops=17, drops_per_s=1.5),
    listener(
        "2001:db8:85a3::8a2e:370:7334", 8443, [ProcessInfo(4194304, "sshd")], drops=123456, drops_per_s=12.25
    ),
    listener("0.0.0.0", 9000, []),
]
SNAPSHOT = Snapshot(
    source=Source.HOST,
    netns="web",
    kernel_release="6.18.44",
    monotonic_s=10.0,
    wall_s=1_700_000_000.0,
    sysctl={"net.core.somaxconn": 4096},
    counters={"TcpExtListenOverflows": 41, "TcpExtListenDrops": 41, "TcpPassiveOpens": 1774, "TcpExtTW": 0},
    states={"ESTABLISHED": 512, "TIME_WAIT": 300, "LISTEN": 5, "SYN_RECV": 3},
    states_by_process=[],
    states_by_port={"8080": {"ESTABLISHED": 5, "LISTEN": 1}},
    states_by_remote={},
    listeners=LISTENERS,
    close_wait=[],
    time_wait_by_destination=[],
    queued=[],
    orphans=2,
    sockets_total=820,
    notes=["2 process(es) could not be read: their sockets show no owner"],
)
RATES = Rates(
    interval_s=1.0,
    counters_per_s={"TcpExtListenOverflows": 4.0, "TcpExtListenDrops": 4.0, "TcpPassiveOpens": 120.5},
    counter_deltas={
        "TcpExtListenOverflows": 4,
        "TcpExtListenDrops": 4,
        "TcpPassiveOpens": 121,
        "TcpExtTW": 0,
    },
)
SYSCTLS = [
    SysctlRow(
        "net.core.somaxconn",
        4096,
        4096,
        "per-netns",
        False,
        "Upper bound applied by listen() to the backlog an application asks for.",
        "seed: The default somaxconn is 128. — The default is 4096; 128 was the value before 5.4.",
    ),
    SysctlRow(
        "net.ipv4.ip_local_port_range",
        (1024, 65000),
        (32768, 60999),
        "per-netns",
        True,
        "The ephemeral ports connect() picks from when the socket was not bound.",
        "",
    ),
    SysctlRow("net.ipv4.tcp_tw_recycle", None, None, "per-netns", False, "Removed in 4.12.", ""),
    SysctlRow(
        "net.ipv4.tcp_challenge_ack_limit",
        2147483647,
        2147483647,
        "per-netns",
        False,
        "Challenge ACKs sent per second, over the whole host.",
        "Since 6.0 per socket, ratelimited by tcp_invalid_ratelimit instead of this global budget.",
    ),
]


def status_view(**kw: object) -> StatusView:
    fields: dict[str, object] = {
        "snapshot": SNAPSHOT,
        "rates": RATES,
        "counter_names": ["TcpExtListenOverflows", "TcpExtListenDrops", "TcpPassiveOpens", "TcpExtTW"],
        "sysctls": SYSCTLS,
        "listeners_more": 0,
        "sport": None,
        "dport": None,
        "notes": [],
    }
    fields.update(kw)
    return StatusView(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("width", WIDTHS)
def test_status(width: int) -> None:
    text = render(render_status(status_view()), width)
    check_golden(GOLDEN / f"status_{width}.txt", text)
    fits(text, width)
    for value in WHOLE:
        assert value in text
    assert "2 process(es) could not be read" in text


@pytest.mark.parametrize("width", WIDTHS)
def test_status_sweep_names_what_it_missed(width: int) -> None:
    view = status_view(listeners_more=3, sport=8080, snapshot=SNAPSHOT)
    gone = [NotSeen("tcpq-test-1-gone", "network namespace 'tcpq-test-1-gone' no longer exists")]
    text = render(render_status_scan([view], gone, ["3 process(es) could not be inspected"]), width)
    check_golden(GOLDEN / f"status_sweep_{width}.txt", text)
    fits(text, width)
    assert "not seen: tcpq-test-1-gone" in text and "3 more listeners" in text


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("verbose", [False, True])
def test_sysctl(width: int, verbose: bool) -> None:
    text = render(sysctl_table(SYSCTLS, verbose=verbose), width)
    check_golden(GOLDEN / f"sysctl{'_verbose' if verbose else ''}_{width}.txt", text)
    fits(text, width)
    flat = " ".join(text.split())  # the prose is there in full, wrapped: compare it unwrapped
    for row in SYSCTLS:
        assert row.name in text
        assert row.note in flat
        assert (row.meaning in flat) == verbose
    assert "not in this kernel" in text
    assert "32768 60999" in text and "2147483647" in text


PROCESS_GROUPS = {
    "java/2718281": {"ESTABLISHED": 400, "CLOSE_WAIT": 7, "LISTEN": 2},
    "(no process)": {"TIME_WAIT": 300, "SYN_RECV": 3, "ESTABLISHED": 5, "FIN_WAIT2": 4},
    "python3/1234567": {"ESTABLISHED": 100, "SYN_SENT": 2, "LISTEN": 1},
}


def states_view(by: str, groups: dict[str, dict[str, int]], **kw: object) -> StatesView:
    fields: dict[str, object] = {
        "by": by,
        "groups": groups,
        "more": None,
        "sockets": sum(sum(c.values()) for c in groups.values()),
        "sort": "total",
        "sport": None,
        "dport": None,
        "not_seen": [],
        "notes": [],
    }
    fields.update(kw)
    return StatesView(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("width", WIDTHS)
def test_states_by_process(width: int) -> None:
    view = states_view("process", PROCESS_GROUPS, more=More(12, 33), sockets=857)
    text = render(grouped_states_table(view), width)
    check_golden(GOLDEN / f"states_process_{width}.txt", text)
    fits(text, width)
    assert "java/2718281" in text and "python3/1234567" in text and "(no process)" in text
    assert "12 more groups: 33 sockets" in text


@pytest.mark.parametrize("width", WIDTHS)
def test_states_by_port(width: int) -> None:
    groups = {
        "443": {"ESTABLISHED": 350, "TIME_WAIT": 90, "LISTEN": 2},
        "remote 5432": {"ESTABLISHED": 64, "TIME_WAIT": 12},
        "remote 65535": {"SYN_SENT": 1},
    }
    gone = [NotSeen("pid 4242 (postgres)", "network namespace of process 4242 no longer exists")]
    view = states_view("port", groups, not_seen=gone, notes=["a note from the sweep"])
    text = render(grouped_states_table(view), width)
    check_golden(GOLDEN / f"states_port_{width}.txt", text)
    fits(text, width)
    assert "remote 65535" in text and "not seen: pid 4242 (postgres)" in text
