"""Counters and sysctls: canned /proc text, fuzzing, and (root) a namespace checked against nstat."""

import os
import socket
import string
import subprocess
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tcpq.observe.netns import proc_net_for, resolve_netns, run_in_netns
from tcpq.observe.procfs import (
    parse_snmp_pairs,
    parse_sysctl_value,
    read_counters,
    read_sysctls,
    sysctl_path,
)
from tcpq.observe.sockets import ParseStats

from .nslab import leftover_namespaces, listener, namespace, settle

DATA = Path(__file__).parent / "data"
PROC_NET = DATA / "proc" / "net"
PROC_SYS = DATA / "proc" / "sys"


def test_canned_counters_use_nstat_names() -> None:
    stats = ParseStats()
    counters = read_counters(PROC_NET, stats=stats)
    assert stats.skipped == 0 and stats.lines == sum(
        len((PROC_NET / name).read_text().splitlines()) for name in ("netstat", "snmp")
    )
    assert counters["TcpExtListenOverflows"] == 0
    assert counters["TcpActiveOpens"] == 29
    assert counters["TcpExtTW"] == 10
    assert counters["IpExtInOctets"] == 53912184
    assert counters["IcmpMsgInType3"] == 1
    assert counters["MPTcpExtMPCapableSYNRX"] == 0
    assert counters["TcpMaxConn"] == -1  # a constant, not a counter: kept as the kernel prints it


def test_a_missing_counter_file_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "snmp").write_text((PROC_NET / "snmp").read_text())
    counters = read_counters(tmp_path)
    assert counters["TcpActiveOpens"] == 29 and "TcpExtTW" not in counters
    assert read_counters(tmp_path / "absent") == {}


def test_pairs_need_matching_group_and_length() -> None:
    text = (
        "Tcp: A B\nTcp: 1 2\n"  # good
        "Udp: A B\nUdp: 1\n"  # a value missing
        "Ip: A\nIcmp: 5\n"  # value line of another group
        "IpExt: X Y\nIpExt: 1 x\n"  # garbage value
        "Huge: N M\nHuge: 18446744073709551615 -1\n"  # kept exactly
        "Cut: A B\nCut: 1 23"  # no newline: maybe cut short
    )
    stats = ParseStats()
    assert parse_snmp_pairs(text, stats=stats) == {"TcpA": 1, "TcpB": 2, "HugeN": 2**64 - 1, "HugeM": -1}
    # Of the 12 lines, the two good pairs are used: the other 8 are counted as skipped.
    assert stats == ParseStats(lines=12, skipped=8)


def test_the_running_kernels_counter_files_parse_whole() -> None:
    """Every line of this kernel's netstat and snmp is understood, so a healthy host's snapshot
    carries no note about skipped lines."""
    stats = ParseStats()
    counters = read_counters(Path("/proc/net"), stats=stats)
    assert stats.lines > 0 and stats.skipped == 0
    assert len(counters) > stats.lines  # each pair of lines gives several counters


def test_python_int_syntax_is_not_a_value() -> None:
    assert parse_snmp_pairs("Tcp: A B C\nTcp: 1_0 +5 ٣\n") == {}


def nstat_names(pairs: list[tuple[str, list[tuple[str, int]]]]) -> set[str]:
    """Group + field; "Tcp"+"ExtA" and "TcpExt"+"A" would collide, so generated text avoids that."""
    return {group + name for group, fields in pairs for name, _ in fields}


NAMES = st.text(alphabet=string.ascii_letters, min_size=1, max_size=10)
VALUES = st.integers(-(2**70), 2**70)  # beyond u64: kept exactly
PAIRS = st.lists(
    st.tuples(
        NAMES,
        st.lists(st.tuples(NAMES, VALUES), min_size=1, max_size=8, unique_by=lambda field: field[0]),
    ),
    max_size=6,
    unique_by=lambda pair: pair[0],
).filter(lambda pairs: len(nstat_names(pairs)) == sum(len(fields) for _, fields in pairs))


def render(pairs: list[tuple[str, list[tuple[str, int]]]]) -> str:
    lines = []
    for group, fields in pairs:
        lines.append(f"{group}: " + " ".join(name for name, _ in fields))
        lines.append(f"{group}: " + " ".join(str(value) for _, value in fields))
    return "".join(line + "\n" for line in lines)


@given(PAIRS)
def test_well_formed_text_round_trips(pairs: list[tuple[str, list[tuple[str, int]]]]) -> None:
    expected = {group + name: value for group, fields in pairs for name, value in fields}
    assert parse_snmp_pairs(render(pairs)) == expected


@given(PAIRS, st.data())
def test_truncated_text_never_gives_a_wrong_value(
    pairs: list[tuple[str, list[tuple[str, int]]]], data: st.DataObject
) -> None:
    text = render(pairs)
    cut = data.draw(st.integers(0, len(text)))
    full = parse_snmp_pairs(text)
    partial = parse_snmp_pairs(text[:cut])
    assert partial.items() <= full.items()


@given(PAIRS, st.data())
def test_shuffled_or_dropped_lines_never_give_a_wrong_value(
    pairs: list[tuple[str, list[tuple[str, int]]]], data: st.DataObject
) -> None:
    lines = render(pairs).splitlines(keepends=True)
    kept = data.draw(st.permutations(lines))[: data.draw(st.integers(0, len(lines)))]
    assert parse_snmp_pairs("".join(kept)).items() <= parse_snmp_pairs("".join(lines)).items()


@given(st.text())
def test_any_text_parses_without_raising(text: str) -> None:
    stats = ParseStats()
    counters = parse_snmp_pairs(text, stats=stats)
    used = stats.lines - stats.skipped  # header and value lines, in pairs
    assert used >= 0 and used % 2 == 0
    assert bool(counters) == (used > 0)
    assert all(str(abs(value)) in text for value in counters.values())  # read, never made up


@given(st.text(alphabet=st.sampled_from("Tcp: 0123456789-AB\n\t")))
def test_near_miss_text_parses_without_raising(text: str) -> None:
    parse_snmp_pairs(text)


def test_canned_sysctls() -> None:
    names = [
        "net.core.somaxconn",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_rmem",  # three numbers: not a value tcpq reasons about
        "net.ipv4.tcp_congestion_control",  # a word
        "net.ipv4.tcp_max_orphans",  # absent (as inside a child namespace)
        "net.ipv4.conf.eth0/1.rp_filter",  # sysctl(8) spelling of the interface eth0.1
        "net.ipv4",  # a directory
        "net.core.somaxconn.x",  # through a file
    ]
    assert read_sysctls(names, PROC_SYS) == {
        "net.core.somaxconn": 4096,
        "net.ipv4.ip_local_port_range": (32768, 60999),
        "net.ipv4.conf.eth0/1.rp_filter": 2,
    }


def test_sysctl_names_cannot_leave_the_root() -> None:
    for name in ["..", "net...x", "", ".net", "net.", "net.//..", "/etc.passwd"]:
        path = sysctl_path(name, PROC_SYS)
        assert path is None or PROC_SYS in path.parents, name


def test_sysctl_values() -> None:
    assert parse_sysctl_value("-1\n") == -1
    assert parse_sysctl_value("1024\t65535\n") == (1024, 65535)
    assert parse_sysctl_value("") is None
    assert parse_sysctl_value("1 2 3") is None
    assert parse_sysctl_value("reno cubic") is None


def test_unreadable_sysctls_are_left_out() -> None:
    # Mode 0200 even for root: reading it fails with EACCES.
    assert read_sysctls(["net.ipv4.route.flush", "net.core.somaxconn"]).keys() <= {"net.core.somaxconn"}


def nstat(ns_name: str, history: Path) -> dict[str, int]:
    out = subprocess.run(
        ["ip", "netns", "exec", ns_name, "nstat", "-asz"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
        env={**os.environ, "NSTAT_HISTORY": str(history)},
    ).stdout
    rows = (line.split() for line in out.splitlines() if line and not line.startswith("#"))
    return {row[0]: int(row[1]) for row in rows if len(row) >= 2}


SNMP6_GROUPS = ("Ip6", "Icmp6", "Udp6", "UdpLite6")  # nstat also reads /proc/net/snmp6


def test_namespace_counters_agree_with_nstat(tmp_path: Path) -> None:
    """Counters of an idle namespace, read without entering it and from inside, equal nstat's."""
    try:
        with namespace() as ns:
            port = 7101
            server = listener(ns, port, 128, "close")
            ref = resolve_netns(ns.name)
            proc_net = proc_net_for(ref)
            assert proc_net == Path(f"/proc/{server.pid}/net")

            def connect_three() -> dict[str, int]:
                for _ in range(3):
                    with socket.create_connection(("127.0.0.1", port), timeout=5):
                        pass
                return read_counters(Path("/proc/thread-self/net"))

            run_in_netns(ref, connect_three)
            settle(0.5)  # let the FIN exchange and delayed ACKs finish: the namespace is idle after
            for _attempt in range(3):  # bounded: an idle namespace's counters do not move
                before = read_counters(proc_net)
                theirs = nstat(ns.name, tmp_path / "nstat.history")
                inside = run_in_netns(ref, lambda: read_counters(Path("/proc/thread-self/net")))
                after = read_counters(proc_net)
                if before == after == inside:
                    break
                time.sleep(0.2)
            assert before == after == inside
            assert after["TcpActiveOpens"] == 3 and after["TcpPassiveOpens"] == 3
            comparable = {name for name in theirs if not name.startswith(SNMP6_GROUPS)}
            assert comparable <= after.keys()
            assert {name: after[name] for name in comparable} == {name: theirs[name] for name in comparable}
    finally:
        assert leftover_namespaces() == []
