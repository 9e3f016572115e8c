"""Socket inode → processes: canned /proc trees (cache, pid and fd reuse, races), then the real host."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tcpq.observe.processes import ProcessMap, ProcessRef, parse_stat, socket_inode

from .nslab import leftover_namespaces, namespace

DATA = Path(__file__).parent / "data"
MASTER = ProcessRef(100, "nginx: master")
WORKER = ProcessRef(101, "nginx: worker")
REDIS = ProcessRef(200, "redis-server")


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    """A private copy of the canned tree, free to mutate."""
    root = tmp_path / "data"
    shutil.copytree(DATA, root, symlinks=True)
    return root / "proc"


def set_fd(proc: Path, pid: int, fd: int, target: str | None) -> None:
    link = proc / str(pid) / "fd" / str(fd)
    link.unlink(missing_ok=True)
    if target is not None:
        link.symlink_to(target)


def restart(proc: Path, pid: int, start: int) -> None:
    """The pid now belongs to another process: same number, new start time (stat field 22)."""
    stat = proc / str(pid) / "stat"
    head, _, rest = stat.read_text().rpartition(")")
    fields = rest.split()
    fields[22 - 3] = str(start)
    stat.write_text(f"{head}) {' '.join(fields)}\n")


def test_owners_on_canned_tree() -> None:
    pmap = ProcessMap(DATA / "proc")
    owners = pmap.owners([1001, 1002, 1003, 2001, 9999, 0])
    assert owners == {1001: [MASTER, WORKER], 1002: [MASTER], 1003: [WORKER], 2001: [REDIS]}
    assert pmap.unreadable == 0  # 300 is exiting (no fd directory): gone, not unreadable


def test_second_call_reads_only_the_sockets_it_reports(tmp_path: Path, proc: Path) -> None:
    for fd in range(10, 210):  # a process with many files and two sockets
        set_fd(proc, 200, fd, f"/var/lib/redis/chunk{fd}")
    pmap = ProcessMap(proc)
    wanted = [1001, 2001]
    first = pmap.owners(wanted)
    first_cost = pmap.readlinks
    assert first_cost >= 200
    assert pmap.owners(wanted) == first
    assert pmap.readlinks - first_cost == 3  # 1001 in master and worker, 2001 in redis: re-checked
    set_fd(proc, 200, 300, "socket:[2002]")  # a new fd: read once, then cached
    before = pmap.readlinks
    assert pmap.owners([2002]) == {2002: [REDIS]}
    assert pmap.readlinks - before == 1  # the new fd, read once: that read is its check


def test_reused_pid_does_not_keep_old_sockets(proc: Path) -> None:
    pmap = ProcessMap(proc)
    assert pmap.owners([1001, 1002]) == {1001: [MASTER, WORKER], 1002: [MASTER]}
    restart(proc, 100, 9000)
    (proc / "100" / "comm").write_text("bash\n")
    stat = proc / "100" / "stat"
    stat.write_text(stat.read_text().replace("(nginx: master)", "(bash)"))
    set_fd(proc, 100, 3, "/dev/tty")
    set_fd(proc, 100, 4, None)
    assert pmap.owners([1001, 1002]) == {1001: [WORKER]}


def test_reused_pid_rereads_every_fd(proc: Path) -> None:
    pmap = ProcessMap(proc)
    pmap.owners([1001])
    before = pmap.readlinks
    restart(proc, 100, 9000)  # same fd numbers, but nothing cached for them can be trusted
    pmap.owners([1001])
    assert pmap.readlinks - before == 4 + 1  # master's four fds, the worker's 1001 re-checked


def test_reused_fd_number_is_never_a_stale_attribution(proc: Path) -> None:
    """The master hands its listener over and reuses fd 3 for a new socket between two calls."""
    pmap = ProcessMap(proc)
    assert pmap.owners([1001]) == {1001: [MASTER, WORKER]}
    set_fd(proc, 100, 3, "socket:[5555]")
    assert pmap.owners([1001, 5555]) == {1001: [WORKER], 5555: [MASTER]}


def test_socket_at_a_reused_fd_number_is_found(proc: Path) -> None:
    pmap = ProcessMap(proc)
    pmap.owners([2001, 1001])  # redis's fd 4 (a file) is now cached as not a socket
    set_fd(proc, 200, 4, "socket:[2002]")
    assert pmap.owners([2002]) == {2002: [REDIS]}


def test_unowned_inodes_do_not_force_a_full_reread_each_call(proc: Path) -> None:
    pmap = ProcessMap(proc)
    pmap.owners([1002, 777_777])  # 777777: held by nobody we can see
    before = pmap.readlinks
    assert pmap.owners([1002, 777_777]) == {1002: [MASTER]}
    assert pmap.readlinks - before == 1


def test_process_that_vanishes_mid_walk(proc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.rmtree(proc / "101")  # listed by readdir below, gone when opened
    real_listdir = os.listdir

    def listdir(path: str | int | Path) -> list[str]:
        names = real_listdir(path)
        return [*names, "101"] if path == proc else names

    monkeypatch.setattr(os, "listdir", listdir)
    (proc / "102").mkdir()  # a directory with nothing in it: its stat is gone
    assert ProcessMap(proc).owners([1001, 1003]) == {1001: [MASTER]}


def failing_readlink(
    monkeypatch: pytest.MonkeyPatch, when: Callable[[str, str], bool], exc: type[OSError]
) -> None:
    """os.readlink that fails for the fds `when(directory, name)` picks."""
    real = os.readlink

    def readlink(path: str, *, dir_fd: int | None = None) -> str:
        if dir_fd is not None and when(real(f"/proc/self/fd/{dir_fd}"), path):
            raise exc(f"simulated {exc.__name__}")
        return real(path, dir_fd=dir_fd)

    monkeypatch.setattr(os, "readlink", readlink)


def test_fd_closed_between_readdir_and_readlink(proc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_readlink(monkeypatch, lambda d, name: d.endswith("/100/fd") and name == "4", FileNotFoundError)
    pmap = ProcessMap(proc)
    assert pmap.owners([1001, 1002]) == {1001: [MASTER, WORKER]}
    assert pmap.unreadable == 0


def test_unreadable_process_is_counted(proc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_readlink(monkeypatch, lambda d, name: d.endswith("/200/fd"), PermissionError)
    pmap = ProcessMap(proc)
    assert pmap.owners([1001, 2001]) == {1001: [MASTER, WORKER]}
    assert pmap.unreadable == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42 (a b) c) S 1 " + "0 " * 17 + "777 0", ("a b) c", 777)),
        ("42 (x) S 1 2", None),
        ("42 x S", None),
        ("", None),
    ],
)
def test_parse_stat(text: str, expected: tuple[str, int] | None) -> None:
    assert parse_stat(text) == expected


def test_socket_inode() -> None:
    assert socket_inode("socket:[12345]") == 12345
    assert socket_inode("socket:[]") is None
    assert socket_inode("pipe:[12345]") is None
    assert socket_inode("/tmp/socket:[1]") is None


def test_real_shared_socket_lists_each_holder() -> None:
    """A listener this test holds and a child inherits: both processes are named."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        inode = os.fstat(sock.fileno()).st_ino
        child = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.read()"],
            stdin=subprocess.PIPE,
            pass_fds=[sock.fileno()],
        )
        try:
            pmap = ProcessMap()
            owners = pmap.owners([inode])[inode]
            assert [ref.pid for ref in owners] == sorted([os.getpid(), child.pid])
            assert all(ref.comm for ref in owners)
            assert [ref.pid for ref in pmap.owners([inode])[inode]] == sorted([os.getpid(), child.pid])
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=10)


AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
SRC = Path(__file__).resolve().parents[2] / "src"


def run_as_nobody(code: str, *args: str) -> Any:
    """Run `code` as user nobody (tcpq importable from this tree); its stdout is JSON."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root (to drop to nobody) and setpriv")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(SRC)}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        cmd = [*AS_NOBODY, sys.executable, *argv]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, cwd="/")

    probe = run("-c", "import tcpq.observe")
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run {sys.executable} with tcpq importable: {probe.stderr[-200:]}")
    result = run("-c", code, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


UNPRIVILEGED_PROBE = """
import json, os, socket
from tcpq.observe.processes import ProcessMap
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
inode = os.fstat(s.fileno()).st_ino
pmap = ProcessMap()
owners = pmap.owners([inode, {other}])
print(json.dumps({{"mine": [r.pid for r in owners.get(inode, [])], "pid": os.getpid(),
                  "other": {other} in owners, "unreadable": pmap.unreadable}}))
"""


def test_unprivileged_sees_own_processes_and_counts_the_rest() -> None:
    with socket.socket() as root_sock:  # a root-owned socket nobody may not attribute
        root_sock.bind(("127.0.0.1", 0))
        other = os.fstat(root_sock.fileno()).st_ino
        seen = run_as_nobody(UNPRIVILEGED_PROBE.format(other=other))
        assert seen["mine"] == [seen["pid"]]
        assert seen["other"] is False
        assert seen["unreadable"] > 0


LISTENER_WITH_WORKER = """
import os, socket, time
s = socket.socket()
s.bind(("127.0.0.1", 7201))
s.listen(16)
pid = os.fork()
if pid == 0:
    import ctypes
    ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL: the worker dies with the master
    time.sleep(30)
    os._exit(0)
print("ready", pid, flush=True)
time.sleep(30)
os.kill(pid, 9)
"""


def listener_inode(proc_net_tcp: Path, port: int) -> int:
    for line in proc_net_tcp.read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # 0A: TCP_LISTEN
            return int(fields[9])
    raise AssertionError(f"no listener on port {port}")


def test_listener_in_a_namespace_is_attributed_to_master_and_worker() -> None:
    try:
        with namespace() as ns:
            master = ns.python(LISTENER_WITH_WORKER, wait_for=None)
            assert master.stdout is not None
            ready, worker = master.stdout.readline().split()
            assert ready == "ready"
            try:
                inode = listener_inode(Path(f"/proc/{master.pid}/net/tcp"), 7201)
                ss = ns.sh("ss", "-ltne", "sport", "= :7201").stdout
                assert f"ino:{inode} " in ss
                owners = ProcessMap().owners([inode])
                assert [ref.pid for ref in owners[inode]] == [master.pid, int(worker)]
                assert {ref.comm for ref in owners[inode]} == {Path(sys.executable).name[:15]}
            finally:
                # While the master runs, the worker's pid cannot be reused (the master never reaps
                # it), so this kills our worker and nothing else.
                if master.poll() is None:
                    os.kill(int(worker), signal.SIGKILL)
    finally:
        assert leftover_namespaces() == []
