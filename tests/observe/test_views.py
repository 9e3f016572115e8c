"""The host views an operator uses: service-port groups, sockets without an owner, filters,
order and caps, pipes, --watch frames, and namespaces that vanish during a sweep (issue 8)."""

import io
import json
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from tcpq.app import host_session as session
from tcpq.app import host_views
from tcpq.cli import main
from tcpq.errors import TcpqError
from tcpq.kernel.states import TcpState
from tcpq.observe import aggregate, netns
from tcpq.observe.processes import ProcessRef
from tcpq.observe.snapshot import Instant, Readings, assemble
from tcpq.observe.sockets import SockRecord
from tcpq.report import console as report_console
from tcpq.report.host import grouped_states_table, listeners_table
from tcpq.types import Snapshot

from .nslab import clients, listener, namespace, settle

JAVA = ProcessRef(pid=300, comm="java")
PSQL = ProcessRef(pid=400, comm="psql")


def rec(
    state: TcpState,
    lport: int,
    rport: int = 0,
    remote: str = "10.0.0.9",
    inode: int = 0,
    local: str = "10.0.0.1",
) -> SockRecord:
    return SockRecord(socket.AF_INET, state, local, lport, remote, rport, 0, 0, inode, 0, 0, None, 0, 0)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


class DeletingClock:
    """host_session's `time` during a test: its first sleep (the interval between two samples)
    deletes a namespace, then sleeps. Only host_session sees it. Patching `time.sleep` itself
    also patched subprocess's own wait for `ip netns del`, whose sleeps started `ip netns del`
    again, each inside the last (161 deep in one CI run, which then printed nothing)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.deleted = 0

    def sleep(self, seconds: float) -> None:
        if not self.deleted:
            subprocess.run(["ip", "netns", "del", self.name], check=True, timeout=10)
            self.deleted += 1
        time.sleep(seconds)


def delete_during_interval(monkeypatch: pytest.MonkeyPatch, name: str) -> DeletingClock:
    clock = DeletingClock(name)
    monkeypatch.setattr(session, "time", clock)
    return clock


def snapshot_of(
    records: list[SockRecord], owners: dict[int, list[ProcessRef]], exact: bool = False
) -> Snapshot:
    """As take_snapshot assembles one (the same assembler); without `exact`, the snapshot lacks
    the count of sockets without an owner, as one made before tcpq counted them (the views then
    derive it)."""
    agg = aggregate.SocketAggregator()
    agg.add_all(records)
    snap = assemble(
        Readings(agg, {}, {}), netns="self", kernel_release="6.18.44", at=Instant(0.0, 0.0), owners=owners
    )
    return snap if exact else replace(snap, states_without_process=None)


# A server on 8080 with 60 clients from ephemeral ports, and this host's own 70 connections to a
# database on 5432 (from 70 ephemeral ports). One socket is read before its port's listener.
SERVER = [rec(TcpState.ESTABLISHED, 9090, 41000, inode=99)]
SERVER += [rec(TcpState.LISTEN, 8080, inode=1), rec(TcpState.LISTEN, 9090, inode=2)]
SERVER += [rec(TcpState.ESTABLISHED, 8080, 40000 + i, inode=100 + i) for i in range(60)]
SERVER += [rec(TcpState.TIME_WAIT, 8080, 45000 + i) for i in range(5)]
OUTGOING = [rec(TcpState.ESTABLISHED, 50000 + i, 5432, "10.0.0.5", inode=500 + i) for i in range(70)]
OWNERS = {1: [JAVA], 2: [JAVA], 99: [JAVA]} | {100 + i: [JAVA] for i in range(60)}
OWNERS |= {500 + i: [PSQL] for i in range(70)}


# -- item 12: groups by service port, every group, sockets without an owner ----------------


def test_by_port_groups_by_service_port_not_ephemeral_ports() -> None:
    snap = snapshot_of(SERVER + OUTGOING, OWNERS)
    assert snap.states_by_port == {
        "remote 5432": {"ESTABLISHED": 70},
        "8080": {"ESTABLISHED": 60, "TIME_WAIT": 5, "LISTEN": 1},
        "9090": {"ESTABLISHED": 1, "LISTEN": 1},  # read before its listener, still grouped by it
    }


def test_no_group_is_dropped() -> None:
    records = [rec(TcpState.ESTABLISHED, 50000 + i, 443, f"10.1.0.{i}", inode=1 + i) for i in range(80)]
    snap = snapshot_of(records, {})
    assert len(snap.states_by_remote) == 80
    assert sum(sum(c.values()) for c in snap.states_by_remote.values()) == 80


def test_unowned_states_count_each_socket_once() -> None:
    records = [
        rec(TcpState.LISTEN, 80, inode=1),  # held by two processes (pre-fork)
        rec(TcpState.LISTEN, 81, inode=2),  # its owner could not be read
        rec(TcpState.ESTABLISHED, 80, 5000, inode=3),  # shared by two processes
        rec(TcpState.ESTABLISHED, 80, 5001),  # a child not yet accepted: no inode
        rec(TcpState.ESTABLISHED, 80, 5002, inode=4),  # owner unreadable
        rec(TcpState.TIME_WAIT, 80, 5003),
        rec(TcpState.SYN_RECV, 80, 5004),
    ]
    owners = {1: [JAVA, PSQL], 3: [JAVA, PSQL]}
    agg = aggregate.SocketAggregator()
    agg.add_all(records)
    assert aggregate.unowned_states(agg, owners) == {
        "ESTABLISHED": 2,
        "LISTEN": 1,
        "TIME_WAIT": 1,
        "SYN_RECV": 1,
    }


@pytest.mark.parametrize("exact", [True, False])
def test_states_by_process_keeps_sockets_without_an_owner(exact: bool) -> None:
    records = [
        *SERVER,
        *OUTGOING,
        rec(TcpState.ESTABLISHED, 8080, 47000),
        rec(TcpState.LISTEN, 7000, inode=7),
    ]
    snap = snapshot_of(records, OWNERS, exact=exact)
    groups = host_views.grouped_states([snap], "process")
    assert groups["(no process)"] == {"TIME_WAIT": 5, "ESTABLISHED": 1, "LISTEN": 1}
    assert sum(sum(counts.values()) for counts in groups.values()) == snap.sockets_total


def test_cli_states_by_process_and_port_in_a_namespace() -> None:
    """Children nobody accepted yet have no owner: they are counted, not dropped; the clients'
    sockets are grouped by the port they connect to."""
    with namespace() as ns:
        listener(ns, 7301, 16, "never")
        clients(ns, 7301, count=4, gap=0.0, lifetime=10)
        settle(0.5)
        code, out, err = invoke("states", "--netns", ns.name, "--by", "process", "--json")
        assert code == 0, err
        data = json.loads(out)
        assert data["groups"]["(no process)"] == {"ESTABLISHED": 4}
        assert sum(sum(c.values()) for c in data["groups"].values()) == data["sockets"] == 9
        code, out, err = invoke("states", "--netns", ns.name, "--by", "port", "--json")
        assert code == 0, err
        assert json.loads(out)["groups"] == {
            "7301": {"ESTABLISHED": 4, "LISTEN": 1},
            "remote 7301": {"ESTABLISHED": 4},
        }


# -- item 14: --sport/--dport, --sort, --top -------------------------------------------------


def scan_of(*snapshots: Snapshot) -> "session.Scan":
    return session.Scan([session.Sample(None, snap, None) for snap in snapshots])


def test_states_filters_sort_and_top() -> None:
    result = scan_of(snapshot_of(SERVER + OUTGOING, OWNERS))
    view = host_views.states_view(result, "port", host_views.selection("8080", None, None, None))
    assert view.groups == {"8080": {"ESTABLISHED": 60, "TIME_WAIT": 5, "LISTEN": 1}} and view.sockets == 66
    view = host_views.states_view(result, "state", host_views.selection(None, "5432", None, None))
    assert view.groups == {"all": {"ESTABLISHED": 70}} and view.sockets == 70
    view = host_views.states_view(result, "port", host_views.selection(None, None, "time-wait", "1"))
    assert list(view.groups) == ["8080"]
    assert view.more == host_views.More(rows=2, sockets=72) and view.sockets == 138
    view = host_views.states_view(result, "port", host_views.selection(None, None, "name", None))
    assert list(view.groups) == ["8080", "9090", "remote 5432"]


def test_status_listeners_filter_sort_top() -> None:
    snap = snapshot_of(SERVER + OUTGOING, OWNERS)
    busy = replace(snap.listeners[1], accept_queue=9)
    snap = replace(snap, listeners=[snap.listeners[0], busy])
    item = session.Sample(None, snap, None)
    view = host_views.status_view(item, host_views.selection("9090", None, None, None, listeners=True), False)
    assert [lst.port for lst in view.snapshot.listeners] == [9090]
    assert view.snapshot.states == {"ESTABLISHED": 1, "LISTEN": 1}
    view = host_views.status_view(
        item, host_views.selection(None, None, "accept-queue", "1", listeners=True), False
    )
    assert [lst.port for lst in view.snapshot.listeners] == [9090] and view.listeners_more == 1
    text = render(listeners_table(view), 80)
    assert "1 more listeners" in text


@pytest.mark.parametrize(
    "args",
    [
        ("--sport", "http"),
        ("--dport", "70000"),
        ("--top", "0"),
        ("--sort", "bogus"),
        ("--sport", "80", "--dport", "443"),
    ],
)
def test_selection_errors_are_one_line(args: tuple[str, ...]) -> None:
    for command in ("states", "status"):
        code, _, err = (
            invoke(command, "--interval", "0", *args) if command == "status" else invoke(command, *args)
        )
        assert code == 2 and err.count("\n") == 1 and err.startswith("tcpq: error: "), (command, err)


def test_filter_with_a_grouping_that_has_no_ports_is_refused() -> None:
    with pytest.raises(TcpqError, match="--by process"):
        host_views.states_view(
            scan_of(snapshot_of(SERVER, OWNERS)), "process", host_views.selection("80", None, None, None)
        )


def test_cli_states_top_says_how_many_more() -> None:
    code, out, err = invoke("states", "--by", "port", "--top", "1", "--sort", "name", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert len(data["groups"]) <= 1 and data["sort"] == "name"
    total = sum(sum(c.values()) for c in data["groups"].values())
    assert total + (data["more"]["sockets"] if data["more"] else 0) == data["sockets"]


# -- item 7: pipes get whole lines, values are never cut -------------------------------------


def render(renderable: object, width: int) -> str:
    out = Console(width=width, color_system=None, force_terminal=False, record=True, file=io.StringIO())
    out.print(renderable)
    return out.export_text()


def test_stdout_in_a_pipe_is_wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert report_console.stdout().width == report_console.PIPE_WIDTH


def test_cli_sysctl_piped_is_short_and_whole() -> None:
    code, out, err = invoke("sysctl")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) < 120, len(lines)
    assert "…" not in out and max(len(line) for line in lines) <= report_console.PIPE_WIDTH
    code, verbose, _ = invoke("sysctl", "--verbose")
    assert code == 0 and len(verbose.splitlines()) > len(lines)


@pytest.mark.parametrize("width", [40, 60, 80])
def test_narrow_screens_keep_every_value(width: int) -> None:
    snap = snapshot_of(SERVER + OUTGOING, OWNERS)
    view = host_views.status_view(session.Sample(None, snap, None), host_views.Selection(sort="port"), False)
    text = render(listeners_table(view), width)
    assert "10.0.0.1:8080" in text and "java/300" in text and "…" not in text
    states = host_views.states_view(scan_of(snap), "port", host_views.selection(None, None, None, None))
    text = render(grouped_states_table(states), width)
    assert "remote 5432" in text and "…" not in text
    assert all(len(line) <= width for line in text.splitlines())


# -- item 11: --watch in a pipe, with and without --json ---------------------------------------


def test_watch_json_piped_is_one_document_per_frame() -> None:
    code, out, err = invoke("status", "--watch", "--json", "--count", "3", "--interval", "0.05")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    for line in lines:
        data = json.loads(line)
        assert data["source"] == "host" and data["rates"]["interval_s"] > 0


def test_watch_piped_prints_every_frame() -> None:
    code, out, err = invoke("status", "--watch", "--count", "3", "--interval", "0.05")
    assert code == 0, err
    assert out.count("tcpq status") == 3


# -- item 9: a namespace that vanishes during the sweep --------------------------------------


def delete_after_listing(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """Namespaces are listed through the real reader, then `name` is deleted before it is read."""
    real = netns.list_netns_report
    deleted: list[str] = []

    def listing(*args: Path) -> tuple[list[netns.NetnsRef], int]:
        refs, unlisted = real(*args)
        if not deleted and any(ref.name == name for ref in refs):
            subprocess.run(["ip", "netns", "del", name], check=True, timeout=10)
            deleted.append(name)
        return refs, unlisted

    monkeypatch.setattr(netns, "list_netns_report", listing)
    monkeypatch.setattr(session, "list_netns_report", listing, raising=False)
    return deleted


def test_vanished_namespace_is_named_and_the_others_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    with namespace() as ns:
        deleted = delete_after_listing(monkeypatch, ns.name)
        code, out, err = invoke("status", "--netns", "all", "--json", "--interval", "0")
        assert deleted == [ns.name]
        assert code == 0, err
        data = json.loads(out)
        assert ns.name in [item["netns"] for item in data["not_seen"]]
        assert "self" in [item["netns"] for item in data["namespaces"]]
        assert ns.name not in [item["netns"] for item in data["namespaces"]]


def test_vanished_namespace_in_the_terminal_views(monkeypatch: pytest.MonkeyPatch) -> None:
    for command in (["states", "--by", "netns"], ["sysctl", "--netns", "all"]):
        with namespace() as ns:
            deleted = delete_after_listing(monkeypatch, ns.name)
            code, out, err = invoke(*command)
            assert deleted == [ns.name]
            assert code == 0, err
            assert f"not seen: {ns.name}" in out
            assert "self" in out
        monkeypatch.undo()


def test_namespace_vanishing_between_the_two_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    with namespace() as ns:
        clock = delete_during_interval(monkeypatch, ns.name)
        code, out, err = invoke("status", "--netns", "all", "--json", "--interval", "0.05")
        assert code == 0, err
        assert clock.deleted == 1
        (gone,) = [item for item in json.loads(out)["not_seen"] if item["netns"] == ns.name]
        assert "interval" in gone["reason"]


def test_a_named_namespace_that_vanishes_is_still_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with namespace() as ns:
        real = session.resolve_netns

        def resolve(spec: str) -> object:
            ref = real(spec)
            subprocess.run(["ip", "netns", "del", ns.name], check=True, timeout=10)
            return ref

        monkeypatch.setattr(session, "resolve_netns", resolve)
        code, _, err = invoke("status", "--netns", ns.name, "--interval", "0")
        assert code == 2 and "no longer exists" in err and err.count("\n") == 1


def test_watch_keeps_naming_a_namespace_that_vanished(monkeypatch: pytest.MonkeyPatch) -> None:
    with namespace() as ns:
        clock = delete_during_interval(monkeypatch, ns.name)
        args = ("status", "--netns", "all", "--watch", "--json", "--count", "2", "--interval", "0.05")
        code, out, err = invoke(*args)
        assert code == 0, err
        assert clock.deleted == 1
        frames = [json.loads(line) for line in out.splitlines()]
        assert len(frames) == 2
        for frame in frames:
            assert ns.name in [item["netns"] for item in frame["not_seen"]]
            assert "self" in [item["netns"] for item in frame["namespaces"]]
