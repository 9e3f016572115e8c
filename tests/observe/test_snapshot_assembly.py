"""Snapshots built through the real reading and assembly code from canned /proc trees: what is
read, what is said about lines that could not be parsed, and the clock passed in."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpq.cli import main
from tcpq.errors import PermissionDenied
from tcpq.observe import snapshot as snap
from tcpq.observe.processes import ProcessMap, ProcessRef
from tcpq.observe.snapshot import Attribution, Instant, assemble, read_tree
from tcpq.types import Snapshot

DATA = Path(__file__).resolve().parent / "data"
# What `ss -tan` printed at the moment proc_net_tcp{,6} were read: the independent account.
SS_STATE_NAMES = {
    "LISTEN": "LISTEN",
    "ESTAB": "ESTABLISHED",
    "SYN-SENT": "SYN_SENT",
    "SYN-RECV": "SYN_RECV",
    "TIME-WAIT": "TIME_WAIT",
}
CUT_SOCKET_LINE = "   9: 0100007F:157D 0100007F:A9CC 01 0000"  # a read that raced the kernel
UNKNOWN_STATE_LINE = (
    "  10: 0100007F:157D 0100007F:A9CD 0E 00000000:00000000 00:00000000 00000000     0        0 0 1"
)


def ss_rows() -> list[list[str]]:
    return [line.split() for line in (DATA / "ss_tan.txt").read_text().splitlines()[1:] if line.strip()]


def canned_tree(root: Path) -> tuple[Path, Path]:
    """A namespace's /proc/net and /proc/sys, from the captured files."""
    net = root / "net"
    net.mkdir()
    shutil.copy(DATA / "proc_net_tcp", net / "tcp")
    shutil.copy(DATA / "proc_net_tcp6", net / "tcp6")
    for name in ("netstat", "snmp"):
        shutil.copy(DATA / "proc" / "net" / name, net / name)
    shutil.copytree(DATA / "proc" / "sys", root / "sys")
    return net, root / "sys"


def append(path: Path, *lines: str) -> None:
    with path.open("a", encoding="ascii") as handle:
        handle.writelines(line + "\n" for line in lines)


AT = Instant(10.0, 1_700_000_010.0)


def of_tree(net: Path, sys: Path | None, at: Instant = AT) -> Snapshot:
    readings = read_tree(net, sys, by_inode=True, netlink=False)
    return assemble(readings, netns="self", kernel_release="6.18.44", at=at, owners={})


def test_a_canned_tree_gives_what_ss_saw(tmp_path: Path) -> None:
    net, sys = canned_tree(tmp_path)
    result = of_tree(net, sys)
    rows = ss_rows()
    expected: dict[str, int] = {}
    for row in rows:
        name = SS_STATE_NAMES[row[0]]
        expected[name] = expected.get(name, 0) + 1
    assert result.states == expected
    assert result.sockets_total == len(rows)
    listening = {(int(row[3].rsplit(":", 1)[1]), int(row[1])) for row in rows if row[0] == "LISTEN"}
    assert {(lst.port, lst.accept_queue) for lst in result.listeners} == listening
    assert all(lst.drops is None and lst.drops_per_s is None for lst in result.listeners)  # /proc has none
    somaxconn = int((sys / "net" / "core" / "somaxconn").read_text())
    assert result.sysctl["net.core.somaxconn"] == somaxconn
    assert result.counters["TcpActiveOpens"] == 29  # the canned snmp's value (tests/observe/test_procfs.py)
    assert result.notes == []  # every line parsed: nothing to say


def test_the_clock_passed_in_times_the_sample(tmp_path: Path) -> None:
    net, sys = canned_tree(tmp_path)
    first = of_tree(net, sys, Instant(100.0, 5000.0))
    assert (first.monotonic_s, first.wall_s) == (100.0, 5000.0)
    second = assemble(
        read_tree(net, sys, by_inode=True, netlink=False),
        netns="self",
        kernel_release="6.18.44",
        at=Instant(102.5, 5002.5),
        owners={},
        previous=first,
    )
    assert snap.rates_between(first, second).interval_s == 2.5


def test_skipped_lines_reach_the_notes(tmp_path: Path) -> None:
    net, sys = canned_tree(tmp_path)
    clean = of_tree(net, sys)
    append(net / "tcp", CUT_SOCKET_LINE, UNKNOWN_STATE_LINE)
    append(net / "snmp", "Tcp: RtoAlgorithm RtoMin", "Udp: 1 2")  # a header and another group's values
    result = of_tree(net, sys)
    assert result.states == clean.states  # the sockets that parsed, no guess at the others
    assert result.counters == clean.counters
    socket_note, counter_note = result.notes
    assert socket_note.startswith(f"2 of {clean.sockets_total + 2} lines of {net}/tcp, tcp6")
    assert f"lines of {net}/netstat, snmp could not be parsed" in counter_note
    assert counter_note.startswith("2 of ")


def test_from_outside_no_sysctls_and_the_note_first(tmp_path: Path) -> None:
    net, _ = canned_tree(tmp_path)
    append(net / "tcp", CUT_SOCKET_LINE)
    readings = snap._read_from_outside(net, by_inode=False)
    assert readings.sysctl == {}
    assert readings.notes[0].startswith("not privileged to enter this namespace")
    assert readings.notes[1].startswith("1 of ")


def test_take_snapshot_shows_skipped_lines_in_status_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real shell (no netlink here: the /proc fallback) and `status --json` carry the note."""
    net, sys = canned_tree(tmp_path)
    append(net / "tcp", CUT_SOCKET_LINE)

    def no_netlink() -> object:
        raise PermissionDenied("sock_diag refused")

    monkeypatch.setattr(snap, "dump_tcp", no_netlink)
    monkeypatch.setattr(snap, "THREAD_NET", net)
    monkeypatch.setattr(snap, "PROC_SYS", sys)
    expected = f"1 of {len(ss_rows()) + 1} lines of {net}/tcp, tcp6 could not be parsed"
    taken = snap.take_snapshot(None, ProcessMap(), clock=lambda: Instant(7.0, 8.0))
    assert (taken.monotonic_s, taken.wall_s) == (7.0, 8.0)
    assert any(note.startswith(expected) for note in taken.notes)
    result = CliRunner().invoke(main, ["status", "--json"])
    assert result.exit_code == 0, result.output
    assert any(note.startswith(expected) for note in json.loads(result.stdout)["notes"])


def test_attribution_of_listeners_leaves_the_owner_views_empty(tmp_path: Path) -> None:
    net, sys = canned_tree(tmp_path)
    readings = read_tree(net, sys, by_inode=False, netlink=False)
    listener_inode = next(lst.inode for lst in of_tree(net, sys).listeners if lst.inode)
    owner = ProcessRef(pid=42, comm="server")
    shown = assemble(
        readings,
        netns="self",
        kernel_release="6.18.44",
        at=Instant(1.0, 1.0),
        owners={listener_inode: [owner]},
        attribution=Attribution.LISTENERS,
    )
    named = [lst for lst in shown.listeners if lst.processes]
    assert [(lst.inode, [p.pid for p in lst.processes]) for lst in named] == [(listener_inode, [42])]
    assert shown.states_by_process == [] and shown.close_wait == []
    assert shown.states_without_process is None
