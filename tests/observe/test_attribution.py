"""Attribution only for what a view shows: `holders()` (one pass, every holder), the snapshot's
Attribution (all, listeners, none) and what each host command asks for."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpq.cli import main
from tcpq.observe.holder_search import HolderSearch, socket_links
from tcpq.observe.netns import resolve_netns
from tcpq.observe.processes import ProcessMap, holders, unreadable_processes
from tcpq.observe.snapshot import Attribution, take_snapshot
from tcpq.types import Listener

from .nslab import leftover_namespaces, namespace
from .test_processes import DATA, MASTER, REDIS, WORKER, failing_readlink, set_fd

CANNED_INODES = [1001, 1002, 1003, 2001, 9999, 0]


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(DATA, root, symlinks=True)
    return root / "proc"


def fd_count(proc_root: Path) -> int:
    return sum(len(os.listdir(fd_dir)) for fd_dir in proc_root.glob("[0-9]*/fd"))


def test_holders_equal_the_cached_map_on_the_canned_tree() -> None:
    found = holders(CANNED_INODES, DATA / "proc")
    assert found.owners == ProcessMap(DATA / "proc").owners(CANNED_INODES)
    assert found.owners == {1001: [MASTER, WORKER], 1002: [MASTER], 1003: [WORKER], 2001: [REDIS]}
    assert found.unreadable == 0
    assert found.readlinks == fd_count(DATA / "proc")  # every fd of every process, once


def test_holders_of_nothing_read_nothing() -> None:
    assert holders([0], DATA / "proc").readlinks == 0


def test_holders_list_a_socket_once_per_process(proc: Path) -> None:
    set_fd(proc, 101, 9, "socket:[1001]")  # the worker holds the listener twice (dup)
    assert holders([1001], proc).owners == {1001: [MASTER, WORKER]}


def test_holders_survive_a_closed_fd_and_count_the_unreadable(
    proc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing_readlink(monkeypatch, lambda d, name: d.endswith("/100/fd") and name == "4", FileNotFoundError)
    failing_readlink(monkeypatch, lambda d, _name: d.endswith("/200/fd"), PermissionError)
    found = holders([1001, 1002, 2001], proc)
    assert found.owners == {1001: [MASTER, WORKER]}
    assert found.unreadable == 1
    assert unreadable_processes(proc) == 1


def test_unreadable_processes_agree_with_the_map(proc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_readlink(monkeypatch, lambda d, _name: d.endswith("/200/fd"), PermissionError)
    pmap = ProcessMap(proc)
    pmap.owners([1001])
    assert unreadable_processes(proc) == pmap.unreadable == holders([1001], proc).unreadable == 1


# -- on the real kernel, in a namespace (root) ----------------------------------------------

# A master, two forked workers and an unrelated process that received the listener over a unix
# socket (SCM_RIGHTS, as a systemd-activated or a handed-over service does), beside a client
# process holding many connections that are not listeners.
SHARED_LISTENER = """
import array, os, socket, time, ctypes
libc = ctypes.CDLL(None)
def die_with_parent():
    libc.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
listener = socket.socket()
listener.bind(("127.0.0.1", 7211))
listener.listen(64)
workers = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        die_with_parent(); time.sleep(60); os._exit(0)
    workers.append(pid)
ours, theirs = socket.socketpair(socket.AF_UNIX)
receiver = os.fork()
if receiver == 0:
    die_with_parent()
    listener.close()
    fds = array.array("i")
    _, ancillary, _, _ = ours.recvmsg(1, socket.CMSG_LEN(fds.itemsize))
    fds.frombytes(ancillary[0][2])
    time.sleep(60); os._exit(0)
theirs.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [listener.fileno()]))])
client = os.fork()
if client == 0:
    die_with_parent()
    listener.close()
    kept = [socket.create_connection(("127.0.0.1", 7211)) for _ in range(40)]
    time.sleep(60); os._exit(0)
time.sleep(0.5)
print("ready", " ".join(map(str, [*workers, receiver, client])), flush=True)
time.sleep(60)
"""


@contextmanager
def shared_listener() -> Iterator[tuple[str, int, list[int], int]]:
    """A namespace running SHARED_LISTENER: (its name, the master's pid, the pids of the
    listener's other holders, the client's pid); the children are killed afterwards, and the
    namespace must be gone."""
    try:
        with namespace() as ns:
            master = ns.python(SHARED_LISTENER, wait_for=None)
            assert master.stdout is not None
            ready, *pids = master.stdout.readline().split()
            assert ready == "ready", master.stderr.read() if master.stderr else ""
            worker1, worker2, receiver, client = map(int, pids)
            try:
                yield ns.name, master.pid, [worker1, worker2, receiver], client
            finally:
                for pid in (worker1, worker2, receiver, client):
                    # The master has not reaped them while it runs: these pids are still ours.
                    if master.poll() is None:
                        os.kill(pid, signal.SIGKILL)
    finally:
        assert leftover_namespaces() == []


def test_every_holder_of_a_listener_is_named_without_attributing_the_rest() -> None:
    with shared_listener() as (name, master, others, client):
        ref = resolve_netns(name)
        full = take_snapshot(ref, ProcessMap(), attribution=Attribution.ALL)
        shown = take_snapshot(ref, None, attribution=Attribution.LISTENERS)
        none = take_snapshot(ref, None, attribution=Attribution.NONE)
        with HolderSearch(shares=1) as started:  # as `status` starts it: before the rest
            early = take_snapshot(ref, None, attribution=Attribution.LISTENERS, search=started)

        def holders_of(listeners: list[Listener], port: int) -> list[int]:
            (mine,) = [lst for lst in listeners if lst.port == port]
            return [p.pid for p in mine.processes]

        expected = sorted([master, *others])
        assert holders_of(full.listeners, 7211) == expected
        assert holders_of(shown.listeners, 7211) == expected
        assert holders_of(early.listeners, 7211) == expected
        assert client in {row.pid for row in full.states_by_process}
        assert shown.states_by_process == [] and shown.states_without_process is None
        assert shown.states == full.states and shown.states_by_port == full.states_by_port
        assert holders_of(none.listeners, 7211) == []
        assert none.unreadable_processes == full.unreadable_processes

        status = CliRunner().invoke(main, ["status", "--netns", name, "--json", "--interval", "0"])
        assert status.exit_code == 0, status.stderr
        (listed,) = [lst for lst in json.loads(status.stdout)["listeners"] if lst["port"] == 7211]
        assert [p["pid"] for p in listed["processes"]] == expected
        states = CliRunner().invoke(main, ["states", "--netns", name, "--by", "process", "--json"])
        assert states.exit_code == 0, states.stderr
        groups = json.loads(states.stdout)["groups"]
        assert any(key.endswith(f"/{client}") for key in groups)  # every socket's owner


def test_status_of_one_namespace_names_every_holder_from_the_walk_it_starts_first() -> None:
    """`tcpq status --interval 0` of the namespace it runs in forks its fd walk before its own
    imports (cli_host): run as a user runs it, it still names every holder of the listener."""
    with shared_listener() as (name, master, others, _client):
        status = [sys.executable, "-m", "tcpq", "status", "--json", "--interval", "0"]
        done = subprocess.run(
            ["ip", "netns", "exec", name, *status], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        (listed,) = [lst for lst in json.loads(done.stdout)["listeners"] if lst["port"] == 7211]
        assert [p["pid"] for p in listed["processes"]] == sorted([master, *others])


def test_holders_on_this_host_find_a_listener_passed_to_a_child() -> None:
    """Outside any namespace too: this test's listener and the child it passes it to."""
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
            found = holders([inode])
            assert [ref.pid for ref in found.owners[inode]] == sorted([os.getpid(), child.pid])
            assert found.owners == ProcessMap().owners([inode])
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=10)


# -- the search on other CPUs (holder_search) -----------------------------------------------


def test_forked_search_answers_as_holders_does(proc: Path) -> None:
    set_fd(proc, 101, 9, "socket:[1001]")
    with HolderSearch(proc, shares=2) as search:
        assert search.holders(CANNED_INODES) == holders(CANNED_INODES, proc)


def test_forked_search_counts_the_unreadable_once(proc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_readlink(monkeypatch, lambda d, _name: d.endswith("/200/fd"), PermissionError)
    with HolderSearch(proc, shares=2) as search:  # the walkers inherit the failing readlink
        found = search.holders([1001, 2001])
    assert found == holders([1001, 2001], proc)
    assert found.unreadable == 1


def test_a_walker_that_dies_leaves_the_walk_to_the_caller(proc: Path) -> None:
    with HolderSearch(proc, shares=2) as search:
        walkers = walker_pids(search)
        os.kill(walkers[1], signal.SIGKILL)
        assert search.holders([1001]) == holders([1001], proc)
    assert still_there(walkers) == []


def test_forked_search_finds_a_listener_passed_to_a_child_and_leaves_no_process() -> None:
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
            with HolderSearch(shares=2) as search:
                walkers = walker_pids(search)
                found = search.holders([inode])
            assert [ref.pid for ref in found.owners[inode]] == sorted([os.getpid(), child.pid])
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=10)
    assert len(walkers) == 2 and still_there(walkers) == []


def walker_pids(search: HolderSearch) -> list[int]:
    return [walker.pid for walker in search._walkers]


def still_there(pids: list[int]) -> list[int]:
    """Processes among `pids` that exist, zombies included (a walker not reaped would be one)."""
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def test_walkers_split_fds_by_number_so_a_change_between_their_listings_loses_none(
    proc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each walker lists a process's fds at its own moment; pid 100 (fds 0 1 3 4) closes fd 1
    between the two listings. Split by place in the listing, fd 4 (socket 1002) moved to the
    half the first walker had already read; split by fd number, each socket is read once."""
    listdir = os.listdir
    # /proc lists fds in ascending order; the canned tree's file system does not.
    monkeypatch.setattr(os, "listdir", lambda path: sorted(listdir(path), key=lambda n: (len(n), n)))
    first, _, _ = socket_links(proc, 0, 2)
    set_fd(proc, 100, 1, None)
    second, _, _ = socket_links(proc, 1, 2)
    found = sorted(first.get(100, ("", "", []))[2] + second.get(100, ("", "", []))[2])
    assert found == ["socket:[1001]", "socket:[1002]"]
