"""Snapshot assembly when privileges or readers are missing: it still works and says so."""

from pathlib import Path

import pytest

from tcpq.errors import PermissionDenied
from tcpq.observe import snapshot as snap
from tcpq.observe.netns import NetnsRef
from tcpq.observe.processes import ProcessMap

OTHER = NetnsRef(
    inode=4026500000,
    path="/proc/1234/ns/net",
    name=None,
    pid=1234,
    comm="nginx",
    container="docker:abcdef",
    is_self=False,
)


def test_label_names_process_and_container() -> None:
    assert snap.netns_label(OTHER) == "pid 1234 (nginx) docker:abcdef"
    assert snap.netns_label(None) == "self"


def test_unprivileged_other_namespace_reads_proc_pid_net(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(ref: NetnsRef, fn: object) -> object:
        raise PermissionDenied("setns needs CAP_SYS_ADMIN")

    monkeypatch.setattr(snap, "run_in_netns", refuse)
    monkeypatch.setattr(snap, "proc_net_for", lambda ref: Path("/proc/self/net"))
    result = snap.take_snapshot(OTHER, ProcessMap())
    assert any("not privileged" in note for note in result.notes)
    assert result.sysctl == {}
    assert all(listener.drops is None for listener in result.listeners)
    assert "TcpActiveOpens" in result.counters


def test_netlink_refused_falls_back_to_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_netlink() -> object:
        raise PermissionDenied("sock_diag refused")

    monkeypatch.setattr(snap, "dump_tcp", no_netlink)
    result = snap.take_snapshot(None, ProcessMap())
    assert any("netlink inet_diag unavailable" in note for note in result.notes)
    # Sysctls still read, inside the namespace (this one): the value sysctl(8) shows.
    assert result.sysctl["net.core.somaxconn"] == int(Path("/proc/sys/net/core/somaxconn").read_text())
