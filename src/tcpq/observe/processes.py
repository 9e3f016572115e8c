"""Which processes own a socket: socket inode → processes, from /proc/PID/fd, cached between calls.

`ss -p` readlinks every fd of every process on each run. Sampling does the same work again and
again, so `ProcessMap` keeps, per process incarnation (pid + start time, /proc/PID/stat field
22), what each fd number pointed to, and on the next call:

1. lists /proc and each /proc/PID/fd (readdir is cheap) and readlinks only fd numbers it has not
   seen, forgetting fds that are gone and processes that exited or whose pid was reused;
2. re-reads the fds it is about to report: an fd number can be closed and reused between calls
   (an acceptor passing connections to workers does this all the time), and a cached entry must
   never name a process that no longer holds the socket;
3. only when a requested inode is still unattributed re-reads every cached fd (a reused fd
   number may now hold it), and remembers the inodes still unattributed then (sockets of
   processes it may not read, orphans), so that they do not trigger a re-read on every call.
   (A second holder that received an already attributed socket at a reused fd number is thus
   listed only from the next re-read on: a socket may be listed incomplete, never wrong.)

Every attribution reported was therefore confirmed by a readlink during the same call, made
through a directory fd of /proc/PID, which stays bound to that process even if the pid is
reused meanwhile. On a quiet host a call costs a readdir per process and one readlink per
requested socket; on a busy server, where new connections land on reused fd numbers, the fallback
makes it cost about what `ss -p` pays. `readlinks` counts the work, for tests and benchmarks.

A command that samples once has nothing to cache: `holders()` is the same attribution in one
pass that keeps nothing but the matches. It still reads every fd of every process, because
the kernel keeps no socket → process index: a listener can reach any process (fork, SCM_RIGHTS,
systemd socket activation into another namespace), and every holder is listed.
"""

import os
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tcpq.observe.runtime import detect_runtime
from tcpq.records import frozen
from tcpq.types import Runtime

SOCKET_PREFIX = "socket:["  # how /proc/PID/fd shows a socket: "socket:[INODE]" (fs/proc/fd.c)
STAT_STARTTIME_FIELD = 22  # proc_pid_stat(5): start time in clock ticks since boot
STOPPED_STATES = frozenset("Tt")  # proc_pid_stat(5) field 3: stopped by a signal / by a tracer
UNOWNED_TTL_CALLS = 256  # an inode not asked about for this many calls is forgotten
UNOWNED_PRUNE_EVERY = 64


@frozen(slots=True)
class ProcessRef:
    """A process that holds a socket: its pid and its name as the kernel knows it (comm)."""

    pid: int
    comm: str
    runtime: Runtime | None = None
    stopped: bool = False


@dataclass(slots=True)
class _Process:
    """What the cache knows about one process incarnation."""

    start: int
    comm: str
    state: str = ""
    runtime: Runtime | None = None
    runtime_known: bool = False  # detected once per incarnation, again when comm changes
    sockets: dict[str, int] = field(default_factory=dict)  # fd (its name in /proc/PID/fd) → inode
    others: set[str] = field(default_factory=set)  # fds that are not sockets


def parse_stat(text: str) -> tuple[str, int] | None:
    """/proc/PID/stat → (comm, start time); None if malformed. comm may hold spaces and ")", so the
    fields after it are counted from the last ")"."""
    open_paren, close_paren = text.find("("), text.rfind(")")
    if open_paren < 0 or close_paren < open_paren:
        return None
    rest = text[close_paren + 1 :].split()
    index = STAT_STARTTIME_FIELD - 3  # fields 1 (pid) and 2 (comm) come before `rest`
    if len(rest) <= index or not rest[index].isdigit():
        return None
    return text[open_paren + 1 : close_paren], int(rest[index])


def socket_inode(target: str) -> int | None:
    """The inode in a "socket:[12345]" fd target; None for any other target."""
    if target.startswith(SOCKET_PREFIX) and target.endswith("]"):
        digits = target[len(SOCKET_PREFIX) : -1]
        if digits.isascii() and digits.isdigit():
            return int(digits)
    return None


def _pids(proc_root: Path) -> list[int]:
    return sorted(int(name) for name in os.listdir(proc_root) if name.isdigit())


@contextmanager
def _opened_dir(path: str | Path, dir_fd: int | None = None) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        yield fd
    finally:
        os.close(fd)


def parse_state(text: str) -> str:
    """/proc/PID/stat → the state letter (R, S, D, T ...), "" if malformed."""
    rest = text[text.rfind(")") + 1 :].split()
    return rest[0] if rest else ""


def _read_stat(pid_fd: int) -> tuple[str, int, str] | None:
    fd = os.open("stat", os.O_RDONLY | os.O_CLOEXEC, dir_fd=pid_fd)
    try:
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    text = data.decode("utf-8", errors="replace")
    parsed = parse_stat(text)
    return None if parsed is None else (*parsed, parse_state(text))


@frozen
class Holders:
    """What `holders()` found: socket inode → the processes holding it, by pid."""

    owners: dict[int, list[ProcessRef]]
    unreadable: int  # processes whose fds could not be read (EACCES when unprivileged)
    readlinks: int


def holders(inodes: Collection[int], proc_root: Path = Path("/proc")) -> Holders:
    """Every process that holds one of `inodes` (0 is never held), each listed once per socket.

    One readlink per fd of every process and nothing kept but the matches: the socket set is
    looked up by the link text ("socket:[INODE]"), so an fd costs a readlink and a set probe.
    A process's name and state are read only when it holds a match, through the same
    /proc/PID directory fd as its fds, so they describe the process whose fds were read.
    """
    wanted = {f"{SOCKET_PREFIX}{inode}]": inode for inode in inodes if inode}
    found: dict[int, list[ProcessRef]] = {}
    unreadable = readlinks = 0
    if not wanted:
        return Holders(found, unreadable, readlinks)
    for pid in _pids(proc_root):
        try:
            with _opened_dir(proc_root / str(pid)) as pid_fd:
                matched, count = _matching_fds(pid_fd, wanted)
                readlinks += count
                if not matched:
                    continue
                stat = _read_stat(pid_fd)
                if stat is None:
                    continue
                comm, _start, state = stat
        except (FileNotFoundError, ProcessLookupError):
            # The process exited while being read: it holds nothing any more.
            continue
        except PermissionError:
            # Another user's process when unprivileged (or one we may not ptrace): counted, skipped.
            unreadable += 1
            continue
        ref = ProcessRef(pid, comm, detect_runtime(proc_root / str(pid), comm), state in STOPPED_STATES)
        for inode in sorted(matched):
            found.setdefault(inode, []).append(ref)
    return Holders(dict(sorted(found.items())), unreadable, readlinks)


def unreadable_processes(proc_root: Path = Path("/proc")) -> int:
    """Processes whose fds could not be read, counted as `holders()` counts them, from one fd
    each: the views that name no owner still say how many processes a view of owners would
    miss. Whether /proc/PID/fd/N may be read is decided per process (ptrace access; a process
    may let its fd directory be listed and refuse the links), so one link tells for all."""
    count = 0
    for pid in _pids(proc_root):
        try:
            with _opened_dir(proc_root / str(pid)) as pid_fd, _opened_dir("fd", dir_fd=pid_fd) as fd_dir:
                _read_one_link(fd_dir)
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited meanwhile
        except PermissionError:
            count += 1
    return count


def _read_one_link(fd_dir: int) -> None:
    # scandir reads the directory in batches: the first entry costs one batch, not every fd.
    with os.scandir(fd_dir) as entries:
        for entry in entries:
            try:
                os.readlink(entry.name, dir_fd=fd_dir)
            except FileNotFoundError:
                continue  # closed since the directory was read: try the next
            return


def _matching_fds(pid_fd: int, wanted: dict[str, int]) -> tuple[set[int], int]:
    """The wanted socket inodes among one process's fds, and the readlinks it took."""
    matched: set[int] = set()
    with _opened_dir("fd", dir_fd=pid_fd) as fd_dir:
        names = os.listdir(fd_dir)
        readlink = os.readlink
        for name in names:  # hot loop: one per fd on the host
            try:
                inode = wanted.get(readlink(name, dir_fd=fd_dir))
            except FileNotFoundError:
                continue  # closed between readdir and readlink
            if inode is not None:
                matched.add(inode)
    return matched, len(names)


class ProcessMap:
    """Socket inode → owning processes, cached between calls (see the module docstring)."""

    def __init__(self, proc_root: Path = Path("/proc")) -> None:
        self._root = proc_root
        self._procs: dict[int, _Process] = {}
        self._unowned: dict[int, int] = {}  # inode → call in which it was last asked about
        self._calls = 0
        self._unreadable = 0
        self.readlinks = 0
        """readlink() calls made since creation (the cost the cache saves)."""

    @property
    def unreadable(self) -> int:
        """Processes whose fds could not be read in the last call (EACCES when unprivileged)."""
        return self._unreadable

    def owners(self, inodes: Collection[int]) -> dict[int, list[ProcessRef]]:
        """Socket inode → the processes holding it, by pid; inodes nobody holds are absent.

        A socket shared by several processes (a pre-fork server's listener) lists each once.
        """
        self._calls += 1
        wanted = set(inodes)
        wanted.discard(0)  # TIME_WAIT, request and orphaned sockets have no inode
        if not wanted:
            return {}
        checked: dict[int, set[str]] = {}  # pid → fds readlinked during this call
        self._walk(wanted, checked, reread_all=False)
        found = self._collect(wanted)
        missing = {inode for inode in wanted - found.keys() if inode not in self._unowned}
        if missing:
            self._walk(wanted, checked, reread_all=True)
            found = self._collect(wanted)
        for inode in found:
            self._unowned.pop(inode, None)
        for inode in wanted - found.keys():
            self._unowned[inode] = self._calls
        self._prune_unowned()
        return {inode: [self._ref(pid) for pid in pids] for inode, pids in found.items()}

    def _ref(self, pid: int) -> ProcessRef:
        proc = self._procs[pid]
        if not proc.runtime_known:
            proc.runtime = detect_runtime(self._root / str(pid), proc.comm)
            proc.runtime_known = True
        return ProcessRef(pid, proc.comm, proc.runtime, proc.state in STOPPED_STATES)

    def _collect(self, wanted: set[int]) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {}
        for pid, proc in sorted(self._procs.items()):
            for inode in set(proc.sockets.values()) & wanted:
                found.setdefault(inode, []).append(pid)
        return found

    def _prune_unowned(self) -> None:
        # Bounded memory: sockets that closed are never asked about again and age out.
        if self._calls % UNOWNED_PRUNE_EVERY == 0:
            oldest = self._calls - UNOWNED_TTL_CALLS
            self._unowned = {inode: call for inode, call in self._unowned.items() if call > oldest}

    def _walk(self, wanted: set[int], checked: dict[int, set[str]], reread_all: bool) -> None:
        """One pass over /proc; the first pass also counts what could not be read."""
        pids = _pids(self._root)
        for gone in self._procs.keys() - set(pids):
            del self._procs[gone]
        if not reread_all:
            self._unreadable = 0
        for pid in pids:
            if not self._visit(pid, wanted, checked.setdefault(pid, set()), reread_all):
                self._procs.pop(pid, None)

    def _visit(self, pid: int, wanted: set[int], checked: set[str], reread_all: bool) -> bool:
        """Refresh one process; False when it is gone or unreadable (then it is dropped)."""
        try:
            with _opened_dir(self._root / str(pid)) as pid_fd:
                stat = _read_stat(pid_fd)
                if stat is None:
                    return False
                comm, start, state = stat
                proc, is_new = self._incarnation(pid, comm, start)
                proc.state = state
                if is_new:
                    checked.clear()  # what this call read under this pid belonged to another process
                with _opened_dir("fd", dir_fd=pid_fd) as fd_dir:
                    self._refresh_fds(proc, fd_dir, wanted, checked, reread_all)
            return True
        except (FileNotFoundError, ProcessLookupError):
            # The process exited (or its fd table went away) while being read: nothing to attribute.
            return False
        except PermissionError:
            # Another user's process when unprivileged (or one we may not ptrace): counted, skipped.
            if not reread_all:
                self._unreadable += 1
            return False

    def _incarnation(self, pid: int, comm: str, start: int) -> tuple[_Process, bool]:
        """The cached process, unless the pid now belongs to another process (new start time)."""
        proc = self._procs.get(pid)
        if proc is not None and proc.start == start:
            if proc.comm != comm:  # prctl(PR_SET_NAME), or an exec: look at the runtime again
                proc.comm, proc.runtime_known = comm, False
            return proc, False
        proc = self._procs[pid] = _Process(start, comm)
        return proc, True

    def _refresh_fds(
        self, proc: _Process, fd_dir: int, wanted: set[int], checked: set[str], reread_all: bool
    ) -> None:
        names = set(os.listdir(fd_dir))
        sockets, others = proc.sockets, proc.others
        for closed in sockets.keys() - names:
            del sockets[closed]
        others &= names
        if reread_all:
            todo = names - checked
        else:
            todo = names - sockets.keys() - others  # fds not seen before
            todo.update(name for name, inode in sockets.items() if inode in wanted)  # to be reported
            todo -= checked
        for name in todo:
            self._readlink(proc, fd_dir, name)
        checked |= todo

    def _readlink(self, proc: _Process, fd_dir: int, name: str) -> None:
        self.readlinks += 1
        proc.sockets.pop(name, None)
        proc.others.discard(name)
        try:
            target = os.readlink(name, dir_fd=fd_dir)
        except FileNotFoundError:
            # Closed between readdir and readlink: the fd no longer exists.
            return
        inode = socket_inode(target)
        if inode is None:
            proc.others.add(name)
        else:
            proc.sockets[name] = inode
