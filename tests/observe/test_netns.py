"""Namespace discovery on a canned tree, labels, and (root) entering a real namespace."""

import os
import socket
import sys
import threading
from pathlib import Path

import pytest

from tcpq.errors import TcpqError
from tcpq.observe.netns import (
    UNKNOWN_INODE,
    NetnsRef,
    cgroup_label,
    current_netns,
    list_netns,
    list_netns_report,
    parse_cgroup,
    proc_net_for,
    resolve_netns,
    run_in_netns,
)
from tcpq.observe.processes import ProcessMap
from tcpq.observe.procfs import read_sysctls

from .nslab import leftover_namespaces, listener, namespace
from .test_processes import run_as_nobody

DATA = Path(__file__).parent / "data"
PROC = DATA / "proc"
RUN = DATA / "run" / "netns"
DOCKER_ID = "4f9a0c1e2b3d"


def inode(name: str) -> int:
    return os.stat(DATA / "nsfs" / name).st_ino


def test_canned_namespaces_are_found_labelled_and_ordered() -> None:
    refs, unreadable = list_netns_report(PROC, RUN)
    assert unreadable == 0
    host = NetnsRef(
        inode("net-host"), str(PROC / "100/ns/net"), None, 100, "nginx: master", "systemd:nginx.service", True
    )
    lonely = NetnsRef(inode("net-lonely"), str(RUN / "lonely"), "lonely", None, None, None, False)
    web = NetnsRef(
        inode("net-web"), str(RUN / "web"), "web", 200, "redis-server", f"docker:{DOCKER_ID}", False
    )
    assert refs == [host, lonely, web]
    assert list_netns(PROC, RUN) == refs
    assert current_netns(PROC, RUN) == refs[0]


def test_resolve() -> None:
    web = resolve_netns("web", PROC, RUN)
    assert web.name == "web" and web.pid == 200
    assert resolve_netns("200", PROC, RUN) == web  # a pid resolves to its namespace, named if it is
    assert resolve_netns("101", PROC, RUN).pid == 100  # labelled by the lowest pid in it
    assert resolve_netns("self", PROC, RUN).is_self
    for spec in ["nope", "999", "../etc", "", "a/b"]:
        with pytest.raises(TcpqError) as info:
            resolve_netns(spec, PROC, RUN)
        assert "\n" not in str(info.value)


def test_proc_net_for_checks_the_pid_still_belongs() -> None:
    refs = {ref.name: ref for ref in list_netns(PROC, RUN)}
    assert proc_net_for(refs["web"], PROC) == PROC / "200" / "net"
    assert proc_net_for(refs["lonely"], PROC) is None  # nobody in it: enter it instead
    moved = NetnsRef(refs["web"].inode, "", "web", 100, None, None, False)  # pid 100 is elsewhere
    assert proc_net_for(moved, PROC) is None


def test_unreadable_processes_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    real_stat = os.stat

    def stat(path: str | Path, *args: object, **kwargs: object) -> os.stat_result:
        if str(path).endswith("/200/ns/net"):
            raise PermissionError("simulated: another user's process")
        return real_stat(path)

    monkeypatch.setattr(os, "stat", stat)
    refs, unreadable = list_netns_report(PROC, RUN)
    assert unreadable == 1
    web = next(ref for ref in refs if ref.name == "web")
    assert web.pid is None  # still found through its name, without a process


def test_names_that_are_not_namespaces_are_ignored(tmp_path: Path) -> None:
    run = tmp_path / "netns"
    run.mkdir()
    (run / "stale").write_text("")  # `ip netns add` failed half-way: a plain file on /run
    refs = list_netns(Path("/proc"), run)
    assert all(ref.name != "stale" for ref in refs)
    assert list_netns(Path("/proc"), tmp_path / "absent")[0].is_self


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/", None),
        ("/init.scope", None),
        ("/system.slice/nginx.service", "systemd:nginx.service"),
        (f"/system.slice/docker-{DOCKER_ID}{'0' * 52}.scope", f"docker:{DOCKER_ID}"),
        (f"/docker/{DOCKER_ID}{'0' * 52}", f"docker:{DOCKER_ID}"),
        (f"/machine.slice/libpod-{DOCKER_ID}{'0' * 52}.scope/container", f"podman:{DOCKER_ID}"),
        (
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b_3c4d.slice/"
            f"cri-containerd-{DOCKER_ID}{'0' * 52}.scope",
            f"kubepods:pod1a2b-3c4d/containerd:{DOCKER_ID}",
        ),
        (
            f"/kubepods/besteffort/pod1a2b-3c4d/{DOCKER_ID}{'0' * 52}",
            f"kubepods:pod1a2b-3c4d/container:{DOCKER_ID}",
        ),
        ("/lxc.payload.web1", "lxc:web1"),
        ("/user.slice/user-1000.slice/session-3.scope", "systemd:session-3.scope"),
        ("/process_api/b4c8", "cgroup:/process_api/b4c8"),
    ],
)
def test_cgroup_labels(path: str, label: str | None) -> None:
    assert cgroup_label(path) == label


def test_cgroup_file_prefers_unified_then_systemd() -> None:
    v1 = "4:memory:/docker/x\n1:name=systemd:/system.slice/a.service\n0::/\n"
    assert parse_cgroup(v1) == "systemd:a.service"
    assert parse_cgroup("0::/system.slice/b.service\n1:name=systemd:/system.slice/a.service\n") == (
        "systemd:b.service"
    )
    assert parse_cgroup("garbage\n\n0::/\n") is None


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="setns() needs CAP_SYS_ADMIN (CI runs as root)")


@needs_root
def test_run_in_netns_propagates_errors_and_keeps_the_caller_in_place() -> None:
    me = current_netns()
    before = os.stat("/proc/thread-self/ns/net").st_ino

    def boom() -> None:
        raise KeyError("from fn")

    with pytest.raises(KeyError):
        run_in_netns(me, boom)
    assert run_in_netns(me, lambda: threading.current_thread().name).startswith("tcpq-netns")
    assert os.stat("/proc/thread-self/ns/net").st_ino == before


@needs_root
def test_run_in_netns_refuses_a_namespace_that_changed() -> None:
    me = current_netns()
    with pytest.raises(TcpqError, match="no longer exists"):
        run_in_netns(NetnsRef(me.inode + 1, me.path, None, me.pid, None, None, False), lambda: None)
    with pytest.raises(TcpqError, match="no longer exists"):
        run_in_netns(NetnsRef(me.inode, "/run/netns/tcpq-absent", "x", None, None, None, False), lambda: None)


SERVE_PORT = 7301


def test_inside_a_real_namespace() -> None:
    """Sysctls, /proc/thread-self/net and sockets inside run_in_netns are the namespace's."""
    host_somaxconn = read_sysctls(["net.core.somaxconn"])
    try:
        with namespace() as ns:
            ns.sysctl("net.core.somaxconn", "16")
            server = listener(ns, SERVE_PORT, 8, "close")
            ref = resolve_netns(ns.name)
            assert (ref.name, ref.pid, ref.is_self) == (ns.name, server.pid, False)
            assert ref.comm == Path(sys.executable).name[:15]
            assert resolve_netns(str(server.pid)) == ref
            assert ref in list_netns()

            def inside() -> tuple[object, ...]:
                sysctls = read_sysctls(["net.core.somaxconn", "net.ipv4.tcp_max_orphans"])
                thread_ns = os.stat("/proc/thread-self/ns/net").st_ino
                tcp = Path("/proc/thread-self/net/tcp").read_text()
                with socket.create_connection(("127.0.0.1", SERVE_PORT), timeout=5) as conn:
                    peer = conn.getpeername()[1]
                return sysctls, thread_ns, f":{SERVE_PORT:04X} " in tcp, peer

            sysctls, thread_ns, listed, peer = run_in_netns(ref, inside)
            # tcp_max_orphans is global (init_net only): absent inside a child namespace
            assert sysctls == {"net.core.somaxconn": 16}
            assert thread_ns == ref.inode and listed and peer == SERVE_PORT
            assert read_sysctls(["net.core.somaxconn"]) == host_somaxconn
            assert "net.ipv4.tcp_max_orphans" in read_sysctls(["net.ipv4.tcp_max_orphans"])
            assert os.stat("/proc/thread-self/ns/net").st_ino == current_netns().inode != ref.inode
    finally:
        assert leftover_namespaces() == []


UNPRIVILEGED_PROBE = """
import json, sys
from pathlib import Path
from tcpq.errors import PermissionDenied
from tcpq.observe.netns import list_netns_report, proc_net_for, resolve_netns, run_in_netns
from tcpq.observe.procfs import read_counters
refs, unreadable = list_netns_report()
out = {"unreadable": unreadable, "names": [r.name for r in refs], "self_first": refs[0].is_self}
named = resolve_netns(sys.argv[1])
out["named_pid"] = named.pid  # the listener is root's: nobody cannot tell which namespace it is in
try:
    run_in_netns(named, lambda: None)
    out["entered"] = True
except PermissionDenied as exc:
    out["entered"] = str(exc)
by_pid = resolve_netns(sys.argv[2])
out["by_pid"] = [by_pid.inode, by_pid.pid, by_pid.comm]
proc_net = proc_net_for(by_pid)
out["proc_net"] = str(proc_net)
out["counters"] = read_counters(proc_net)["TcpActiveOpens"] if proc_net else None
print(json.dumps(out))
"""


def test_unprivileged_discovery_and_entering() -> None:
    """What works without root: names, /proc/PID/net of other namespaces; not setns."""
    try:
        with namespace() as ns:
            server = listener(ns, SERVE_PORT, 8, "never")
            seen = run_as_nobody(UNPRIVILEGED_PROBE, ns.name, str(server.pid))
            assert seen["unreadable"] > 0 and seen["self_first"]
            assert ns.name in seen["names"]  # /run/netns names are world-readable
            assert seen["named_pid"] is None
            assert isinstance(seen["entered"], str) and "CAP_SYS_ADMIN" in seen["entered"]
            assert seen["by_pid"] == [UNKNOWN_INODE, server.pid, Path(sys.executable).name[:15]]
            # the namespace's own counters (only this test's traffic), not the caller's
            assert seen["proc_net"] == f"/proc/{server.pid}/net" and seen["counters"] == 0
    finally:
        assert leftover_namespaces() == []


def test_process_map_and_namespaces_agree_on_the_listener() -> None:
    try:
        with namespace() as ns:
            server = listener(ns, SERVE_PORT, 8, "never")
            ref = resolve_netns(ns.name)
            proc_net = proc_net_for(ref)
            assert proc_net is not None
            inode = next(
                int(fields[9])
                for fields in (line.split() for line in (proc_net / "tcp").read_text().splitlines()[1:])
                if fields[3] == "0A"
            )
            owners = ProcessMap().owners([inode])
            assert [r.pid for r in owners[inode]] == [server.pid]
    finally:
        assert leftover_namespaces() == []
