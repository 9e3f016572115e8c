"""`holders()` on a second CPU, started before the caller knows which sockets it wants.

A one-sample command spends most of its time in two independent walks: the socket dump (Python
parsing netlink messages) and the fd walk (a readlink per fd of every process, almost all of
it kernel time). A thread would not overlap them: each readlink would wait for the dumping
thread to give up the GIL. So a forked child walks /proc while the caller dumps sockets, keeps
every socket link per process, then answers for the inodes the caller sends: the same
`Holders` as `holders()`, every holder of each socket, in about the time of the longer walk.

The children only read /proc and write one JSON reply down a pipe; whatever goes wrong there
(fork refused, a child killed, a reply that does not parse) falls back to `holders()` in the
caller. It is used only where it can help and is safe to fork: more than one CPU and a
single thread (a scrape thread of `tcpq export` searches in-process).
"""

import json
import os
import signal
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tcpq.observe.processes import (
    SOCKET_PREFIX,
    STOPPED_STATES,
    Holders,
    ProcessRef,
    _opened_dir,
    _pids,
    _read_stat,
    holders,
)
from tcpq.observe.runtime import detect_runtime
from tcpq.types import Runtime

READ_CHUNK = 1 << 16
MAX_WALKERS = 4  # beyond a few, the walkers' duplicated directory listings outweigh the split

# pid → (comm, state letter, the link texts of its socket fds)
Links = dict[int, tuple[str, str, list[str]]]


def can_fork_search() -> bool:
    """A second CPU to walk on, and no other thread whose locks a fork could copy held."""
    return len(os.sched_getaffinity(0)) > 1 and threading.active_count() == 1


def socket_links(proc_root: Path, share: int = 0, shares: int = 1) -> tuple[Links, int, int]:
    """The socket fds of every process as link texts; (links, processes unreadable, readlinks).

    With `shares` walkers, this one reads the fds of each process whose number is `share`
    modulo `shares`, so a process holding most of the host's sockets is split too. Only share 0
    counts the unreadable: it opens each process's fd directory, where holders() would meet
    the refusal.
    """
    links: Links = {}
    unreadable = readlinks = 0
    for pid in _pids(proc_root):
        try:
            with _opened_dir(proc_root / str(pid)) as pid_fd:
                with _opened_dir("fd", dir_fd=pid_fd) as fd_dir:
                    names = os.listdir(fd_dir)
                    if shares > 1:
                        # Split by fd number, not by place in the listing: each walker lists at
                        # its own moment, and one fd opened or closed in between shifted every
                        # later fd to the other walker's half, so a socket could fall in neither.
                        names = [name for name in names if int(name) % shares == share]
                    found = _socket_fds(fd_dir, names)
                    readlinks += len(names)
                if not found:
                    continue
                stat = _read_stat(pid_fd)  # through the same directory fd: the same process
                if stat is not None:
                    links[pid] = (stat[0], stat[2], found)
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited while being read: it holds nothing any more
        except PermissionError:
            # Another user's process when unprivileged: counted once, as holders() does.
            unreadable += share == 0
    return links, unreadable, readlinks


def _socket_fds(fd_dir: int, names: list[str]) -> list[str]:
    found: list[str] = []
    readlink = os.readlink
    for name in names:  # hot loop: one per fd on the host
        try:
            target = readlink(name, dir_fd=fd_dir)
        except FileNotFoundError:
            continue  # closed between readdir and readlink
        if target.startswith(SOCKET_PREFIX):
            found.append(target)
    return found


def match(links: Links, inodes: Collection[int], proc_root: Path) -> dict[int, list[ProcessRef]]:
    """The `holders()` answer for `inodes` from the links a walk kept."""
    wanted = {f"{SOCKET_PREFIX}{inode}]": inode for inode in inodes if inode}
    found: dict[int, list[ProcessRef]] = {}
    for pid in sorted(links):
        comm, state, targets = links[pid]
        matched = {wanted[target] for target in targets if target in wanted}
        if not matched:
            continue
        ref = ProcessRef(pid, comm, detect_runtime(proc_root / str(pid), comm), state in STOPPED_STATES)
        for inode in sorted(matched):
            found.setdefault(inode, []).append(ref)
    return dict(sorted(found.items()))


@dataclass
class _Walker:
    pid: int
    ask: int  # write end: the inodes wanted, then EOF
    answer: int  # read end: the JSON reply


class HolderSearch:
    """Walks of /proc running in child processes; `holders(inodes)` collects their answers.

    One walker per CPU beside the caller's (at most MAX_WALKERS), each reading the fds of each
    process whose number falls in its share, so a process that holds nearly every socket is split too.
    On two CPUs that is one walker: measured at 100k sockets, a second one only competed with
    the socket dump for the CPUs (docs/benchmarks.md).
    """

    def __init__(self, proc_root: Path = Path("/proc"), shares: int | None = None) -> None:
        self._root = proc_root
        self._walkers: list[_Walker] = []
        if shares is None:
            shares = max(1, min(MAX_WALKERS, len(os.sched_getaffinity(0)) - 1))
        for share in range(shares):
            others = [fd for started in self._walkers for fd in (started.ask, started.answer)]
            walker = _start(proc_root, share, shares, others)
            if walker is None:
                self.close()  # out of descriptors or processes: holders() in-process instead
                return
            self._walkers.append(walker)

    def holders(self, inodes: Collection[int]) -> Holders:
        """Every holder of `inodes`, from the walkers (or a walk here if one failed)."""
        wanted = json.dumps(sorted(set(inodes))).encode()
        replies = [_exchange(walker, wanted) for walker in self._walkers]
        if not replies or any(reply is None for reply in replies):
            return holders(inodes, self._root)
        owners: dict[int, dict[int, ProcessRef]] = {}
        unreadable = readlinks = 0
        # The walkers hold copies of every fd of the caller (fork): they are not holders.
        ours = {walker.pid for walker in self._walkers}
        for reply in replies:
            assert reply is not None
            for inode, refs in reply.owners.items():
                for ref in refs:
                    if ref.pid not in ours:
                        owners.setdefault(inode, {}).setdefault(ref.pid, ref)  # found by both: once
            unreadable += reply.unreadable
            readlinks += reply.readlinks
        merged = {
            inode: [refs[pid] for pid in sorted(refs)] for inode, refs in sorted(owners.items()) if refs
        }
        return Holders(merged, unreadable, readlinks)

    def close(self) -> None:
        for walker in self._walkers:
            for fd in (walker.ask, walker.answer):
                if fd >= 0:  # not closed by the exchange already
                    os.close(fd)
            walker.ask = walker.answer = -1
            # Done already, or no longer wanted (Ctrl-C); an exited, unreaped child is no error.
            with suppress(ProcessLookupError):
                os.kill(walker.pid, signal.SIGKILL)
            os.waitpid(walker.pid, 0)
        self._walkers = []

    def __enter__(self) -> "HolderSearch":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _start(proc_root: Path, share: int, shares: int, inherited: list[int]) -> _Walker | None:
    """Fork one walker; `inherited`: the caller's ends of walkers started before, which the
    new child must close (a copy of another walker's write end would hold off its EOF)."""
    try:
        ask_read, ask_write = os.pipe()
    except OSError:
        return None
    try:
        answer_read, answer_write = os.pipe()
    except OSError:
        os.close(ask_read)
        os.close(ask_write)
        return None
    try:
        pid = os.fork()
    except OSError:
        for fd in (ask_read, ask_write, answer_read, answer_write):
            os.close(fd)
        return None
    if pid == 0:
        # The child keeps only its ends: its copy of the write end would hold off the EOF.
        for fd in (ask_write, answer_read, *inherited):
            os.close(fd)
        _child(proc_root, share, shares, ask_read, answer_write)  # never returns
    os.close(ask_read)
    os.close(answer_write)
    return _Walker(pid, ask_write, answer_read)


def _exchange(walker: _Walker, wanted: bytes) -> Holders | None:
    try:
        data = wanted
        while data:  # the walker reads only after its walk: this blocks until then
            data = data[os.write(walker.ask, data) :]
        os.close(walker.ask)
        walker.ask = -1
        data = _read_all(walker.answer)
        os.close(walker.answer)
        walker.answer = -1
        reply = json.loads(data)
        owners = {
            int(inode): [
                ProcessRef(pid, comm, Runtime(rt) if rt else None, stopped) for pid, comm, rt, stopped in refs
            ]
            for inode, refs in reply["owners"]
        }
        return Holders(owners, reply["unreadable"], reply["readlinks"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # the walker died or answered nonsense: the caller walks itself


@contextmanager
def holder_search(proc_root: Path = Path("/proc")) -> Iterator[HolderSearch | None]:
    """A HolderSearch where forking one helps (can_fork_search), else None."""
    if not can_fork_search():
        yield None
        return
    with HolderSearch(proc_root) as search:
        yield search


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, READ_CHUNK):
        chunks.append(chunk)
    return b"".join(chunks)


def _child(proc_root: Path, share: int, shares: int, ask: int, answer: int) -> None:
    """In the forked child: walk, wait for the inodes, answer, exit without Python's teardown."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends the child too, quietly
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        links, unreadable, readlinks = socket_links(proc_root, share, shares)
        inodes = json.loads(_read_all(ask))
        owners = match(links, inodes, proc_root)
        reply = {
            "owners": [
                [inode, [[r.pid, r.comm, r.runtime.value if r.runtime else None, r.stopped] for r in refs]]
                for inode, refs in owners.items()
            ],
            "unreadable": unreadable,
            "readlinks": readlinks,
        }
        data = json.dumps(reply).encode()
        while data:
            data = data[os.write(answer, data) :]
        code = 0
    finally:
        os._exit(code)  # never run the parent's cleanup (atexit, finally blocks up the stack)
